"""Inference, evaluation and export take only the end of a finished fusion stage."""

from __future__ import annotations

import pytest
import torch

from tryon.checkpoint import (
    UnfinishedCheckpointError,
    load_checkpoint,
    require_finished,
    require_finished_file,
    save_checkpoint,
)
from tryon.config import ModelConfig


def write(path, **state):
    return save_checkpoint(path, model_config=ModelConfig(), state={"weights": torch.ones(4), **state})


def test_the_end_of_a_finished_fusion_stage_passes(tmp_path):
    path = write(tmp_path / "c.pt", stage="fusion", finished=True, step=400)
    require_finished(load_checkpoint(path), path=path)
    require_finished_file(path)
    # A stage that its time budget ended is finished: it ran as configured.
    budget = write(tmp_path / "b.pt", stage="fusion", finished=True, stopped_by_budget=True, step=90)
    require_finished_file(budget)


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ({"stage": "sgm", "finished": True}, r"from stage sgm, not fusion.*--stage fusion"),
        ({"stage": "warp", "finished": False}, r"from stage warp, not fusion"),
        ({}, r"from stage unknown, not fusion"),
        ({"stage": "fusion", "finished": False, "step": 120}, r"stage fusion stopped at step 120.*--resume"),
        ({"stage": "fusion", "step": 7}, r"stage fusion stopped at step 7"),
    ],
)
def test_another_stage_or_an_unfinished_one_is_refused_naming_the_stage(tmp_path, state, message):
    path = write(tmp_path / "c.pt", **state)
    with pytest.raises(UnfinishedCheckpointError, match=message) as error:
        require_finished_file(path)
    assert str(path) in str(error.value)
    with pytest.raises(UnfinishedCheckpointError, match=message):
        require_finished(load_checkpoint(path), path=path)


def test_another_stage_can_be_required(tmp_path):
    path = write(tmp_path / "c.pt", stage="warp", finished=True)
    require_finished_file(path, stage="warp")
    with pytest.raises(UnfinishedCheckpointError, match="not sgm"):
        require_finished_file(path, stage="sgm")


def test_a_missing_or_unreadable_file_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        require_finished_file(tmp_path / "none.pt")
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not readable"):
        require_finished_file(broken)


def test_the_check_does_not_read_the_weights(tmp_path):
    path = write(tmp_path / "c.pt", stage="fusion", finished=True)
    checkpoint = load_checkpoint(path, mmap=True)
    assert checkpoint.state["finished"] and torch.equal(checkpoint.state["weights"], torch.ones(4))
