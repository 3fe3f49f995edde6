"""Staged ACGPN training: a phase loop over every G/D pair, EMA, atomic checkpoints and DDP.

`train` runs the stages (`sgm`, `warp`, `fusion`) in order; `run_stage` runs one. See
`tryon.train.loop` for the run folder and `tryon.train.phases` for the phase loop.
"""

from tryon.train.loop import run_stage
from tryon.train.run import select_stages, stage_checkpoint, train
from tryon.train.stages import STAGES

__all__ = ["STAGES", "run_stage", "select_stages", "stage_checkpoint", "train"]
