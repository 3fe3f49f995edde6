"""bench/infer.py and bench/profiler.py with a chosen weight layout, at a tiny size."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.append(str(BENCH))  # the scripts import their siblings, as they do when run from bench/

import infer
import machine


def child(script: str, *options: str) -> object:
    command = [sys.executable, str(BENCH / script), "--child", *options]
    completed = subprocess.run(command, capture_output=True, text=True, check=True, cwd=BENCH, timeout=300)
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_two_layouts_are_timed_interleaved_in_one_process_with_a_row_each():
    results = child(
        "infer.py",
        *("--presets", "default", "--sizes", "64x48", "--batches", "1", "--repeats", "3", "--warmup", "0"),
        *("--time-budget", "0", "--threads", "1", "--precision", "fp32", "--device", "cpu"),
        *("--memory-formats", "channels_last,contiguous"),
    )
    assert [result["memory_format"] for result in results] == ["channels_last", "contiguous"]
    assert all(result["repeats"] == 3 and result["median_s"] > 0 for result in results)
    assert results[0]["gflop_per_tryon"] == results[1]["gflop_per_tryon"] > 0
    unit = machine.unit_from([0.5])
    for result in results:
        line = infer.row(result, reference=results[0], unit=unit)
        assert f"| fp32 | {result['memory_format']} |" in line
        assert line.count("|") == infer.HEADER.splitlines()[0].count("|")


def test_auto_is_the_devices_layout():
    (result,) = child(
        "infer.py",
        *("--presets", "default", "--sizes", "64x48", "--batches", "1", "--repeats", "3", "--warmup", "0"),
        *("--time-budget", "0", "--threads", "1", "--precision", "fp32", "--device", "cpu"),
        *("--memory-formats", "auto"),
    )
    assert result["memory_format"] == "channels_last"  # fp32 on the CPU


@pytest.mark.parametrize("layout", ["channels_last", "contiguous"])
def test_the_profile_of_a_try_on_runs_in_either_layout(tmp_path, layout):
    result = child(
        "profiler.py",
        *("--preset", "default", "--workload", "tryon", "--size", "64x48", "--batch", "1", "--threads", "1"),
        *("--precision", "fp32", "--repeats", "1", "--traces", str(tmp_path), "--memory-format", layout),
    )
    names = [operator["name"] for operator in result["operators"]]
    assert "aten::mkldnn_convolution" in names or "aten::_slow_conv2d_forward" in names
    assert Path(result["trace"]).is_file()
