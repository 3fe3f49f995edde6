"""Write an evaluation's outputs: metrics.json for `dvc metrics`, samples.csv (the per-sample table),
curves CSVs for `dvc plots`, figures, case grids and one self-contained report.html."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tryon.atomic import atomic_path
from tryon.eval.curves import read_training_stats, write_curves_csv
from tryon.eval.evaluator import EvalResult
from tryon.eval.figures import plot_by_difficulty, plot_case_grid, plot_loss_curves
from tryon.eval.metrics import registered_metrics
from tryon.eval.page import render_html

HEADLINE = (
    "unpaired/l1/changed",
    "unpaired/ssim/changed",
    "unpaired/psnr/changed",
    "paired/ssim/changed",
    "paired/psnr/changed",
    "paired/l1/changed",
    "paired/lpips",
    "warp/iou",
    "layout/miou",
    "layout/iou/arms",
    "layout/iou/upper_clothes",
    "unpaired/fid",
    "unpaired/kid",
)
"""The report's first table, in this order: the changed region, the warp, the layout and the set
metrics; registered metrics missing here and from FULL_FRAME follow."""

FULL_FRAME = (
    "unpaired/l1/full",
    "unpaired/ssim/full",
    "unpaired/psnr/full",
    "paired/ssim/full",
    "paired/psnr/full",
    "paired/l1/full",
)
"""The whole-frame table: with `model.keep_photo` most of these pixels are copies of the photo."""

PER_CLASS = "layout/iou"
"""Reported per class in a table of its own, besides the classes HEADLINE names."""


@dataclass(frozen=True)
class ReportPaths:
    """The files `write_report` wrote."""

    metrics_json: Path  # flat {key: number}, finite values only
    samples_csv: Path  # one row per sample: name, difficulty, per-sample metrics of model and baseline
    report_html: Path
    grids: tuple[Path, ...]  # grid_paired.png, grid_unpaired.png where the data allowed
    figures: tuple[Path, ...]  # by_difficulty.png, loss_curves.png (with training statistics)
    curves_csv: tuple[Path, ...]  # curves/{stage}.csv, one per training stage


def _write_text(path: Path, text: str) -> None:
    # Atomic, so that `dvc metrics` or a browser never reads half a file.
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _headline() -> tuple[str, ...]:
    keys = [
        key
        for spec in registered_metrics()
        if spec.name != PER_CLASS
        for key in (spec.keys if spec.per_sample else (spec.name,))
    ]
    return (*HEADLINE, *(key for key in keys if key not in HEADLINE and key not in FULL_FRAME))


def write_report(
    result: EvalResult,
    *,
    out_dir: Path,
    training_stats: Sequence[Path] = (),
    details: Mapping[str, str] | None = None,
    keep_photo: bool = True,
) -> ReportPaths:
    """Write every output of an evaluation into `out_dir` and return their paths.

    `training_stats` are the trainer's JSON-lines statistics files, one per stage run (see
    tryon.eval.curves); without them there are no curves. `details` are labelled lines for the top
    of report.html, e.g. {"checkpoint": "models/fusion/last.pt", "data": "data (test split)"}.
    `keep_photo` is the model's `model.keep_photo`, which decides what whole-frame scores mean.
    metrics.json holds the finite values only (JSON has no NaN); the notes say what was left out.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    headline = _headline()

    metrics_json = out_dir / "metrics.json"
    finite = {key: value for key, value in result.metrics.items() if math.isfinite(value)}
    _write_text(metrics_json, json.dumps(finite, indent=2, sort_keys=True) + "\n")
    samples_csv = out_dir / "samples.csv"
    _write_text(samples_csv, result.samples.to_csv(index=False, float_format="%.6g"))

    figures = [
        (
            plot_by_difficulty(result.metrics, headline, out_dir / "by_difficulty.png"),
            "Metrics by pose difficulty: model and naive baseline",
        )
    ]
    curves_csv: tuple[Path, ...] = ()
    if training_stats:
        curves = tuple(curve for path in training_stats for curve in read_training_stats(path))
        curves_csv = write_curves_csv(curves, out_dir / "curves")
        if curves:
            figures.append(
                (plot_loss_curves(curves, out_dir / "loss_curves.png"), "Training losses per stage")
            )

    grids = []
    for grid in result.grids:
        mode = grid.metric.split("/")[0]
        grids.append(
            (plot_case_grid(grid, out_dir / f"grid_{mode}.png"), f"{grid.title}, ranked by {grid.metric}")
        )

    report_html = out_dir / "report.html"
    page = render_html(
        metrics=result.metrics,
        notes=result.notes,
        headline=headline,
        full_frame=FULL_FRAME,
        figures=figures,
        grids=grids,
        details=dict(details or {}),
        keep_photo=keep_photo,
    )
    _write_text(report_html, page)
    return ReportPaths(
        metrics_json=metrics_json,
        samples_csv=samples_csv,
        report_html=report_html,
        grids=tuple(path for path, _ in grids),
        figures=tuple(path for path, _ in figures),
        curves_csv=curves_csv,
    )
