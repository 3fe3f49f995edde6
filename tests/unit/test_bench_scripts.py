"""The benchmark scripts' own logic: machine detection, quoted figures, RESULTS.md sections, the
inference table's scaling column, and the time-to-quality and ablation runs end to end at a tiny size."""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from tryon.config import PRESETS, StageConfig, load_params
from tryon.train.schedule import linear_decay, stage_schedule

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.append(str(BENCH))  # the scripts import their siblings, as they do when run from bench/

import ablate
import infer
import machine
import profiler
import quality
import quoted
import results

ROOT = BENCH.parent


def test_the_machine_line_and_auto_precision_follow_an_emulated_avx2_machine():
    probe = (
        f"import json, sys; sys.path.insert(0, {str(BENCH)!r}); import machine; "
        "from tryon.precision import resolve_precision; found = machine.detect(threads=2); "
        "print(json.dumps([found.capability, found.describe('fp32'), resolve_precision('auto', 'cpu').name]))"
    )
    environment = {**os.environ, "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
    completed = subprocess.run(
        [sys.executable, "-c", probe], env=environment, capture_output=True, text=True, check=True
    )
    capability, line, auto = json.loads(completed.stdout)
    assert not capability.startswith("AVX512") and auto == "fp32"
    assert f"CPU capability {capability}, oneDNN limited to AVX2, bf16 not native" in line
    assert "2 threads" in line and "precision run fp32" in line


def test_quotes_say_where_they_come_from_and_which_machines_they_compare():
    avx2 = quoted.for_capability(quoted.TRAINING_STEP, "AVX2")
    assert avx2.seconds == 21.5 and "issue 13" in str(avx2) and "quoted, not measured here" in str(avx2)
    assert quoted.for_capability(quoted.TRYON, "AVX512").source.startswith("DESIGN.md")
    assert quoted.for_capability(quoted.TRYON, "DEFAULT") is quoted.TRYON["AVX2"]
    speedup = avx2.speedup(4.3)
    assert speedup.startswith("5.0x the original code's speed") and "another machine" in speedup


DOCUMENT = (
    "# Benchmarks\n\n## Training\n\nold training\n\n## Time to quality\n\nold curve\n\n## Inference\n\nold\n"
)


def test_a_section_is_replaced_and_the_others_are_kept():
    text = results.replace_section(DOCUMENT, "## Time to quality", "## Time to quality\n\nnew curve\n")
    assert text == DOCUMENT.replace("old curve", "new curve")
    text = results.replace_section(DOCUMENT, "## Inference", "## Inference\n\nnew\n")
    assert text == DOCUMENT.replace("\nold\n", "\nnew\n")


def test_a_missing_section_is_appended_and_a_longer_heading_is_not_mistaken_for_it():
    document = "# Benchmarks\n\n## Training (GPU)\n\nkept\n"
    text = results.replace_section(document, "## Training", "## Training\n\nnew\n")
    assert text == document + "\n## Training\n\nnew\n"
    with pytest.raises(ValueError, match="must start with that heading"):
        results.replace_section(document, "## Training", "## Inference\n")


def test_seconds_per_megapixel_is_constant_when_time_scales_with_pixels():
    small = {"size": "256x192", "batch": 1, "median_s": 0.1}
    large = {"size": "512x384", "batch": 8, "median_s": 3.2}
    assert infer.seconds_per_megapixel(small) == pytest.approx(0.1 / 0.049152)
    assert infer.seconds_per_megapixel(large) == pytest.approx(infer.seconds_per_megapixel(small))
    row = {**large, "preset": "default", "precision": "fp32", "min_s": 3.0, "max_s": 3.5}
    unit = machine.unit_from([0.5])
    line = infer.row({**row, "gflop_per_tryon": 98.0, "peak_rss_gb": 1.0}, reference={**small}, unit=unit)
    assert "| 1.00x |" in line and "| 0.800 |" in line  # 0.4 s per try-on at 0.5 s per unit
    assert "| 282% |" in line and line.endswith("| - |")  # 245 GFLOP/s against 87; no CUDA


def test_a_budget_scales_the_demo_schedule_whose_learning_rate_decays_over_its_steps():
    stages = load_params(ROOT / "params.yaml").train.stages
    total = sum(stage.budget_minutes for stage in stages.values())
    scaled = quality.scale_to_budget(stages, total / 4)
    assert sum(stage.budget_minutes for stage in scaled.values()) == pytest.approx(total / 4)
    for name, stage in scaled.items():
        assert stage.max_steps == round(stages[name].max_steps / 4)
        assert stage.budget_minutes == pytest.approx(stages[name].budget_minutes / 4)
        assert stage.frozen_after == stages[name].frozen_after
        schedule = stage_schedule(stage, steps_per_epoch=64)
        factor = linear_decay(schedule.span(name), decay_start=0.5)
        assert schedule.total_steps == stage.max_steps  # the decay ends with the scaled steps
        assert factor(0) == 1 and factor(stage.max_steps // 2 + 1) < 1 and factor(stage.max_steps) == 0
    tiny = quality.scale_to_budget(stages, 0.001)
    assert all(stage.max_steps == 1 for stage in tiny.values())  # at least one step each
    fixed = quality.scale_schedule(stages, 0.5, keep_budgets=False)
    assert [stage.max_steps for stage in fixed.values()] == [round(s.max_steps / 2) for s in stages.values()]
    assert all(stage.budget_minutes is None for stage in fixed.values())


def test_a_stage_without_a_budget_or_steps_is_refused():
    stages = {
        "sgm": StageConfig(max_steps=4, budget_minutes=1),
        "warp": StageConfig(max_steps=4),
        "fusion": StageConfig(max_steps=4, budget_minutes=1),
    }
    with pytest.raises(ValueError, match=r"train.stages.\{warp\}.budget_minutes is not set"):
        quality.scale_to_budget(stages, 4)
    stages["warp"] = StageConfig(epochs=2, budget_minutes=1)
    with pytest.raises(ValueError, match=r"train.stages.\{warp\}.max_steps is not set"):
        quality.scale_to_budget(stages, 4)


def test_preset_and_size_override_the_parameters_model():
    params = load_params(ROOT / "params.yaml")
    assert quality.model_config(params, preset=None, size=None) == params.model
    original = quality.model_config(params, preset="original", size="512x384")
    assert original.preset == "original" and original.base_width == PRESETS["original"]["base_width"]
    assert str(original.resolution) == "512x384" and original.tps_grid == params.model.tps_grid


TINY_PARAMS = """
data: {resolution: 64x48}
synth: {n_train: 4, n_test: 2, seed: 0}
model: {base_width: 8, max_width: 16, depth: 3, tps_levels: 3}
train:
  stages:
    sgm: {max_steps: 4, budget_minutes: 3}
    warp: {max_steps: 4, budget_minutes: 2}
    fusion: {max_steps: 4, budget_minutes: 3}
  batch_size: 2
  workers: 0
  log_interval: 1
"""


def test_time_to_quality_trains_evaluates_and_rewrites_its_section(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(TINY_PARAMS)
    written = tmp_path / "RESULTS.md"
    written.write_text(DOCUMENT)
    script = [sys.executable, str(BENCH / "quality.py"), "--params", str(params), "--minutes", "4"]
    options = ["--precision", "fp32", "--work", str(tmp_path / "work"), "--write", str(written)]
    # One thread: convolutions this small gain nothing from two, and stall when a busy machine
    # lends the second core to another process.
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(script + options, check=False, env=environment, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr[-3000:]

    text = written.read_text()
    assert "old curve" not in text and "old training" in text and "\n## Inference\n\nold\n" in text
    section = text[text.index("## Time to quality") : text.index("## Inference")]
    assert "precision run fp32" in section and "CPU capability" in section and "1 thread," in section
    (row,) = [line for line in section.splitlines() if line.startswith("| 4 |")]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    # 4 of the parameters' 8 budget minutes: half of each stage's max_steps, far within its cap
    assert cells[2] == "2/2/2" and int(cells[3]) == 2 * 6  # images seen = steps x batch
    assert len(cells) == 4 + len(quality.METRICS)
    assert (tmp_path / quality.PLOT_NAME).stat().st_size > 0
    for folder in quality.stage_folders(tmp_path / "work" / "4min").values():
        rows = [json.loads(line) for line in (folder / "stats.jsonl").read_text().splitlines()]
        assert rows[0]["lr"] == pytest.approx(2e-4) and rows[-1]["lr"] < 2e-4  # decayed within the run


def test_the_unit_comes_from_the_yardstick_run_in_this_run_and_converts_times_and_flops(tmp_path, monkeypatch):
    fake = tmp_path / "yardstick.py"
    fake.write_text("import sys\nprint('noise')\nprint(0.5 if sys.argv[1] == '3' else 9.9)\n")
    monkeypatch.setenv(machine.YARDSTICK_ENV, str(fake))
    assert machine.time_yardstick(repeats=3) == 0.5
    unit = machine.unit_from([0.5, 0.7, 0.6])
    assert unit.seconds == 0.6 and unit.units(12.0) == pytest.approx(20.0)
    assert machine.UNIT_GFLOP == pytest.approx(43.49, abs=0.01)
    assert unit.efficiency(flop=machine.UNIT_GFLOP * 1e9, seconds=1.2) == pytest.approx(0.5)
    assert "1 unit = 0.600 s" in unit.describe() and "0.500, 0.700, 0.600" in unit.describe()
    assert unit.same_allocator_efficiency(flop=1e9, seconds=1.0) is None  # not timed
    # With tryon's allocator the script runs after `retain_freed_memory`, whose cache shows the call.
    fake.write_text(
        "import sys\nfrom tryon.allocator import retain_freed_memory\n"
        "print(0.4 if retain_freed_memory.cache_info().currsize and sys.argv[1] == '7' else 9.9)\n"
    )
    assert machine.time_yardstick(tryon_allocator=True) == 0.4 and machine.time_yardstick() == 9.9
    timings = [machine.YardstickTiming(plain=0.6, same_allocator=0.5), machine.YardstickTiming(0.8, 0.5)]
    paired = machine.unit_of(timings)
    assert paired.seconds == pytest.approx(0.7) and paired.same_allocator == (0.5, 0.5)
    assert paired.same_allocator_efficiency(flop=machine.UNIT_GFLOP * 1e9, seconds=1.0) == pytest.approx(0.5)
    assert "with tryon's allocator 0.500 s" in paired.describe()
    monkeypatch.setenv(machine.YARDSTICK_ENV, str(tmp_path / "missing.py"))
    with pytest.raises(FileNotFoundError, match="TRYON_YARDSTICK"):
        machine.time_yardstick()


def test_on_the_cpu_each_configuration_is_set_against_the_yardstick_timed_on_either_side_of_it(
    tmp_path, monkeypatch
):
    # A stand-in yardstick that takes 0.1 s longer on each call, 0.05 s less with tryon's allocator.
    calls = tmp_path / "calls"
    fake = tmp_path / "yardstick.py"
    fake.write_text(
        "import pathlib, sys\n"
        f"calls = pathlib.Path({str(calls)!r})\n"
        "count = len(calls.read_text()) if calls.exists() else 0\n"
        "calls.write_text('x' * (count + 1))\n"
        "print(0.1 * (count // 2 + 1) - 0.05 * ('tryon.allocator' in sys.modules))\n"
    )
    monkeypatch.setenv(machine.YARDSTICK_ENV, str(fake))
    run = machine.YardstickRun("cpu")
    first, second = run.after_configuration(), run.after_configuration()
    assert first.measurements == pytest.approx((0.1, 0.2)) and first.same_allocator == pytest.approx((0.05, 0.15))
    assert second.seconds == pytest.approx(0.25)  # the timings either side of it: 0.2 and 0.3
    assert run.finish().measurements == pytest.approx((0.1, 0.2, 0.3))  # nothing more to time
    elsewhere = machine.YardstickRun("cuda")
    assert elsewhere.after_configuration() is None  # the run's unit, timed once more at its end
    assert elsewhere.finish().measurements == pytest.approx((0.4, 0.5))


def test_speed_ups_against_the_original_code_are_ranges_computed_from_units():
    assert quoted.TRAINING_STEP_UNITS.speedup(4.1).startswith("10.0-11.5x the original code (4.10 units here")
    assert "8.6-10 units (quoted, not measured here" in str(quoted.TRYON_UNITS)


def test_the_profile_names_every_network_of_the_try_on_and_writes_a_trace(tmp_path):
    command = [
        sys.executable, str(BENCH / "profiler.py"), "--child", "--preset", "default", "--workload", "tryon",
        "--size", "64x48", "--batch", "1", "--threads", "1", "--precision", "fp32", "--repeats", "1",
        "--traces", str(tmp_path),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, check=True, cwd=BENCH)
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert set(result["networks"]) == {"g1", "g2", "warper", "g3"}
    for timed in result["networks"].values():
        assert timed["gflop"] > 0 and timed["seconds"] > 0 and not timed["backward"]
        # Nearly all of a network's FLOPs are its convolutions', timed alone too.
        assert 0.9 * timed["gflop"] <= timed["convolutions_gflop"] <= timed["gflop"] * 1.0001
        assert timed["convolutions_seconds"] > 0
    assert result["operators"] and sum(operator["share"] for operator in result["operators"]) <= 1.0
    assert json.loads(Path(result["trace"]).read_text())["traceEvents"]
    # oneDNN's verbose lines went into its account, not into the output the JSON is read from.
    convolutions = [row for row in result["onednn"] if row["kind"] == "convolution"]
    assert convolutions and all(row["ms"] > 0 and row["calls"] > 0 for row in convolutions)
    assert "onednn_verbose" not in completed.stdout


def test_onednn_verbose_lines_are_summed_by_kind_and_pass():
    verbose = """onednn_verbose,v1,info,oneDNN v3.7.1 (commit 0)
onednn_verbose,v1,primitive,exec,cpu,convolution,jit:avx2,backward_weights,src:f32::blocked:abcd::f0,,mb1_ic16oc16,4.5
onednn_verbose,v1,primitive,create:cache_miss,cpu,convolution,jit:avx2,forward_training,src:f32,,mb1,0.2
onednn_verbose,v1,primitive,exec,cpu,reorder,jit:uni,undef,src:f32::blocked:abcd::f0 dst:f32,,1x16x8x8,0.25
onednn_verbose,v1,primitive,exec,cpu,convolution,brg_conv_fwd:avx2,backward_weights,src:f32,,mb1_ic32oc16,1.5
onednn_verbose,v1,primitive,exec,cpu,reorder,jit:blk,undef,src:f32 dst:f32,,16x16x3x3,0.5
onednn_verbose,v1,primitive,exec,cpu,convolution,jit:avx2,backward_wei
"""
    assert profiler.onednn_primitives(verbose) == [
        {"kind": "convolution", "pass": "backward_weights", "implementations": ["brg_conv_fwd:avx2", "jit:avx2"], "ms": 6.0, "calls": 2},
        {"kind": "reorder", "pass": "undef", "implementations": ["jit:blk", "jit:uni"], "ms": 0.75, "calls": 2},
    ]


def test_native_output_is_captured_and_the_standard_output_restored(capfd):
    libc = ctypes.CDLL(None)
    captured = profiler.native_stdout(lambda: libc.printf(b"from C %d\n", 7))
    assert captured == "from C 7\n"
    print("after")
    assert capfd.readouterr().out == "after\n"


def test_each_ablation_changes_only_its_own_setting():
    params = load_params(ROOT / "params.yaml")
    model, config = params.model, params.train
    assert ablate.apply(ablate.BASELINES[0], model, config) == (model, config)
    for variant in ablate.CHANGES:
        changed_model, changed_config = ablate.apply(variant, model, config)
        section, _, name = variant.setting.partition(".")
        if variant.inference_only:  # trains as full; evaluated with the setting
            assert (changed_model, changed_config) == (model, config)
            assert ablate.evaluation_settings(variant) == {name: variant.value}
            assert variant.name == "no-tps-fit"
            continue
        assert ablate.evaluation_settings(variant) == {}
        if section == "model":
            assert changed_config == config
            assert changed_model == dataclasses.replace(model, **{name: variant.value}) != model
        elif name.startswith("weights."):
            weights = dataclasses.replace(config.weights, **{name.removeprefix("weights."): variant.value})
            assert changed_model == model and changed_config == dataclasses.replace(config, weights=weights)
            assert changed_config != config
        else:
            assert changed_model == model
            assert changed_config == dataclasses.replace(config, **{name: variant.value}) != config


def ablation_run(name: str, **metrics: float) -> ablate.VariantRun:
    variant = next(v for v in (*ablate.BASELINES, *ablate.CHANGES) if v.name == name)
    keys = dict(zip(["warp/iou", "unpaired/l1/changed"], metrics.values(), strict=False))
    return ablate.VariantRun(variant, steps={}, wall_minutes=1.0, precision="fp32", metrics=keys)


def test_a_verdict_counts_only_differences_beyond_the_seed_spread():
    reference = ablation_run("full", iou=0.70, l1=0.050)
    replicate = ablation_run("full-seed1", iou=0.69, l1=0.052)  # spread 0.01 and 0.002
    worse_warp = ablation_run("no-moment-alignment", iou=0.60, l1=0.0515)
    assert ablate.verdict(worse_warp, reference, replicate) == "helps (without it: warp/iou -0.100)"
    better_l1 = ablation_run("no-arm-masks", iou=0.695, l1=0.040)
    assert ablate.verdict(better_l1, reference, replicate) == "hurts (without it: unpaired/l1/changed -0.010)"
    mixed = ablation_run("no-class-balance", iou=0.75, l1=0.060)
    assert ablate.verdict(mixed, reference, replicate) == (
        "helps (without it: unpaired/l1/changed +0.010); hurts (without it: warp/iou +0.050)"
    )
    same = ablation_run("no-composition-mask", iou=0.705, l1=0.051)
    assert ablate.verdict(same, reference, replicate).startswith("no measurable effect")
    # the same weights with an inference setting changed: no training noise to clear
    unfitted = ablation_run("no-tps-fit", iou=0.695, l1=0.0505)
    assert ablate.verdict(unfitted, reference, replicate) == "helps (without it: warp/iou -0.005)"


def test_the_ablation_trains_each_variant_on_fixed_steps_and_writes_its_section(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(TINY_PARAMS)
    written = tmp_path / "RESULTS.md"
    written.write_text(DOCUMENT)
    command = [
        sys.executable, str(BENCH / "ablate.py"), "--params", str(params), "--scale", "0.5",
        "--variants", "no-tps-fit", "--precision", "fp32",
        "--work", str(tmp_path / "work"), "--write", str(written),
    ]
    limits = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}
    environment = {**os.environ, "OMP_NUM_THREADS": "1", **limits}
    completed = subprocess.run(
        command, check=False, env=environment, capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 0, completed.stderr[-3000:]

    text = written.read_text()
    assert "old curve" in text and "\n## Inference\n\nold\n" in text
    section = text[text.index("## Ablations") :]
    command_line = (
        "OMP_NUM_THREADS=1 ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 .venv/bin/python bench/ablate.py"
    )
    assert f"Command: `{command_line}" in section and "precision run fp32" in section
    rows = {
        cells[0]: cells
        for line in section.splitlines()
        if line.startswith("| ") and not line.startswith("| variant")
        for cells in [[cell.strip() for cell in line.strip("|").split("|")]]
    }
    assert list(rows) == ["full", "full-seed1", "no-tps-fit"]
    assert {cells[2] for cells in rows.values()} == {"2/2/2"}  # the same fixed steps for every variant
    assert rows["no-tps-fit"][3] == "(full's)"  # no training of its own
    assert rows["no-tps-fit"][1] == "model.tps_fit_steps: 0"
    assert all(len(cells) == 4 + len(quality.METRICS) for cells in rows.values())
    assert "(" not in rows["full"][4]  # differences are from full, shown for every other variant
    others = [cells[4] for name, cells in rows.items() if name != "full"]
    assert all(re.fullmatch(r"[\d.]+ \([+-][\d.]+\)", cell) for cell in others)
    (line,) = [line for line in section.splitlines() if line.startswith("- `")]
    assert line.startswith("- `model.tps_fit_steps` (no-tps-fit): ")
    assert any(word in line for word in ("helps", "hurts", "no measurable effect"))
    assert "Not run" not in section  # every variant finished
    report = (tmp_path / "work" / "no-tps-fit" / "eval").iterdir()
    assert any(path.name == "metrics.json" for path in report)

    # An interrupted run is finished with --reuse: what was trained and evaluated is read back.
    again = subprocess.run(
        [*command, "--reuse"], check=False, env=environment, capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("(reused)") == 3
    table = [line for line in written.read_text().splitlines() if line.startswith("| ")]
    assert table == [line for line in section.splitlines() if line.startswith("| ")]
    longer = [*command[: command.index("--scale") + 1], "1", *command[command.index("--scale") + 2 :]]
    refused = subprocess.run(
        [*longer, "--reuse"], check=False, env=environment, capture_output=True, text=True, timeout=300
    )
    assert refused.returncode != 0 and "rerun without --reuse" in refused.stderr


def test_convolutions_are_recorded_from_layers_and_functional_calls_and_timed_alone():
    layer = nn.Conv2d(4, 8, 3, padding=1)
    weight = torch.randn(2, 8, 4, 4, requires_grad=True)
    x = torch.randn(1, 4, 16, 12)

    def network() -> None:
        torch.nn.functional.conv2d(layer(x), weight, stride=2, padding=2)

    first, second = profiler.convolution_calls(network)
    assert (first.input_shape, first.weight_shape, first.bias, first.padding) == ((1, 4, 16, 12), (8, 4, 3, 3), True, (1, 1))
    assert not first.input_grad and first.weight_grad
    assert (second.input_shape, second.stride, second.padding, second.bias) == ((1, 8, 16, 12), (2, 2), (2, 2), False)
    assert second.input_grad and second.weight_grad
    forward = 2 * 4 * 8 * 9 * 16 * 12 / 1e9

    def gflop(**grads) -> float:
        flops, seconds = profiler.time_convolution(first, repeats=1, autocast=contextlib.nullcontext, **grads)
        assert seconds > 0
        return flops

    assert gflop(weight_grad=False, input_grad=False) == pytest.approx(forward)
    assert gflop(weight_grad=True, input_grad=False) == pytest.approx(2 * forward)
    assert gflop(weight_grad=True, input_grad=True) == pytest.approx(3 * forward)


def test_transposed_convolutions_are_recorded_and_timed_as_transposed():
    weight = torch.randn(8, 4, 4, 4)  # (in, out, kh, kw)
    bias = torch.randn(4)
    x = torch.randn(1, 8, 6, 5)

    def network() -> None:
        torch.nn.functional.conv_transpose2d(x, weight, bias, stride=2, padding=1, output_padding=1)

    (recorded,) = profiler.convolution_calls(network)
    assert recorded.transposed and recorded.bias
    assert (recorded.input_shape, recorded.weight_shape) == ((1, 8, 6, 5), (8, 4, 4, 4))
    assert (recorded.stride, recorded.padding, recorded.output_padding) == ((2, 2), (1, 1), (1, 1))
    flops, seconds = profiler.time_convolution(
        recorded, weight_grad=False, input_grad=False, repeats=1, autocast=contextlib.nullcontext
    )
    # Every input pixel meets all 4x4 taps of every (in, out) channel pair.
    assert flops == pytest.approx(2 * 8 * 4 * 16 * 6 * 5 / 1e9) and seconds > 0


def test_a_results_command_can_be_pasted_into_a_shell(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["train.py", "--heading", "## Training, native bf16", "--quick"])
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("ATEN_CPU_CAPABILITY", raising=False)
    command = results.command_line("bench/train.py")
    assert command == (
        "ONEDNN_MAX_CPU_ISA=AVX2 .venv/bin/python bench/train.py --heading '## Training, native bf16' --quick"
    )


def test_the_allocator_comparison_times_both_settings_and_the_retained_heap_faults_less(tmp_path):
    results_file = tmp_path / "RESULTS.md"
    # A stand-in for ../shared/bench/yardstick.py, which a clean clone does not have, built the same
    # way: a module-level pass `unit` over convolutions, timed as the script loads. Its maps (36 MiB)
    # are above the largest mmap threshold that glibc's malloc adopts as it goes (32 MiB), so the
    # system allocator maps fresh pages for them on every pass; on the yardstick's own 12 MB maps it
    # may serve them from its heap after the first pass, and whether it then trims that heap and
    # faults again varies from run to run.
    yardstick = tmp_path / "yardstick.py"
    yardstick.write_text(
        "import sys, torch\n"
        "x = torch.randn(1, 16, 768, 768, requires_grad=True)\n"
        "conv = torch.nn.Conv2d(16, 16, 3, padding=1)\n"
        "def unit():\n    conv(x).square().mean().backward()\n"
        "unit()\nprint(int(sys.argv[1]))\n"
    )
    command = [
        sys.executable, str(BENCH / "allocator.py"), "--workloads", "tryon-1,yardstick", "--rounds", "1",
        "--repeats", "2", "--warmup", "4", "--threads", "1", "--precision", "fp32",
        "--write", str(results_file),
    ]  # the retained heap grows over its first three or four passes, faulting in pages until then
    environment = {**os.environ, machine.YARDSTICK_ENV: str(yardstick)}
    subprocess.run(
        command, capture_output=True, text=True, check=True, cwd=BENCH, timeout=300, env=environment
    )
    section = results_file.read_text()
    assert "## Allocator" in section and "Command: `" in section
    (yardstick_line,) = [line for line in section.splitlines() if line.startswith("| the yardstick")]
    yardstick_cells = [cell.strip() for cell in yardstick_line.strip("|").split("|")]
    assert int(yardstick_cells[4]) > int(yardstick_cells[5])
    (line,) = [line for line in section.splitlines() if line.startswith("| try-on, default, 1 garment")]
    cells = [cell.strip() for cell in line.strip("|").split("|")]
    system_s, retained_s = (float(cell.split()[0]) for cell in cells[1:3])
    # The speed-up comes from the unrounded medians: within what the shown (3-decimal) ones allow.
    half = 0.0005
    lowest, highest = (system_s - half) / (retained_s + half), (system_s + half) / (retained_s - half)
    assert lowest - 0.005 <= float(cells[3].removesuffix("x")) <= highest + 0.005
    system_faults, retained_faults = int(cells[4]), int(cells[5])
    # A 256x192 try-on's activations are above glibc's starting mmap threshold: fresh pages every pass
    # with the system malloc. The retained heap may still grow over the first passes (how far depends
    # on the CPU's kernels and their scratch sizes); test_allocator.py checks that a settled one stops.
    assert system_faults > retained_faults


def test_a_failed_try_on_configuration_is_a_row_with_its_error_and_the_others_still_run(monkeypatch):
    def fake_run_child(args, preset: str, size: str, batch: int, precision: str) -> list[dict]:
        if batch == 32:
            raise infer.ConfigurationFailed(["infer.py"], "torch.OutOfMemoryError: CUDA out of memory\n")
        return [
            {"preset": preset, "size": size, "batch": batch, "precision": precision, "memory_format": "contiguous",
             "median_s": 0.1 * batch, "min_s": 0.1 * batch, "max_s": 0.1 * batch, "gflop_per_tryon": 4.0,
             "peak_rss_gb": 0.01, "peak_cuda_gb": 1.0}
        ]  # fmt: skip

    class Yardsticks:
        so_far = machine.unit_from([0.25])

        def after_configuration(self) -> None:
            return None

    monkeypatch.setattr(infer, "run_child", fake_run_child)
    args = argparse.Namespace(presets="default", sizes="64x48,128x96", batches="1,32", max_seconds=120.0)
    entries = infer.table(args, "bf16", Yardsticks())
    failed = [entry for entry in entries if isinstance(entry, str)]
    measured = [entry[0] for entry in entries if not isinstance(entry, str)]
    assert [(result["size"], result["batch"]) for result in measured] == [("64x48", 1), ("128x96", 1)]
    assert [line.split("|")[2].strip() for line in failed] == ["64x48", "128x96"]
    assert all("| failed: torch.OutOfMemoryError: CUDA out of memory " in line for line in failed)
    assert all(line.count("|") == infer.HEADER.splitlines()[0].count("|") for line in failed)
    assert infer.count_failed(entries) == 2
