"""bench/train.py's configurations follow its options, and --params brings a params.yaml's model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.append(str(BENCH))  # the scripts import their siblings, as they do when run from bench/

import machine
import train

from tryon.config import ModelConfig, Resolution
from tryon.precision import MachineDescription


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


def test_the_switch_table_runs_bf16_only_where_it_is_native():
    def machine(native: bool) -> train.Machine:
        description = MachineDescription(
            processor="cpu",
            capability="AVX2",
            onednn_isa=None,
            bf16_native=native,
            auto_precision="bf16" if native else "fp32",
        )
        return train.Machine(description=description, device="cpu", cpus=2, threads=2, torch="2")

    emulated = dict(train.switches("fp32", machine(native=False)))
    assert emulated["precision bf16 (autocast, emulated)"] is None
    assert {"compile": True} in emulated.values()
    native = dict(train.switches("fp32", machine(native=True)))
    assert native["precision bf16 (autocast, native)"] == {"precision": "bf16"}
    assert dict(train.switches("bf16", machine(native=False)))["precision fp32 (no autocast)"] == {
        "precision": "fp32"
    }


def sgm_result(seconds: float) -> dict:
    """A measured default sgm step of four yardsticks' work taking `seconds`."""
    return {
        "preset": "default",
        "size": "256x192",
        "batch": 1,
        "stage": "sgm",
        "checkpointing": False,
        "median_s": seconds,
        "images_per_s": 1 / seconds,
        "tflop_per_step": 0.0435 * 4,
        "peak_rss_gb": 1.0,
        "static_gb": 0.1,
        "saved_gb": 0.2,
    }


def test_a_row_rates_the_step_against_both_yardstick_timings_and_a_skipped_row_keeps_the_columns():
    result = sgm_result(0.5)
    unit = machine.unit_from([0.25], same_allocator=[0.2])
    cells = [cell.strip() for cell in train.row(result, unit).strip("|").split("|")]
    header = [cell.strip() for cell in train.HEADER.splitlines()[0].strip("|").split("|")]
    assert len(cells) == len(header)
    rates = dict(zip(header, cells))
    # 4 units of work in 2 units of time: 200%; in 2.5 units of the faster yardstick: 160%.
    assert rates["units/step"] == "2.00" and rates["GFLOP/s vs unit"] == "200%"
    assert rates["vs unit, same allocator"] == "160%"
    assert "| - |" in train.row(result, machine.unit_from([0.25]))  # without the second timing
    skipped = train.unmeasured("default", "1024x768", 1, "sgm", False, "skipped: needs ~30 GB > 20 GB", 30.0)
    assert skipped.count("|") == train.HEADER.splitlines()[0].count("|")


def test_a_row_of_several_runs_is_the_median_run_with_the_range_of_the_rates():
    def run(seconds: float, unit_seconds: float) -> machine.Measured:
        unit = machine.unit_from([unit_seconds], same_allocator=[unit_seconds / 2])
        return machine.Measured(sgm_result(seconds), unit)

    # 4, 2 and 5 units per step: the 2-unit run is the fastest in seconds but not the median in units.
    runs = [run(1.0, 0.25), run(0.8, 0.4), run(1.5, 0.3)]
    chosen = train.median_run(runs, machine.unit_from([1.0]))
    assert chosen.result["median_s"] == 1.0 and chosen.unit is runs[0].unit
    assert chosen.result["rates"] == pytest.approx([1.0, 2.0, 0.8], rel=1e-3)  # 4 yardsticks in 4, 2 and 5 units
    assert chosen.result["same_allocator_rates"] == pytest.approx([0.5, 1.0, 0.4], rel=1e-3)
    cells = [cell.strip() for cell in train.row(chosen.result, chosen.unit).strip("|").split("|")]
    header = [cell.strip() for cell in train.HEADER.splitlines()[0].strip("|").split("|")]
    rates = dict(zip(header, cells, strict=True))
    assert rates["units/step"] == "4.00"
    assert rates["GFLOP/s vs unit"] == "100% (80%-200%)"
    assert rates["vs unit, same allocator"] == "50% (40%-100%)"
    single = train.median_run(runs[:1], machine.unit_from([1.0]))
    assert "(" not in train.row(single.result, single.unit)  # one run: no range


def test_a_failed_configuration_is_a_row_with_its_error_and_the_next_one_still_runs(monkeypatch, capsys):
    def fake_run_json(command: list[str]) -> dict:
        size = command[command.index("--size") + 1]
        if "--checkpointing" not in command and size == "512x384":
            raise train.ConfigurationFailed(
                command, "Traceback (most recent call last):\ntorch.OutOfMemoryError: CUDA out of memory | 2 GiB\n"
            )
        result = sgm_result(0.5)
        return {**result, "size": size, "checkpointing": "--checkpointing" in command, "saved_checkpointed_gb": 0.1}

    class Yardsticks:
        so_far = machine.unit_from([0.25])

        def after_configuration(self) -> None:
            return None

    monkeypatch.setattr(train, "run_json", fake_run_json)
    args = argparse.Namespace(
        presets="default", stages="sgm", quick=False, sizes="256x192,512x384", batch_size=1, device="cpu",
        memory_budget=20.0, max_step_seconds=30.0, runs=1, precision="fp32", channels_last=False, compile=False,
        repeats=1, warmup=1, threads=2, vgg=True, params=None,
    )  # fmt: skip
    entries = train.main_table(args, Yardsticks())
    failed = "| default | 512x384 | 1 | sgm | no | failed: torch.OutOfMemoryError: CUDA out of memory / 2 GiB "
    assert len(entries) == 3 and entries[0].result["size"] == "256x192"
    assert entries[1].startswith(failed)
    assert entries[1].count("|") == train.HEADER.splitlines()[0].count("|")
    assert isinstance(entries[2], machine.Measured) and entries[2].result["checkpointing"]
    assert train.count_failed(entries) == 1
    assert "CUDA out of memory" in capsys.readouterr().err  # the whole error goes to the log
