"""Figures of the original ACGPN code that no script in bench/ produces, each with where and how it
was measured. They are quoted, never measured here: a speed-up against one compares a run on this
machine with a run on another machine of the same kind, and is printed as such.
"""

from __future__ import annotations

from dataclasses import dataclass

ISSUE_13 = (
    "issue 13: the original code and this one run side by side on a 2-core AVX2 CPU without native bf16, "
    "fp32, 256x192, batch 1"
)
DESIGN = "DESIGN.md ('Speed and memory are features'): a 2-core AVX-512 machine, no run record"


@dataclass(frozen=True)
class Quote:
    """One quoted measurement of the original code."""

    figures: str  # what was measured, as reported
    seconds: float  # the time to compare with
    source: str  # where the figure comes from and how it was measured

    def __str__(self) -> str:
        return f"{self.figures} (quoted, not measured here: {self.source})"

    def speedup(self, seconds: float) -> str:
        """`seconds` measured here against the quoted time, saying that two machines are compared."""
        return (
            f"{self.seconds / seconds:.1f}x the original code's speed (its quoted {self.seconds:g} s on "
            f"another machine against {seconds:.2f} s here)"
        )


TRAINING_STEP = {
    "AVX2": Quote("21.5 s, 1.89 TFLOP, 5.1 GB per training step", 21.5, f"{ISSUE_13}; DESIGN.md says 27 s"),
    "AVX512": Quote("12 s, 1.9 TFLOP per training step", 12.0, DESIGN),
}
"""The original code's 256x192 batch-1 training step, by the CPU capability it ran at."""

TRYON = {
    "AVX2": Quote("4.6 s, 398 GFLOP per try-on", 4.6, ISSUE_13),
    "AVX512": Quote("2.3 s, 400 GFLOP per try-on", 2.3, DESIGN),
}
"""The original code's 256x192 try-on, by the CPU capability it ran at."""


def for_capability(quotes: dict[str, Quote], capability: str) -> Quote:
    """The quote from the machine nearest to one at `capability` (AVX-512 or not)."""
    return quotes["AVX512" if capability.upper().startswith("AVX512") else "AVX2"]


@dataclass(frozen=True)
class UnitQuote:
    """The original code's cost in yardstick units, as a range over the CPUs it was measured on."""

    low: float
    high: float
    source: str

    def __str__(self) -> str:
        return f"{self.low:g}-{self.high:g} units (quoted, not measured here: {self.source})"

    def speedup(self, units: float) -> str:
        """`units` measured here against the quoted range: a speed-up range computed from units."""
        return (
            f"{self.low / units:.1f}-{self.high / units:.1f}x the original code "
            f"({units:.2f} units here against its quoted {self.low:g}-{self.high:g})"
        )


UNITS_SOURCE = "issue 13: the original ACGPN code timed beside the yardstick on two CPUs, fp32, 256x192"
TRAINING_STEP_UNITS = UnitQuote(41.0, 47.0, UNITS_SOURCE)
"""The original code's 256x192 batch-1 training step in units."""
TRYON_UNITS = UnitQuote(8.6, 10.0, UNITS_SOURCE)
"""The original code's 256x192 try-on in units."""
