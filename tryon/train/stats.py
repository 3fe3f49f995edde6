"""Training statistics: loss sums kept on the device, read once per log interval, written as JSON
lines and TensorBoard scalars by rank 0."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from tryon.atomic import atomic_path
from tryon.train.distributed import DistributedContext, average_tensor


class LossStats:
    """Running sums of named loss values over a log interval.

    `add` only queues device additions (no host synchronisation); `collect` reads all the means with
    a single transfer, averaged over the ranks, and starts a new interval.
    """

    def __init__(self) -> None:
        self.sums: dict[str, Tensor] = {}
        self.counts: dict[str, int] = {}

    def add(self, name: str, value: Tensor) -> None:
        value = value.detach().float()
        self.sums[name] = self.sums[name] + value if name in self.sums else value
        self.counts[name] = self.counts.get(name, 0) + 1

    def collect(self, context: DistributedContext) -> dict[str, float]:
        """Means since the last collect, over all ranks; resets the sums."""
        if not self.sums:
            return {}
        names = sorted(self.sums)
        sums = average_tensor(torch.stack([self.sums[name] for name in names]), context)
        values = sums.tolist()
        means = {name: value / self.counts[name] for name, value in zip(names, values, strict=True)}
        self.sums, self.counts = {}, {}
        return means

    def state_dict(self) -> dict[str, Any]:
        """The partial sums, so that a resumed run logs the interval it was killed in exactly."""
        return {"sums": dict(self.sums), "counts": dict(self.counts)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sums = dict(state["sums"])
        self.counts = dict(state["counts"])


class StatsWriter:
    """Appends one JSON object per log interval to `stats.jsonl` and mirrors the numbers to TensorBoard.

    Only the main rank writes; the others hold a disabled writer. On resume, lines after the
    checkpoint's step are dropped (they are recomputed) and TensorBoard purges them too.
    """

    def __init__(self, run_dir: Path, *, enabled: bool, resume_step: int | None) -> None:
        self.enabled = enabled
        self.path = Path(run_dir) / "stats.jsonl"
        self.tensorboard = None
        if not enabled:
            return
        if resume_step is None:
            self.path.unlink(missing_ok=True)
        elif self.path.exists():
            self._truncate_after(resume_step)
        from torch.utils.tensorboard import SummaryWriter

        self.tensorboard = SummaryWriter(
            str(Path(run_dir) / "tensorboard"), purge_step=None if resume_step is None else resume_step + 1
        )

    def _truncate_after(self, step: int) -> None:
        kept = [line for line in self.path.read_text().splitlines() if _logged_step(line) <= step]
        with atomic_path(self.path) as tmp:
            tmp.write_text("".join(f"{line}\n" for line in kept))

    def write(self, record: dict[str, Any]) -> None:
        """Write one record (`stage`, `step`, `epoch`, `time`, losses, `lr`, `steps_per_s`, ...)."""
        if not self.enabled:
            return
        with self.path.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        step = record["step"]
        for name, value in record.items():
            if (
                isinstance(value, int | float)
                and not isinstance(value, bool)
                and name != "step"
                and math.isfinite(value)
            ):
                self.tensorboard.add_scalar(name, value, step)
        self.tensorboard.flush()

    def add_image(self, tag: str, image: Any, step: int) -> None:
        """An (H, W, 3) uint8 image to TensorBoard."""
        if self.enabled:
            self.tensorboard.add_image(tag, image, step, dataformats="HWC")
            self.tensorboard.flush()

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()


def _logged_step(line: str) -> float:
    """The step of a stats line; a line cut short by a killed process counts as after every step."""
    try:
        return json.loads(line)["step"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return math.inf
