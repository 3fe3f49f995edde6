"""`--resume` continues only a run it can continue exactly, and a stage its time budget stopped
continues when the budget grows."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import pytest

from tryon.checkpoint import load_checkpoint
from tryon.config import load_params
from tryon.train import train
from tryon.train.loop import ResumeMismatchError, check_resumable

TINY = """
data:
  resolution: 64x48
model: {base_width: 4, max_width: 16, depth: 3, disc_width: 4, tps_width: 2, tps_levels: 3, tps_hidden: 8}
train:
  stages:
    sgm: {max_steps: 4, budget_minutes: 1.0e-6}
    warp: {max_steps: 1}
  batch_size: 2
  workers: 0
  log_interval: 1
  grid_interval: 1000
"""


def run(stage: str, data: Path, out: Path, params, **changes):
    config = dataclasses.replace(params.train, **changes)
    return train(
        stage=stage, data_root=data, out_dir=out, model_config=params.model, config=config,
        resume=True, progress=False,
    )


def with_stage(params, **changes):
    return {"stages": {**params.train.stages, "sgm": dataclasses.replace(params.train.stages["sgm"], **changes)}}


@pytest.mark.slow
def test_budget_continuation_and_refused_settings(tiny_dataset, tmp_path, caplog):
    path = tmp_path / "params.yaml"
    path.write_text(TINY)
    params = load_params(path)
    out = tmp_path / "run"
    checkpoint = run("sgm", tiny_dataset, out, params)
    state = load_checkpoint(checkpoint).state
    assert state["finished"] and state["stopped_by_budget"] and state["step"] == 1  # the budget ran out
    run("warp", tiny_dataset, out, params)  # starts from the sgm stage at step 1

    # The same budget: nothing more to do.
    with caplog.at_level(logging.INFO, logger="tryon.train.loop"):
        run("sgm", tiny_dataset, out, params)
    assert "budget of 1e-06 min is spent" in caplog.text and load_checkpoint(checkpoint).state["step"] == 1

    # Another batch size, learning rate or length is refused, naming each key.
    with pytest.raises(ResumeMismatchError) as error:
        run("sgm", tiny_dataset, out, params, batch_size=4, lr=1e-3, **with_stage(params, max_steps=6))
    message = str(error.value)
    assert "batch_size 2 (this run: 4)" in message and "lr 0.0002 (this run: 0.001)" in message
    assert "steps_per_epoch 4 (this run: 2)" in message and "total_steps 4 (this run: 6)" in message

    # A larger budget continues it to its last step; accumulating the batch in two rounds is allowed.
    run("sgm", tiny_dataset, out, params, batch_per_device=1, **with_stage(params, budget_minutes=10.0))
    state = load_checkpoint(checkpoint).state
    assert state["finished"] and not state["stopped_by_budget"] and state["step"] == 4
    steps = [json.loads(line)["step"] for line in (out / "sgm" / "stats.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]

    # The warp stage started from the sgm stage at step 1: continuing it now would mix stages.
    with pytest.raises(ResumeMismatchError, match=r"previous_stage_step 1 \(this run: 4\).*move .*warp away"):
        run("warp", tiny_dataset, out, params)


def test_the_world_size_and_freeze_steps_must_match():
    recorded = {"batch_size": 8, "world_size": 2, "freeze_steps": {"g1": 10}, "lr": 2e-4}
    now = {**recorded, "world_size": 4, "freeze_steps": {"g1": 20}}
    with pytest.raises(ResumeMismatchError, match=r"world_size 2 \(this run: 4\), freeze_steps \{'g1': 10\}"):
        check_resumable({"run": recorded}, now, path=Path("models/sgm/checkpoint.pt"))
    check_resumable({"run": recorded}, dict(recorded), path=Path("c.pt"))
    check_resumable({}, now, path=Path("c.pt"))  # written before the settings were kept: nothing to compare
