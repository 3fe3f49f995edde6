"""The quality gate: does a new evaluation fall behind a reference one (e.g. the last release)?"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from tryon.eval.metrics import metric_direction, registered_metrics
from tryon.eval.metrics.registry import SYSTEM_PREFIXES


class OutdatedReference(ValueError):
    """The reference metrics were written before the image metrics named their region."""


@dataclass(frozen=True)
class Regression:
    """One metric that got worse by more than the allowed share."""

    key: str
    old: float
    new: float
    higher_is_better: bool

    @property
    def relative_change(self) -> float:
        """Signed change relative to |old|, positive when the metric got worse."""
        worse = self.old - self.new if self.higher_is_better else self.new - self.old
        return worse / abs(self.old) if self.old else math.inf

    def __str__(self) -> str:
        better = "higher" if self.higher_is_better else "lower"
        change = f"{self.relative_change:+.1%} worse"
        return f"{self.key}: {self.old:.4g} -> {self.new:.4g} ({better} is better; {change})"


@dataclass(frozen=True)
class GateResult:
    """The gate's verdict and what it did and did not compare."""

    regressions: tuple[Regression, ...]
    missing: tuple[str, ...]  # in the reference, absent from the new run: fails
    not_finite: tuple[str, ...]  # in the reference, NaN or infinite in the new run: fails
    compared: tuple[str, ...]
    unreferenced: tuple[str, ...]  # metric keys of the new run only: nothing to compare with
    ignored: tuple[str, ...]  # keys that are not model metrics (counts, baseline/...): not compared

    @property
    def passed(self) -> bool:
        return not (self.regressions or self.missing or self.not_finite)

    def summary(self) -> str:
        """A few lines for the CLI: verdict, each failure by metric, and what was not compared."""
        failures = len(self.regressions) + len(self.missing) + len(self.not_finite)
        verdict = "passed" if self.passed else f"FAILED: {failures} metric(s)"
        lines = [f"quality gate {verdict} ({len(self.compared)} metrics compared)"]
        lines += [f"  regressed {regression}" for regression in self.regressions]
        lines += [f"  missing from the new run: {key}" for key in self.missing]
        lines += [f"  not finite in the new run: {key}" for key in self.not_finite]
        if self.unreferenced:
            lines.append(f"  not compared, absent from the reference: {', '.join(self.unreferenced)}")
        return "\n".join(lines)


def predates_regions(key: str) -> bool:
    """Whether a metrics key is an image metric without its region (`paired/ssim`,
    `paired/ssim/hard`): the form written before every image metric named its region."""
    parts = key.split("/")
    for spec in registered_metrics():
        name = spec.name.split("/")
        if spec.parts and parts[: len(name)] == name:
            return len(parts) == len(name) or parts[len(name)] not in spec.parts
    return False


def compare_to_baseline(
    current: Mapping[str, float], baseline: Mapping[str, float], *, max_regression: float
) -> GateResult:
    """Compare flat metrics dicts (metrics.json) and report every model metric that fails.

    Every model metric of the reference (`baseline` here: the run compared against) is compared:
    it fails when it got worse by more than `max_regression`, relative (with 0.02 a
    higher-is-better metric fails below 98% of its reference value and a lower-is-better one above
    102% of it; a reference of 0 then allows no worsening at all), when the new run lacks it, or
    when its new value is NaN or infinite. Keys the metric registry gives no direction (sample
    counts) and the naive baseline's keys (`baseline/...`, which do not measure the model) are
    ignored. A reference written before the image metrics named their region is refused
    (OutdatedReference): half of it could not be compared.
    """
    if max_regression < 0:
        raise ValueError(f"max_regression={max_regression} must be >= 0 (a share, e.g. 0.02 for 2%)")
    outdated = sorted(
        key for key in baseline if not key.startswith(SYSTEM_PREFIXES) and predates_regions(key)
    )
    if outdated:
        raise OutdatedReference(
            f"the reference metrics predate region keys ({', '.join(outdated[:3])}"
            f"{', ...' if len(outdated) > 3 else ''}): image metrics now end in /full or /changed (e.g. "
            "paired/ssim/changed); regenerate the reference with `tryon evaluate` on its checkpoint"
        )
    regressions, missing, not_finite, compared, unreferenced, ignored = [], [], [], [], [], []
    for key in sorted(set(current) | set(baseline)):
        higher_is_better = metric_direction(key)
        if higher_is_better is None or key.startswith(SYSTEM_PREFIXES):
            ignored.append(key)
        elif key not in baseline:
            unreferenced.append(key)
        elif key not in current:
            missing.append(key)
        elif not math.isfinite(new := float(current[key])):
            not_finite.append(key)
        else:
            compared.append(key)
            old = float(baseline[key])
            allowed = max_regression * abs(old)
            if new < old - allowed if higher_is_better else new > old + allowed:
                regressions.append(Regression(key, old, new, higher_is_better))
    return GateResult(
        tuple(regressions),
        tuple(missing),
        tuple(not_finite),
        tuple(compared),
        tuple(unreferenced),
        tuple(ignored),
    )
