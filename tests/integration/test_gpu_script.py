"""bench/gpu.sh, the GPU benchmark run, works end to end: here tiny, on the CPU."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEADINGS = (
    "## Training, bf16",
    "## Inference, bf16",
    "## Training, fp32",
    "## Inference, fp32",
    "## Training, bf16, torch.compile",
)


def run_script(
    tmp_path: Path, *, budget: int, yardstick: Path | None = None, yardstick_seconds: float = 0.0
) -> subprocess.CompletedProcess:
    """bench/gpu.sh at 64x48 on the CPU. By default the yardstick is a stand-in for
    ../shared/bench/yardstick.py, which a clean clone does not have, taking `yardstick_seconds`:
    the script's plumbing is under test here, not the unit's value."""
    if yardstick is None:
        yardstick = tmp_path / "yardstick.py"
        yardstick.write_text(f"import time\ntime.sleep({yardstick_seconds})\nprint(0.4)\n")
    environment = {
        **os.environ,
        "TRYON_YARDSTICK": str(yardstick),
        "DEVICE": "cpu",
        "SIZES": "64x48",
        "PRESETS": "default",
        "REPEATS": "1",
        "OUT": str(tmp_path / "out"),
        "PYTHON": sys.executable,
        "BUDGET": str(budget),
    }
    return subprocess.run(
        ["bash", "bench/gpu.sh"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=budget + 120,
        check=False,
    )


@pytest.mark.slow
def test_the_gpu_script_runs_every_benchmark_and_writes_their_sections(tmp_path):
    completed = run_script(tmp_path, budget=1500)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    results = (tmp_path / "out" / "RESULTS.md").read_text()
    for heading in HEADINGS:
        assert f"{heading}\n" in results
    assert "Stopped" not in results and "Not run" not in results and "failed" not in results
    assert "| default | 64x48 | 1 | full | yes |" in results  # the largest size, checkpointed
    assert "| default | 64x48 | 32 |" in results  # 32 garments on one avatar


@pytest.mark.slow
def test_the_gpu_script_ends_within_its_budget_and_says_what_it_cut(tmp_path):
    # Every command times the yardstick four times (as it is and with tryon's allocator, before and
    # after), 20 s here: more than any command's share of 60 s.
    budget = 60
    started = time.monotonic()
    completed = run_script(tmp_path, budget=budget, yardstick_seconds=5)
    elapsed = time.monotonic() - started
    assert completed.returncode != 0
    assert elapsed < budget + 15  # a command's children are stopped with it
    results = (tmp_path / "out" / "RESULTS.md").read_text()
    assert "## Training, bf16\n\nStopped at its deadline" in results
    for heading in HEADINGS:
        assert f"{heading}\n\nStopped at its deadline" in results or f"{heading}\n\nNot run" in results


def test_the_gpu_script_refuses_to_start_without_the_yardstick(tmp_path):
    completed = run_script(tmp_path, budget=60, yardstick=tmp_path / "missing.py")
    assert completed.returncode == 2
    assert "TRYON_YARDSTICK" in completed.stderr
    assert not (tmp_path / "out").exists()  # nothing was timed or written
