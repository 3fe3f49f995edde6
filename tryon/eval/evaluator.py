"""The Evaluator: scores batches of model outputs and the naive baseline with every registered metric."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
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
        "paired/ssim",
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
        "unpaired/ssim",
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

    `metrics` is flat, key -> finite number: `paired/ssim`, its levels `paired/ssim/hard`, the
    baseline's `baseline/paired/ssim`, per-class `layout/iou/hair`, and sample counts `count/all`,
    `count/easy`, ... `notes` says, per metric name, why a metric has no value.
    """

    metrics: dict[str, float]
    notes: dict[str, str]
    grids: tuple[CaseGrid, ...]


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
    """Accumulates per-sample metric statistics over a test split and reduces them at the end.

    Every registered metric is computed for the model and for the naive baseline (`baseline/`
    keys), over the whole split and per difficulty level. Kept in memory: each metric's per-sample
    statistics (a few numbers; FID/KID keep 2 x 2048 features per sample and system) and a bounded
    set of grid thumbnails.
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
        self._levels: list[str] = []
        self._stats: dict[str, list[tuple[Tensor, Tensor]]] = defaultdict(list)  # key -> [(indices, stats)]
        self._selectors = [CaseSelector(per_group=cases_per_group) for _ in _GRIDS]

    @torch.inference_mode()
    def add(self, batch: EvalBatch) -> None:
        """Score one batch."""
        batch = batch.to(self.context.device)
        levels = difficulty_levels(batch.keypoints, batch.person.shape[-2])
        indices = torch.arange(len(self._levels), len(self._levels) + len(batch))
        computed: dict[str, Tensor] = {}
        try:
            for prefix, system in (("", batch), (BASELINE, baseline_batch(batch))):
                for spec in self._specs:
                    stats = spec.compute(system, self.context)
                    if stats is not None:
                        computed[prefix + spec.name] = stats.detach().cpu()
        finally:
            self.context.next_batch()
        # Stored only once the whole batch is scored, so a failing batch leaves no partial samples.
        self._levels.extend(levels)
        for key, stats in computed.items():
            self._stats[key].append((indices, stats))
        self._offer_cases(batch, levels, computed)

    def _offer_cases(self, batch: EvalBatch, levels: list[str], computed: dict[str, Tensor]) -> None:
        height, width = batch.person.shape[-2:]
        for grid, selector in zip(_GRIDS, self._selectors, strict=True):
            scores = computed.get(grid.metric)  # the model's: baseline keys carry a prefix
            if scores is None:
                continue
            for index, name in enumerate(batch.names):

                def render(index: int = index, grid: _GridSpec = grid) -> list[np.ndarray]:
                    return [_thumbnail(panel, height, width) for panel in grid.panels(batch, index)]

                selector.offer(float(scores[index]), name, levels[index], render)

    def result(self) -> EvalResult:
        """Reduce everything added so far."""
        levels = np.asarray(self._levels)
        metrics: dict[str, float] = {}
        for spec in self._specs:
            for prefix in ("", BASELINE):
                chunks = self._stats.get(prefix + spec.name)
                if chunks:
                    metrics.update(self._reduce(prefix + spec.name, spec, chunks, levels))
        metrics["count/all"] = float(len(levels))
        for level in LEVELS:
            metrics[f"count/{level}"] = float((levels == level).sum())
        notes = dict(self._notes)
        for spec in self._specs:
            if spec.name not in self._stats:
                notes[spec.name] = f"not computed: no batch carried {spec.requires or 'its inputs'}"
        grids = tuple(
            CaseGrid(grid.title, grid.metric, grid.columns, cases)
            for grid, selector in zip(_GRIDS, self._selectors, strict=True)
            if (cases := selector.select())
        )
        return EvalResult(metrics=metrics, notes=notes, grids=grids)

    @staticmethod
    def _reduce(
        key: str, spec: MetricSpec, chunks: list[tuple[Tensor, Tensor]], levels: np.ndarray
    ) -> dict[str, float]:
        indices = torch.cat([chunk[0] for chunk in chunks]).numpy()
        stats = torch.cat([chunk[1] for chunk in chunks])
        sample_levels = levels[indices]
        subsets = [("", np.ones(len(indices), dtype=bool))]
        subsets += [(f"/{level}", sample_levels == level) for level in LEVELS]
        values: dict[str, float] = {}
        for suffix, selected in subsets:
            if not selected.any():
                continue
            reduced = spec.reduce(stats[torch.from_numpy(selected)])
            named = reduced.items() if isinstance(reduced, dict) else [("", reduced)]
            for part, value in named:
                if value is not None and math.isfinite(value):
                    values[f"{key}{'/' + part if part else ''}{suffix}"] = float(value)
        return values
