"""bench/train_layouts.py: both discriminator layouts timed interleaved in one process, at a tiny size."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.append(str(BENCH))  # the scripts import their siblings, as they do when run from bench/

import train_layouts


def test_both_layouts_alternate_for_every_round_and_make_one_row():
    command = [
        sys.executable,
        str(BENCH / "train_layouts.py"),
        "--child",
        "--configuration",
        "default/sgm/64x48/1",
    ]
    command += ["--rounds", "2", "--steps", "1", "--threads", "1", "--precision", "fp32"]
    completed = subprocess.run(command, capture_output=True, text=True, check=True, cwd=BENCH, timeout=300)
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["configuration"] == "default/sgm/64x48/1" and result["precision"] == "fp32"
    assert list(result["rounds"]) == ["contiguous", "channels_last"]
    assert all(len(times) == 2 and min(times) > 0 for times in result["rounds"].values())
    line = train_layouts.row(result)
    assert line.startswith("| default | sgm | 64x48 | 1 |") and line.endswith(" of 2 |")
    assert line.count("|") == train_layouts.HEADER.splitlines()[0].count("|")


def test_a_row_gives_the_medians_their_ratio_and_the_rounds_won():
    result = {
        "configuration": "default/sgm/256x192/1",
        "rounds": {"contiguous": [0.5, 0.4, 0.6], "channels_last": [0.4, 0.5, 0.3]},
    }
    assert train_layouts.row(result) == "| default | sgm | 256x192 | 1 | 0.500 | 0.400 | 1.25x | 2 of 3 |"


def test_a_configuration_is_preset_stage_size_batch():
    assert str(train_layouts.Configuration.parse("original/fusion/128x96/4")) == "original/fusion/128x96/4"
    with pytest.raises(ValueError, match="preset/stage/size/batch"):
        train_layouts.Configuration.parse("default/sgm/256x192")
