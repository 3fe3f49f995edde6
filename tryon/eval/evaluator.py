"""The Evaluator: scores batches of model outputs and the naive baseline with every registered metric.

Per-sample metrics go into a table, one row per sample (name, difficulty, and every per-sample
metric of the model and of the naive baseline); each metric's value over the split and over each
difficulty level is the mean of its column over those rows. Set metrics (FID, KID, pooled layout
IoU) are reduced from their per-sample statistics over the same subsets.

Nothing that is not finite is dropped silently: a metric over samples whose outputs hold NaN or
infinity is NaN (the quality gate fails on it), and only samples where a metric is undefined (an
empty region) are left out of its mean.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import pandas as pd
import torch
from torch import Tensor

from tryon.eval.baseline import baseline_batch
from tryon.eval.cases import CaseGrid, CaseSelector
from tryon.eval.context import MetricContext
from tryon.eval.difficulty import LEVELS, difficulty_levels
from tryon.eval.metrics import MetricSpec, registered_metrics
from tryon.eval.records import EvalBatch
from tryon.eval.weights import EvalWeights, MetricUnavailable
from tryon.visual import colorize_layout

BASELINE = "baseline/"
"""Key prefix of the naive baseline's metrics; the model's keys have none."""

SYSTEMS = (("model", ""), ("naive baseline", BASELINE))

FINITE = "finite_outputs"
"""Samples-table column (prefixed like the metrics) saying whether a sample's outputs are all finite."""

KEY_COLUMNS = ("name", "garment", "difficulty", "paired", "unpaired")
"""The samples table's first columns: person, garment (together unique per pair), pose difficulty, and whether the sample has a paired
try-on (its own garment, judged against the photo) and one of another garment."""

THUMBNAIL_HEIGHT = 256  # grid panels are kept at most this tall, so the kept rows stay small


@dataclass(frozen=True)
class _GridSpec:
    title: str
    metric: str
    columns: tuple[str, ...]
    panels: Callable[[EvalBatch, int], tuple[Tensor | None, ...]]


_GRIDS = (
    _GridSpec(
        "Paired try-on (the person's own garment)",
        "paired/ssim/changed",
        ("person", "garment", "layout", "warped garment", "try-on", "ground truth"),
        lambda b, i: (
            b.person[i],
            b.garment[i],
            None if b.layout is None else b.layout_ids[i],
            b.warped_garment[i],
            b.tryon[i],
            b.target[i],
        ),
    ),
    _GridSpec(
        "Unpaired try-on (another garment)",
        "unpaired/ssim/changed",
        ("person", "garment", "try-on", "ground truth"),
        lambda b, i: (
            b.person[i],
            None if b.unpaired_garment is None else b.unpaired_garment[i],
            None if b.unpaired_tryon is None else b.unpaired_tryon[i],
            None if b.unpaired_target is None else b.unpaired_target[i],
        ),
    ),
)


@dataclass(frozen=True)
class EvalResult:
    """What an evaluation found.

    `metrics` is flat, key -> number: `paired/ssim/changed`, its levels `paired/ssim/changed/hard`,
    the baseline's `baseline/paired/ssim/changed`, per-class `layout/iou/hair`, and sample counts
    `count/all`, `count/easy`, ..., `count/paired` and `count/unpaired` (samples with a try-on of
    their own garment, and of another one); a value is NaN where outputs were not finite (metrics.json
    leaves it out, the gate fails on it). `notes` says, per metric name (or per system for
    non-finite outputs), why a value is missing. `samples` is the per-sample table the per-sample
    metrics were aggregated from: columns `name`, `difficulty`, `paired`, `unpaired`, `finite_outputs`, every
    per-sample metric key, and the same with the `baseline/` prefix.
    """

    metrics: dict[str, float]
    notes: dict[str, str]
    grids: tuple[CaseGrid, ...]
    samples: pd.DataFrame


