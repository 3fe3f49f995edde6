"""bench/gpu.sh, the GPU benchmark run, works end to end: here tiny, on the CPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_gpu_script_runs_every_benchmark_and_writes_their_sections(tmp_path):
    # A stand-in for ../shared/bench/yardstick.py, which a clean clone does not have: the script's
    # plumbing is under test here, not the unit's value.
    yardstick = tmp_path / "yardstick.py"
    yardstick.write_text("print(0.4)\n")
    environment = {
        "TRYON_YARDSTICK": str(yardstick),
        **os.environ,
        "DEVICE": "cpu",
        "SIZES": "64x48",
        "PRESETS": "default",
        "REPEATS": "1",
        "OUT": str(tmp_path / "out"),
        "PYTHON": sys.executable,
        "LIMIT": "600",
    }
    completed = subprocess.run(
        ["bash", "bench/gpu.sh"], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=1500
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    results = (tmp_path / "out" / "RESULTS.md").read_text()
    for heading in (
        "## Training, bf16",
        "## Training, fp32",
        "## Training, bf16, torch.compile",
        "## Inference, bf16",
        "## Inference, fp32",
    ):
        assert f"{heading}\n" in results
    assert "failed" not in results
    assert "| default | 64x48 | 1 | full | yes |" in results  # the largest size, checkpointed
