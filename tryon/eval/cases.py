"""Best, median and worst cases for the report's image grids, chosen in bounded memory.

The median is only known at the end, so besides the k best and k worst rows a uniform reservoir
of rows is kept (reservoir sampling); the median group is the reservoir's rows nearest the true
median score of all samples. Memory is (2k + reservoir) rows whatever the size of the test split.
"""

from __future__ import annotations

import heapq
import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

GROUPS = ("best", "median", "worst")


@dataclass(frozen=True)
class Case:
    """One row of an image grid."""

    group: str  # best, median or worst
    name: str
    score: float
    level: str  # difficulty level
    panels: tuple[np.ndarray, ...]  # (h, w, 3) uint8 thumbnails, one per grid column


@dataclass(frozen=True)
class CaseGrid:
    """The rows of one image grid, best first."""

    title: str
    metric: str  # the metric that ranks the rows
    columns: tuple[str, ...]
    cases: tuple[Case, ...]


@dataclass
class _Row:
    order: int
    name: str
    score: float
    level: str
    panels: tuple[np.ndarray, ...]


class CaseSelector:
    """Keeps what is needed to show the `per_group` best, median and worst samples by a score."""

    def __init__(self, *, per_group: int = 3, reservoir: int = 32, seed: int = 0) -> None:
        self.per_group = per_group
        self.reservoir_size = reservoir
        self._random = random.Random(seed)  # a fixed seed: the same run shows the same median rows
        self._scores: list[float] = []
        self._best: list[tuple[float, int, _Row]] = []  # min-heap holding the highest scores
        self._worst: list[tuple[float, int, _Row]] = []  # min-heap of negated scores: the lowest
        self._reservoir: list[_Row] = []

    def offer(self, score: float, name: str, level: str, render: Callable[[], Sequence[np.ndarray]]) -> None:
        """Consider one sample; `render` makes its panels and is called only if the row is kept."""
        if not np.isfinite(score):
            return
        order = len(self._scores)
        self._scores.append(score)
        row: _Row | None = None

        def kept() -> _Row:
            nonlocal row
            if row is None:
                row = _Row(order, name, score, level, tuple(render()))
            return row

        for heap, key in ((self._best, score), (self._worst, -score)):
            if len(heap) < self.per_group:
                heapq.heappush(heap, (key, order, kept()))
            elif key > heap[0][0]:
                heapq.heapreplace(heap, (key, order, kept()))
        if len(self._reservoir) < self.reservoir_size:
            self._reservoir.append(kept())
        else:
            slot = self._random.randrange(order + 1)
            if slot < self.reservoir_size:
                self._reservoir[slot] = kept()

    def select(self) -> tuple[Case, ...]:
        """The chosen rows, best group first; each sample appears once, and a split of fewer than
        3 x per_group samples shares them out evenly among the groups."""
        if not self._scores:
            return ()
        per_group = min(self.per_group, max(1, len(self._scores) // 3))
        best = sorted((row for _, _, row in self._best), key=lambda row: -row.score)[:per_group]
        taken = {row.order for row in best}
        lowest = sorted((row for _, _, row in self._worst), key=lambda row: row.score)
        worst = [row for row in lowest if row.order not in taken][:per_group][::-1]
        taken |= {row.order for row in worst}
        median = statistics.median(self._scores)
        candidates = {row.order: row for row in [*self._reservoir, *best, *worst] if row.order not in taken}
        middle = sorted(candidates.values(), key=lambda row: (abs(row.score - median), row.order))
        middle = sorted(middle[:per_group], key=lambda row: -row.score)
        return tuple(
            Case(group, row.name, row.score, row.level, row.panels)
            for group, rows in zip(GROUPS, (best, middle, worst), strict=True)
            for row in rows
        )
