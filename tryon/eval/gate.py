"""The quality gate: does a new evaluation fall behind a reference one (e.g. the last release)?"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from tryon.eval.metrics import metric_direction
from tryon.eval.metrics.registry import SYSTEM_PREFIXES


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
    compared: tuple[str, ...]
    missing: tuple[str, ...]  # metric keys on one side only: not compared
    ignored: tuple[str, ...]  # keys that are not model metrics (counts, baseline/...): not compared

    @property
    def passed(self) -> bool:
        return not self.regressions

    def summary(self) -> str:
        """A few lines for the CLI: verdict, each regression, and what was skipped."""
        verdict = "passed" if self.passed else f"FAILED: {len(self.regressions)} metric(s) regressed"
        lines = [f"quality gate {verdict} ({len(self.compared)} metrics compared)"]
        lines += [f"  regressed {regression}" for regression in self.regressions]
        if self.missing:
            lines.append(f"  not compared, present on one side only: {', '.join(self.missing)}")
        return "\n".join(lines)


def compare_to_baseline(
    current: Mapping[str, float], baseline: Mapping[str, float], *, max_regression: float
) -> GateResult:
    """Compare flat metrics dicts (metrics.json) and report every model metric that regressed.

    `max_regression` is relative: with 0.02 a higher-is-better metric fails below 98% of its
    reference value and a lower-is-better one above 102% of it (a reference of 0 then allows no
    worsening at all). A NaN current value counts as a regression. Keys the metric registry
    gives no direction (sample counts) and the naive baseline's keys (`baseline/...`, which do not
    measure the model) are ignored; metric keys present on one side only are listed as missing.
    """
    if max_regression < 0:
        raise ValueError(f"max_regression={max_regression} must be >= 0 (a share, e.g. 0.02 for 2%)")
    regressions, compared, missing, ignored = [], [], [], []
    for key in sorted(set(current) | set(baseline)):
        higher_is_better = metric_direction(key)
        if higher_is_better is None or key.startswith(SYSTEM_PREFIXES):
            ignored.append(key)
            continue
        if key not in current or key not in baseline:
            missing.append(key)
            continue
        compared.append(key)
        old, new = float(baseline[key]), float(current[key])
        allowed = max_regression * abs(old)
        worse = new < old - allowed if higher_is_better else new > old + allowed
        if worse or math.isnan(new):
            regressions.append(Regression(key, old, new, higher_is_better))
    return GateResult(tuple(regressions), tuple(compared), tuple(missing), tuple(ignored))
