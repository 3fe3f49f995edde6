"""bench/train.py's configurations follow its options, and --params brings a params.yaml's model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.append(str(BENCH))  # the scripts import their siblings, as they do when run from bench/

import train

from tryon.config import ModelConfig, Resolution


def test_sizes_run_at_the_batch_size_and_the_last_also_checkpointed():
    args = argparse.Namespace(quick=False, sizes="128x96,256x192", batch_size=4)
    assert train.configurations(args) == [("128x96", 4, False), ("256x192", 4, False), ("256x192", 4, True)]


def test_params_bring_the_model_settings_but_not_preset_or_resolution(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("model:\n  preset: original\n  resolution: 512x384\n  tps_grid: 9\n  tps_levels: 4\n")
    overrides = train.params_model_overrides(params)
    assert overrides == {"tps_grid": 9, "tps_levels": 4}
    config = ModelConfig.from_preset("default", Resolution(128, 96), **overrides)
    assert (config.preset, config.tps_grid, config.tps_levels) == ("default", 9, 4)
    assert train.params_model_overrides(None) == {}