def _thumbnail(image: Tensor | None, height: int, width: int) -> np.ndarray:
    """(3, H, W) [-1, 1] image, or an (H, W) layout, as a uint8 RGB thumbnail; grey where missing."""
    if image is None:
        picture = np.full((height, width, 3), 200, dtype=np.uint8)
    elif image.dim() == 2:
        picture = colorize_layout(image.cpu().numpy())
    else:
        pixels = (image.detach().float().cpu().numpy().transpose(1, 2, 0) + 1) * 127.5
        picture = np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
    if picture.shape[0] > THUMBNAIL_HEIGHT:
        size = (round(picture.shape[1] * THUMBNAIL_HEIGHT / picture.shape[0]), THUMBNAIL_HEIGHT)
        picture = cv2.resize(picture, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(picture)


class Evaluator:
    """Accumulates per-sample metrics and statistics over a test split and reduces them at the end.

    Every registered metric is computed for the model and for the naive baseline (`baseline/`
    keys), over the whole split and per difficulty level. Kept in memory: one table row per sample,
    each set metric's per-sample statistics (a few numbers; FID/KID keep 3 x 2048 features per
    sample and system) and a bounded set of grid thumbnails.
    """

    def __init__(
        self,
        *,
        weights: EvalWeights,
        device: torch.device | str = "cpu",
        cases_per_group: int = 3,  # rows per best/median/worst group in each image grid
    ) -> None:
        self.context = MetricContext(weights, device)
        self._notes: dict[str, str] = {}
        self._specs: list[MetricSpec] = []
        for spec in registered_metrics():
            if spec.unavailable is not None:
                self._notes[spec.name] = spec.unavailable
                continue
            try:
                if spec.prepare is not None:
                    spec.prepare(self.context)
            except MetricUnavailable as error:
                self._notes[spec.name] = str(error)
                continue
            self._specs.append(spec)
        self._rows: list[pd.DataFrame] = []  # one chunk of the samples table per batch
        self._count = 0
        self._stats: dict[str, list[tuple[Tensor, Tensor]]] = defaultdict(list)  # key -> [(indices, stats)]
        self._selectors = [CaseSelector(per_group=cases_per_group) for _ in _GRIDS]

    @torch.inference_mode()
    def add(self, batch: EvalBatch) -> None:
        """Score one batch."""
        batch = batch.to(self.context.device)
        levels = difficulty_levels(batch.keypoints, batch.person.shape[-2])
        columns: dict[str, Tensor] = {}
        stats: dict[str, Tensor] = {}
        try:
            for _, prefix in SYSTEMS:
                system = batch if not prefix else baseline_batch(batch)
                columns[prefix + FINITE] = system.finite_outputs()
                for spec in self._specs:
                    computed = spec.compute(system, self.context)
                    if computed is None:
                        continue
                    if not spec.per_sample:
                        stats[prefix + spec.name] = computed.detach().cpu()
                    elif isinstance(computed, dict):
                        columns.update(
                            {
                                prefix + key: computed[part]
                                for key, part in zip(spec.keys, spec.parts, strict=True)
                            }
                        )
                    else:
                        columns[prefix + spec.name] = computed
        finally:
            self.context.next_batch()
        # Stored only once the whole batch is scored, so a failing batch leaves no partial samples.
        rows = {
            "name": list(batch.names),
            "garment": list(batch.garment_names) or [""] * len(batch),
            "difficulty": levels,
            "paired": [batch.paired] * len(batch),
            "unpaired": [batch.unpaired] * len(batch),
        }
        rows.update({key: values.detach().cpu().numpy() for key, values in columns.items()})
        self._rows.append(pd.DataFrame(rows))
        indices = torch.arange(self._count, self._count + len(batch))
        self._count += len(batch)
        for key, values in stats.items():
            self._stats[key].append((indices, values))
        self._offer_cases(batch, levels, columns)

    def _offer_cases(self, batch: EvalBatch, levels: list[str], columns: dict[str, Tensor]) -> None:
        height, width = batch.person.shape[-2:]
        for grid, selector in zip(_GRIDS, self._selectors, strict=True):
            scores = columns.get(grid.metric)  # the model's: baseline keys carry a prefix
            if scores is None:
                continue
            for index, name in enumerate(batch.names):

                def render(index: int = index, grid: _GridSpec = grid) -> list[np.ndarray]:
                    return [_thumbnail(panel, height, width) for panel in grid.panels(batch, index)]

                selector.offer(float(scores[index]), name, levels[index], render)

    def _table(self) -> pd.DataFrame:
        """The samples table, columns in a fixed order: `KEY_COLUMNS`, then per system its finite
        flag and its metrics in registration order (empty where a sample has no such try-on)."""
        if not self._rows:
            return pd.DataFrame(columns=list(KEY_COLUMNS))
        table = pd.concat(self._rows, ignore_index=True)
        order = list(KEY_COLUMNS)
        for _, prefix in SYSTEMS:
            order.append(prefix + FINITE)
            order += [prefix + key for spec in self._specs if spec.per_sample for key in spec.keys]
        return table[[column for column in order if column in table.columns]]

    def _samples_with(self, spec: MetricSpec) -> int:
        """How many samples carried the model's statistics of a set metric (0 for per-sample ones)."""
        return sum(len(indices) for indices, _ in self._stats.get(spec.name, ()))

    def result(self) -> EvalResult:
        """Reduce everything added so far."""
        table = self._table()
        levels = table["difficulty"].to_numpy()
        subsets = [("", np.ones(len(table), dtype=bool))]
        subsets += [(f"/{level}", levels == level) for level in LEVELS]
        metrics: dict[str, float] = {}
        notes = dict(self._notes)
        for spec in self._specs:
            for _, prefix in SYSTEMS:
                if spec.per_sample:
                    for key in spec.keys:
                        if prefix + key in table.columns:
                            metrics.update(_column_means(table, prefix + key, prefix, subsets))
                elif chunks := self._stats.get(prefix + spec.name):
                    finite = table[prefix + FINITE].to_numpy()
                    metrics.update(_reduce(prefix + spec.name, spec, chunks, subsets, finite))
            computed = set(spec.keys) & set(table.columns) if spec.per_sample else spec.name in self._stats
            if not computed:
                notes[spec.name] = f"not computed: no batch carried {spec.requires or 'its inputs'}"
            elif (count := self._samples_with(spec)) < spec.min_samples:
                notes[spec.name] = (
                    f"too few images ({count} < {spec.min_samples}): on fewer the value depends more on "
                    "the set size than on the images, so none is reported"
                )
        for system, prefix in SYSTEMS:
            if prefix + FINITE in table.columns and not (finite := table[prefix + FINITE]).all():
                notes[f"{system} outputs"] = (
                    f"not finite (NaN or infinity) in {int((~finite).sum())} of {len(table)} samples: every "
                    "metric over them is NaN, left out of metrics.json, and the quality gate fails on it"
                )
        metrics["count/all"] = float(len(table))
        for kind in ("paired", "unpaired"):
            metrics[f"count/{kind}"] = float(table[kind].astype(bool).sum())
        for level in LEVELS:
            metrics[f"count/{level}"] = float((levels == level).sum())
        grids = tuple(
            CaseGrid(grid.title, grid.metric, grid.columns, cases)
            for grid, selector in zip(_GRIDS, self._selectors, strict=True)
            if (cases := selector.select())
        )
        return EvalResult(metrics=metrics, notes=notes, grids=grids, samples=table)


Subsets = list[tuple[str, np.ndarray]]  # (key suffix, bool row selection): the split, then each level


def _column_means(table: pd.DataFrame, key: str, prefix: str, subsets: Subsets) -> dict[str, float]:
    """A per-sample metric over each subset: the mean of its column, leaving out samples where it is
    undefined (NaN with finite outputs); NaN when a selected sample's outputs are not finite."""
    values = table[key].to_numpy(dtype=np.float64)
    finite = table[prefix + FINITE].to_numpy(dtype=bool)
    means: dict[str, float] = {}
    for suffix, selected in subsets:
        if not finite[selected].all():
            means[key + suffix] = float("nan")
        elif not np.isnan(values[selected]).all():  # else undefined on every selected sample, or none
            means[key + suffix] = float(np.nanmean(values[selected]))
    return means


def _reduce(
    key: str, spec: MetricSpec, chunks: list[tuple[Tensor, Tensor]], subsets: Subsets, finite: np.ndarray
) -> dict[str, float]:
    """A set metric over each subset of at least `spec.min_samples` samples that carried its
    statistics; NaN when a selected sample's outputs are not finite."""
    indices = torch.cat([chunk[0] for chunk in chunks]).numpy()
    stats = torch.cat([chunk[1] for chunk in chunks])
    values: dict[str, float] = {}
    for suffix, rows in subsets:
        selected = rows[indices]
        if selected.sum() < max(1, spec.min_samples):
            continue
        reduced = spec.reduce(stats[torch.from_numpy(selected)])
        named = reduced.items() if isinstance(reduced, dict) else [("", reduced)]
        all_finite = bool(finite[indices[selected]].all())
        for part, value in named:
            if value is not None:
                values[f"{key}{'/' + part if part else ''}{suffix}"] = (
                    float(value) if all_finite else float("nan")
                )
    return values
