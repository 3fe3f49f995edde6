"""A few plain lines comparing the model with the naive baseline, for the demo and the CLI."""

from __future__ import annotations

import math
from collections.abc import Mapping

from tryon.eval.evaluator import BASELINE
from tryon.eval.metrics import metric_direction

HEADLINE = (
    ("unpaired/l1/changed", "unpaired L1 (changed region)"),
    ("unpaired/ssim/changed", "unpaired SSIM (changed region)"),
    ("paired/ssim/changed", "paired SSIM (changed region)"),
    ("warp/iou", "warp IoU"),
    ("layout/iou/arms", "layout IoU (arms)"),
)
"""(key, label) of the metrics the summary compares, the ones a try-on stands or falls by."""


def _value(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.3f}" if math.isfinite(value) else "not finite"


def headline(metrics: Mapping[str, float]) -> list[str]:
    """Lines with the model's and the naive baseline's value side by side for each HEADLINE metric,
    and a last line saying plainly where the model is BEHIND the baseline (or that it is not).

    A metric the model lacks or has not finite counts as behind: the run cannot show it is not.
    """
    width = max(len(label) for _, label in HEADLINE) + 2
    lines = [f"{'':{width}}{'model':>10}{'baseline':>10}"]
    behind, compared = [], 0
    for key, label in HEADLINE:
        model, baseline = metrics.get(key), metrics.get(BASELINE + key)
        arrow = "↑" if metric_direction(key) else "↓"
        verdict = ""
        if baseline is not None and math.isfinite(baseline):
            compared += 1
            if model is None or not math.isfinite(model):
                verdict = "BEHIND (no model value)"
            elif model != baseline and (model > baseline) != metric_direction(key):
                verdict = "BEHIND"
            else:
                verdict = "ahead" if model != baseline else "level"
            if verdict.startswith("BEHIND"):
                behind.append(label)
        elif model is not None:
            verdict = "(no baseline value)"
        lines.append(
            f"{label + ' ' + arrow:{width}}{_value(model):>10}{_value(baseline):>10}  {verdict}".rstrip()
        )
    if behind:
        lines.append(f"the model is BEHIND the naive baseline on {', '.join(behind)}")
    elif compared:
        lines.append(
            f"the model is ahead of or level with the naive baseline on all {compared} compared metrics"
        )
    return lines
