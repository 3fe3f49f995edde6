"""`tryon train` killed with SIGKILL mid-run and resumed follows the uninterrupted run exactly."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tryon.checkpoint import load_checkpoint
from tryon.config import Resolution
from tryon.data.synthetic import generate_dataset

pytestmark = pytest.mark.slow

TRYON = [sys.executable, "-m", "tryon.cli"]
TOTAL_STEPS = 80
CHECKPOINT_EVERY = 10
KILL_AFTER = 24  # logged steps seen before the kill; the last checkpoint is then at step 20

PARAMS = f"""
data:
  resolution: 64x48
model:
  base_width: 4
  max_width: 16
  depth: 4
  disc_width: 4
  tps_width: 2
  tps_levels: 3
  tps_hidden: 8
train:
  stages:
    sgm: {{max_steps: {TOTAL_STEPS}, frozen_after: {{g1: 7}}}}
  batch_size: 2
  workers: 0
  log_interval: 1
  checkpoint_interval: {CHECKPOINT_EVERY}
  grid_interval: 1000
"""


def stats(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "sgm" / "stats.jsonl").read_text().splitlines()]


def logged_steps(run: Path) -> int:
    path = run / "sgm" / "stats.jsonl"
    if not path.exists():
        return 0
    lines = [line for line in path.read_text().splitlines() if line.endswith("}")]
    return json.loads(lines[-1])["step"] if lines else 0


def train(data: Path, run: Path, params: Path, *extra: str) -> list[str]:
    return [
        *TRYON,
        "train",
        "--stage",
        "sgm",
        "--data",
        str(data),
        "--out",
        str(run),
        "--params",
        str(params),
        "--no-progress",
        *extra,
    ]


def test_a_run_killed_mid_stage_resumes_exactly(tmp_path):
    data = tmp_path / "data"
    generate_dataset(data, n_train=8, n_test=2, resolution=Resolution(64, 48), seed=0, workers=1)
    params = tmp_path / "params.yaml"
    params.write_text(PARAMS)
    uninterrupted, interrupted = tmp_path / "uninterrupted", tmp_path / "interrupted"
    subprocess.run(train(data, uninterrupted, params), check=True, capture_output=True, timeout=300)

    process = subprocess.Popen(
        train(data, interrupted, params), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 240
    while logged_steps(interrupted) < KILL_AFTER and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    killed_at = load_checkpoint(interrupted / "sgm" / "checkpoint.pt").state
    assert not killed_at["finished"] and CHECKPOINT_EVERY <= killed_at["step"] < TOTAL_STEPS
    assert logged_steps(interrupted) > killed_at["step"]  # some logged progress is lost and recomputed

    subprocess.run(train(data, interrupted, params, "--resume"), check=True, capture_output=True, timeout=300)
    expected, resumed = stats(uninterrupted), stats(interrupted)
    assert (
        [line["step"] for line in resumed]
        == [line["step"] for line in expected]
        == list(range(1, TOTAL_STEPS + 1))
    )
    for want, got in zip(expected, resumed, strict=True):
        losses = {name: value for name, value in want.items() if "/" in name}
        assert losses and {name: got[name] for name in losses} == pytest.approx(losses, rel=1e-6), want[
            "step"
        ]
    final = {
        name: load_checkpoint(run / "sgm" / "checkpoint.pt").state
        for name, run in (("expected", uninterrupted), ("resumed", interrupted))
    }
    for key in ("generators", "generators_ema", "discriminators"):
        for name, value in final["expected"][key].items():
            assert torch.equal(final["resumed"][key][name], value), f"{key}.{name}"
