"""The report's figures: loss curves per stage, metrics by difficulty, and case grids.

Figures are drawn with matplotlib's object API on the Agg canvas (no pyplot state, no display)
and saved without the PNG `Software` tag, so the same inputs give the same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from tryon.eval.cases import CaseGrid
from tryon.eval.curves import StageCurves
from tryon.eval.difficulty import LEVELS
from tryon.eval.evaluator import BASELINE
from tryon.eval.metrics import metric_direction

DPI = 100
MODEL_COLOR, BASELINE_COLOR = "#1f77b4", "#bbbbbb"


def _save(figure: Figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI, metadata={"Software": None})
    return path


def plot_loss_curves(curves: Sequence[StageCurves], path: Path) -> Path:
    """One panel per training stage with its loss fields against the step (log scale when all positive)."""
    columns = min(2, len(curves))
    rows = math.ceil(len(curves) / columns)
    figure = Figure(figsize=(6.5 * columns, 3.8 * rows), layout="constrained")
    for index, stage in enumerate(curves):
        axes = figure.add_subplot(rows, columns, index + 1)
        positive = True
        for field in stage.loss_fields:
            points = [(row["step"], row[field]) for row in stage.rows if field in row]
            if points:
                steps, values = zip(*points, strict=True)
                axes.plot(steps, values, label=field, linewidth=1.2)
                positive = positive and min(values) > 0
        if positive and axes.lines:
            axes.set_yscale("log")
        axes.set_title(f"stage {stage.stage}")
        axes.set_xlabel("step")
        axes.set_ylabel("loss")
        axes.grid(alpha=0.3)
        if axes.lines:
            axes.legend(fontsize="small")
    return _save(figure, path)


def plot_by_difficulty(metrics: Mapping[str, float], names: Sequence[str], path: Path) -> Path:
    """Grouped bars, one panel per metric in `names` that has values: model and naive baseline per
    difficulty level and overall."""
    names = [name for name in names if name in metrics]
    groups = [*LEVELS, "all"]
    columns = min(3, max(1, len(names)))
    rows = max(1, math.ceil(len(names) / columns))
    figure = Figure(figsize=(4.2 * columns, 3.2 * rows), layout="constrained")
    positions = np.arange(len(groups))
    width = 0.38
    for index, name in enumerate(names):
        axes = figure.add_subplot(rows, columns, index + 1)
        series = []
        for system, prefix, color in (
            ("model", "", MODEL_COLOR),
            ("naive baseline", BASELINE, BASELINE_COLOR),
        ):
            values = [
                metrics.get(f"{prefix}{name}{'' if group == 'all' else '/' + group}") for group in groups
            ]
            if any(value is not None for value in values):
                series.append((system, color, [np.nan if value is None else value for value in values]))
        for offset, (system, color, heights) in enumerate(series):
            shift = (offset - (len(series) - 1) / 2) * width  # centred whether one system has values or two
            bars = axes.bar(positions + shift, heights, width, label=system, color=color)
            axes.bar_label(bars, fmt="%.3g", fontsize="x-small", padding=1)
        better = "higher" if metric_direction(name) else "lower"
        axes.set_title(f"{name} ({better} is better)", fontsize="medium")
        axes.set_xticks(positions, groups)
        axes.margins(y=0.15)
        axes.grid(axis="y", alpha=0.3)
    if names:
        # One legend for all panels, above them, so that it never hides a bar.
        handles = {
            label: handle
            for axes in figure.axes
            for handle, label in zip(*axes.get_legend_handles_labels(), strict=True)
        }
        figure.legend(handles.values(), handles.keys(), loc="outside upper center", ncols=len(handles))
    else:
        figure.text(0.5, 0.5, "no metric values", ha="center", va="center")
    return _save(figure, path)


def plot_case_grid(grid: CaseGrid, path: Path) -> Path:
    """The grid's rows (best, median, worst) with column titles and a label per row."""
    height, width = grid.cases[0].panels[0].shape[:2]
    panel_width = max(1.6, width / DPI)
    panel_height = panel_width * height / width
    columns = len(grid.columns)
    figure = Figure(
        figsize=(panel_width * columns + 1.6, panel_height * len(grid.cases) + 0.8), layout="constrained"
    )
    figure.suptitle(f"{grid.title}: best, median and worst by {grid.metric}")
    axes_grid = figure.subplots(len(grid.cases), columns, squeeze=False)
    for row, (case, axes_row) in enumerate(zip(grid.cases, axes_grid, strict=True)):
        for column, (panel, axes) in enumerate(zip(case.panels, axes_row, strict=True)):
            axes.imshow(panel, interpolation="nearest" if width < 128 else "antialiased")
            axes.set_xticks([])
            axes.set_yticks([])
            if row == 0:
                axes.set_title(grid.columns[column], fontsize="medium")
        axes_row[0].set_ylabel(
            f"{case.group}\n{case.name}\n{grid.metric.split('/', 1)[-1]} {case.score:.3f}\n{case.level}",
            fontsize="small",
            rotation=0,
            ha="right",
            va="center",
        )
    return _save(figure, path)
