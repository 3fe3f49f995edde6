"""Write an evaluation's outputs: metrics.json for `dvc metrics`, curves CSVs for `dvc plots`,
figures, case grids and one self-contained report.html."""

from __future__ import annotations

import json
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
    "paired/ssim",
    "paired/psnr",
    "paired/l1",
    "paired/lpips",
    "unpaired/ssim",
    "unpaired/l1",
    "unpaired/fid",
    "unpaired/kid",
    "layout/miou",
    "warp/iou",
)
"""The report's order of metrics; registered ones missing here follow (per-class IoU has its own table)."""

PER_CLASS = ("layout/iou",)


@dataclass(frozen=True)
class ReportPaths:
    """The files `write_report` wrote."""

    metrics_json: Path  # flat {key: number}
    report_html: Path
    grids: tuple[Path, ...]  # grid_paired.png, grid_unpaired.png where the data allowed
    figures: tuple[Path, ...]  # by_difficulty.png, loss_curves.png (with training statistics)
    curves_csv: tuple[Path, ...]  # curves/{stage}.csv, one per training stage


def _write_text(path: Path, text: str) -> None:
    # Atomic, so that `dvc metrics` or a browser never reads half a file.
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _headline() -> tuple[str, ...]:
    names = [spec.name for spec in registered_metrics()]
    return (*HEADLINE, *(name for name in names if name not in HEADLINE and name not in PER_CLASS))


def write_report(
    result: EvalResult,
    *,
    out_dir: Path,
    training_stats: Sequence[Path] = (),
    details: Mapping[str, str] | None = None,
) -> ReportPaths:
    """Write every output of an evaluation into `out_dir` and return their paths.

    `training_stats` are the trainer's JSON-lines statistics files, one per stage run (see
    tryon.eval.curves); without them there are no curves. `details` are labelled lines for the top of report.html, e.g.
    {"checkpoint": "models/fusion/last.pt", "data": "data (test split)"}.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    headline = _headline()

    metrics_json = out_dir / "metrics.json"
    _write_text(metrics_json, json.dumps(result.metrics, indent=2, sort_keys=True) + "\n")

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
        figures=figures,
        grids=grids,
        details=dict(details or {}),
    )
    _write_text(report_html, page)
    return ReportPaths(
        metrics_json=metrics_json,
        report_html=report_html,
        grids=tuple(path for path, _ in grids),
        figures=tuple(path for path, _ in figures),
        curves_csv=curves_csv,
    )
