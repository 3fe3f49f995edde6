"""How many steps a stage runs, when its modules freeze, and the learning-rate decay."""

from __future__ import annotations

import math
from dataclasses import dataclass

from tryon.config import StageConfig


@dataclass(frozen=True)
class StageSchedule:
    """A stage's length and each frozen module's last training step, in optimizer steps."""

    steps_per_epoch: int
    total_steps: int
    freeze_steps: dict[str, int]  # generator submodule -> the step at which it stops training

    def span(self, module: str) -> int:
        """How many steps `module` trains in this stage."""
        return min(self.freeze_steps.get(module, self.total_steps), self.total_steps)

    def frozen_at(self, step: int) -> set[str]:
        """The submodules that no longer train at `step`."""
        return {module for module, last in self.freeze_steps.items() if step >= last}


def stage_schedule(config: StageConfig, *, steps_per_epoch: int) -> StageSchedule:
    """Convert a stage's epochs (or max_steps) and frozen-after epochs to steps."""
    total = config.max_steps if config.max_steps is not None else math.ceil(config.epochs * steps_per_epoch)
    freeze = {module: math.ceil(epochs * steps_per_epoch) for module, epochs in config.frozen_after.items()}
    return StageSchedule(steps_per_epoch=steps_per_epoch, total_steps=total, freeze_steps=freeze)


def linear_decay(span: int, *, decay_start: float):
    """The learning-rate factor of step t for a module that trains `span` steps, as pix2pixHD:
    constant for the first `decay_start` of the span, then linearly down to 0 at its end."""
    constant = math.floor(span * decay_start)
    decaying = max(1, span - constant)

    def factor(step: int) -> float:
        return max(0.0, min(1.0, 1.0 - (step - constant) / decaying))

    return factor
