"""Where the time goes: one training step of each stage and one try-on, for both presets.

For each workload (in a fresh process) it writes:
- the top operators by self CPU time under `torch.profiler`, forward and backward together;
- each network's achieved GFLOP/s against the yardstick's: the network is run again alone on the
  inputs it received in the step (forward and, when it trains in that stage or passes gradients on,
  backward) and timed, its FLOPs counted with `torch.utils.flop_counter`;
- the same for its convolutions alone: each convolution it made (a layer's, or a functional one
  such as the U-Nets' folded upsampling) run by itself at the shape it saw, with the same
  gradients, the times summed. Their GFLOP/s is what the network's layer shapes
  allow on this CPU (narrow layers run below the yardstick's 64 channels); the network's own
  GFLOP/s below it is time lost between and around the convolutions;
- oneDNN's own account of one more pass (`ONEDNN_VERBOSE`): the time of its primitives by kind
  and pass, the layout reorders it makes around the convolutions included;
- a Chrome trace (`chrome://tracing` or https://ui.perfetto.dev) under --traces.

    .venv/bin/python bench/profiler.py --write bench/RESULTS.md
    .venv/bin/python bench/profiler.py --workloads tryon --memory-format channels_last   # the old layout
    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 .venv/bin/python bench/profiler.py   # no-bf16 CPU

--write rewrites RESULTS.md's `## Profile` only; what its tables mean, and what was changed because
of them, is hand-written in `## Where the time goes`, which a rerun leaves as it is.

Run it with nothing else on the machine: a busy core halves every figure. (Not `profile.py`: that
name would shadow the standard library's `profile`, which torch imports.)
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from child import run_json
from infer import synthetic_tryon
from machine import Unit, YardstickRun, detect, percent
from results import command_line, write_section

from tryon.precision import resolve_precision

HEADING = "## Profile"
WORKLOADS = ("sgm", "warp", "fusion", "tryon")
TOP_OPERATORS = 12
ONEDNN_NOTE = (
    " The last table is oneDNN's own account of one more pass, from its verbose lines: its primitives'"
    " time by kind and pass, with the reorders it makes between ATen's layouts and its blocked ones."
)
TRYON_LAYOUTS = {"auto": None, "channels_last": True, "contiguous": False}
"""--memory-format names and `TryOnPipeline`'s `channels_last` for each."""


@dataclass
class Captured:
    """What one network received in the step, to run it again alone."""

    args: tuple
    kwargs: dict
    trains: bool  # whether its weights are trained in this step


def tensors_in(value) -> list:
    """Every tensor inside `value` (tensors, tuples, lists, dicts and dataclasses, nested)."""
    import dataclasses

    import torch

    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [tensor for item in value for tensor in tensors_in(item)]
    if isinstance(value, dict):
        return [tensor for item in value.values() for tensor in tensors_in(item)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [
            tensor for field in dataclasses.fields(value) for tensor in tensors_in(getattr(value, field.name))
        ]
    return []


def detached(value):
    """`value` with every tensor detached and cloned; gradients required where they were."""
    import dataclasses

    import torch

    if isinstance(value, torch.Tensor):
        return value.detach().clone().requires_grad_(value.requires_grad)
    if isinstance(value, tuple):
        return tuple(detached(item) for item in value)
    if isinstance(value, list):
        return [detached(item) for item in value]
    if isinstance(value, dict):
        return {key: detached(item) for key, item in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = [field.name for field in dataclasses.fields(value) if field.init]
        return dataclasses.replace(value, **{name: detached(getattr(value, name)) for name in fields})
    return value


def networks_of(workload: str, subject) -> dict:
    """The networks whose GFLOP/s is reported: the generators' children, the discriminators' and VGG19."""
    if workload == "tryon":
        return dict(subject.generators.named_children())
    found = {f"generators.{name}": module for name, module in subject.generators.named_children()}
    found |= {f"discriminators.{name}": module for name, module in subject.discriminators.named_children()}
    if subject.vgg is not None:
        found["vgg"] = subject.vgg
    return found


def capture_inputs(networks: dict, run) -> dict[str, Captured]:
    """Run `run()` once and keep each network's first call's inputs."""
    captured: dict[str, Captured] = {}
    handles = []
    for name, module in networks.items():

        def keep(module, args, kwargs, name=name):
            if name not in captured:
                trains = any(parameter.requires_grad for parameter in module.parameters())
                captured[name] = Captured(detached(args), detached(kwargs), trains)

        handles.append(module.register_forward_pre_hook(keep, with_kwargs=True))
    try:
        run()
    finally:
        for handle in handles:
            handle.remove()
    return captured


def time_network(module, inputs: Captured, *, repeats: int, inference: bool, autocast) -> dict:
    """One network alone on its captured inputs: FLOPs and median seconds per call."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    backward = not inference and (
        inputs.trains or any(tensor.requires_grad for tensor in tensors_in((inputs.args, inputs.kwargs)))
    )

    def call() -> None:
        with torch.inference_mode(inference), autocast():
            output = module(*inputs.args, **inputs.kwargs)
        if backward:
            differentiable = [tensor for tensor in tensors_in(output) if tensor.requires_grad]
            if differentiable:
                sum(tensor.float().sum() for tensor in differentiable).backward()

    with FlopCounterMode(display=False) as counter:
        convolutions = convolution_calls(call)
    seconds = median_seconds(call, repeats=repeats)
    module.zero_grad(set_to_none=True)
    alone = [
        time_convolution(
            convolution,
            weight_grad=backward and convolution.weight_grad,
            input_grad=backward and convolution.input_grad,
            repeats=repeats,
            autocast=autocast,
        )
        for convolution in convolutions
    ]
    return {
        "gflop": counter.get_total_flops() / 1e9,
        "seconds": seconds,
        "backward": backward,
        "convolutions_gflop": sum(gflop for gflop, _ in alone),
        "convolutions_seconds": sum(seconds for _, seconds in alone),
    }


def median_seconds(call, *, repeats: int) -> float:
    """Median wall time of `call()` over `repeats` calls after one untimed call."""
    call()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


@dataclass(frozen=True)
class Convolution:
    """One 2-D convolution call as a network made it: shapes, hyperparameters and gradients."""

    input_shape: tuple
    weight_shape: tuple
    bias: bool
    stride: tuple
    padding: tuple
    dilation: tuple
    groups: int
    dtype: object
    device: object
    channels_last: bool
    input_grad: bool  # a gradient reached its input
    weight_grad: bool  # a gradient reached its weight (a layer's, or one derived from it)
    transposed: bool = False  # `F.conv_transpose2d` (the try-on's upsampling), with `output_padding`
    output_padding: tuple = (0, 0)


def convolution_calls(call) -> list[Convolution]:
    """Run `call()` once; every 2-D convolution it made, layers' and functional ones alike (the
    discriminators' condition split and the U-Nets' folded upsampling call `F.conv2d` directly, a
    try-on's upsampling `F.conv_transpose2d`)."""
    import torch
    from torch.overrides import TorchFunctionMode

    seen = []

    def pair(value) -> tuple:
        return tuple(value) if isinstance(value, (tuple, list)) else (value, value)

    class Record(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            transposed = func is torch.nn.functional.conv_transpose2d
            if func is torch.nn.functional.conv2d or transposed:
                names = ("input", "weight", "bias", "stride", "padding")
                names += ("output_padding", "groups", "dilation") if transposed else ("dilation", "groups")
                given = dict(zip(names, args)) | kwargs
                x, weight = given["input"], given["weight"]
                seen.append(
                    Convolution(
                        input_shape=tuple(x.shape),
                        weight_shape=tuple(weight.shape),
                        bias=given.get("bias") is not None,
                        stride=pair(given.get("stride", 1)),
                        padding=pair(given.get("padding", 0)),
                        dilation=pair(given.get("dilation", 1)),
                        groups=given.get("groups", 1),
                        dtype=weight.dtype,
                        device=weight.device,
                        channels_last=weight.is_contiguous(memory_format=torch.channels_last)
                        and not weight.is_contiguous(),
                        input_grad=x.requires_grad,
                        weight_grad=weight.requires_grad,
                        transposed=transposed,
                        output_padding=pair(given.get("output_padding", 0)),
                    )
                )
            return func(*args, **kwargs)

    with Record():
        call()
    return seen


def time_convolution(
    convolution: Convolution, *, weight_grad: bool, input_grad: bool, repeats: int, autocast
) -> tuple[float, float]:
    """One convolution alone, on random tensors of the shapes it saw: its GFLOP and median seconds,
    forward and, for the gradients asked for (its weight's and its input's), backward."""
    import torch
    import torch.nn.functional as F
    from torch.utils.flop_counter import FlopCounterMode

    layout = torch.channels_last if convolution.channels_last else torch.contiguous_format
    like = {"dtype": convolution.dtype, "device": convolution.device}
    x = torch.randn(convolution.input_shape, **like).contiguous(memory_format=layout)
    weight = torch.randn(convolution.weight_shape, **like).contiguous(memory_format=layout)
    # A transposed convolution's weight is (in, out / groups, kh, kw).
    out_channels = (
        convolution.weight_shape[1] * convolution.groups if convolution.transposed else convolution.weight_shape[0]
    )
    bias = torch.randn(out_channels, **like) if convolution.bias else None
    x.requires_grad_(input_grad)
    weight.requires_grad_(weight_grad)
    if bias is not None:
        bias.requires_grad_(weight_grad)
    backward = input_grad or weight_grad
    wanted = [tensor for tensor in (x, weight, bias) if tensor is not None and tensor.requires_grad]

    hyperparameters = {
        "stride": convolution.stride,
        "padding": convolution.padding,
        "dilation": convolution.dilation,
        "groups": convolution.groups,
    }

    def call() -> None:
        with torch.inference_mode(not backward), autocast():
            if convolution.transposed:
                output = F.conv_transpose2d(
                    x, weight, bias, output_padding=convolution.output_padding, **hyperparameters
                )
            else:
                output = F.conv2d(x, weight, bias, **hyperparameters)
        if backward:
            torch.autograd.grad(output.float().sum(), wanted)

    with FlopCounterMode(display=False) as counter:
        call()
    return counter.get_total_flops() / 1e9, median_seconds(call, repeats=repeats)


def native_stdout(call) -> str:
    """What `call` writes to the process's standard output from native code, such as oneDNN's
    verbose lines: captured at the file descriptor, which C's stdio writes to and Python's
    `sys.stdout` does not see."""
    libc = ctypes.CDLL(None)
    sys.stdout.flush()
    libc.fflush(None)
    saved = os.dup(1)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 1)
        try:
            call()
        finally:
            libc.fflush(None)  # C's buffered output goes to the capture, not to the restored stdout
            os.dup2(saved, 1)
            os.close(saved)
        captured.seek(0)
        return captured.read().decode(errors="replace")


def onednn_primitives(verbose: str) -> list[dict]:
    """oneDNN's executed primitives in its verbose output, summed by kind and pass, longest first:
    `{"kind", "pass", "implementations", "ms", "calls"}`. A line reads `onednn_verbose,...,exec,
    <engine>,<kind>,<implementation>,<pass>,<layouts>,...,<milliseconds>`; other lines are skipped."""
    totals: dict[tuple[str, str], dict] = {}
    for line in verbose.splitlines():
        fields = line.strip().split(",")
        if not fields[0].startswith("onednn_verbose") or "exec" not in fields:
            continue
        at = fields.index("exec")
        try:
            kind, implementation, propagation = fields[at + 2 : at + 5]
            milliseconds = float(fields[-1])
        except ValueError:  # a truncated line
            continue
        entry = totals.setdefault(
            (kind, propagation),
            {"kind": kind, "pass": propagation, "implementations": set(), "ms": 0.0, "calls": 0},
        )
        entry["implementations"].add(implementation)
        entry["ms"] += milliseconds
        entry["calls"] += 1
    rows = sorted(totals.values(), key=lambda entry: entry["ms"], reverse=True)
    return [{**row, "implementations": sorted(row["implementations"])} for row in rows]


def onednn_account(run) -> list[dict] | None:
    """`onednn_primitives` of one call of `run` under oneDNN's verbose mode; None where this
    PyTorch has no oneDNN."""
    import torch

    if not torch.backends.mkldnn.is_available():
        return None

    def verbose_run() -> None:
        with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
            run()

    return onednn_primitives(native_stdout(verbose_run))


def profile_workload(args: argparse.Namespace) -> dict:
    """Runs inside the subprocess: profile one workload, return its tables as JSON."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.workload == "tryon":
        subject, run, autocast, inference = tryon_workload(args)
    else:
        from train import build_trainer

        subject, batch = build_trainer(
            stage=args.workload,
            preset=args.preset,
            size=args.size,
            batch=args.batch,
            device=torch.device("cpu"),
            precision=args.precision,
        )
        micro_batches = [(list(range(args.batch)), batch)]

        def run() -> None:
            subject.train_step(micro_batches, epoch=0)

        autocast, inference = subject.precision.autocast, False
    run()  # warm-up: oneDNN primitives, optimizer state
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        started = time.perf_counter()
        run()
        profiled = time.perf_counter() - started
    args.traces.mkdir(parents=True, exist_ok=True)
    trace = args.traces / f"{args.preset}_{args.workload}_{args.size}.json"
    profiler.export_chrome_trace(str(trace))
    primitives = onednn_account(run)
    events = profiler.key_averages()
    total = sum(event.self_cpu_time_total for event in events)
    top = sorted(events, key=lambda event: event.self_cpu_time_total, reverse=True)[:TOP_OPERATORS]
    operators = [
        {
            "name": event.key,
            "ms": event.self_cpu_time_total / 1e3,
            "share": event.self_cpu_time_total / total,
            "calls": event.count,
        }
        for event in top
    ]
    networks = networks_of(args.workload, subject)
    captured = capture_inputs(networks, run)
    timed = {
        name: time_network(
            networks[name], inputs, repeats=args.repeats, inference=inference, autocast=autocast
        )
        for name, inputs in captured.items()
    }
    return {
        "step_s": profiled,
        "operators": operators,
        "onednn": primitives,
        "networks": timed,
        "trace": str(trace),
    }


def tryon_workload(args: argparse.Namespace):
    """A try-on with random weights on a precomputed person: (pipeline, run, autocast, inference)."""

    from tryon.config import ModelConfig, Resolution
    from tryon.nets import TryOnGenerators
    from tryon.pipeline import TryOnPipeline

    resolution = Resolution.parse(args.size)
    config = ModelConfig.from_preset(args.preset, resolution)
    pipeline = TryOnPipeline(
        TryOnGenerators.from_config(config),
        config,
        precision=args.precision,
        channels_last=TRYON_LAYOUTS[args.memory_format],
    )
    person, garment, garment_mask = synthetic_tryon(pipeline, garments=args.batch)

    def run() -> None:
        pipeline(person, garment, garment_mask)

    return pipeline, run, pipeline.precision.autocast, True


def run_child(args: argparse.Namespace, preset: str, workload: str) -> dict:
    command = [
        sys.executable,
        __file__,
        "--child",
        "--preset",
        preset,
        "--workload",
        workload,
        "--size",
        args.size,
        "--batch",
        str(args.batch),
        "--threads",
        str(args.threads),
        "--precision",
        args.precision,
        "--memory-format",
        args.memory_format,
        "--repeats",
        str(args.repeats),
        "--traces",
        str(args.traces),
    ]
    return run_json(command)


def tables(preset: str, workload: str, result: dict, unit: Unit) -> str:
    """The markdown of one workload: networks against `unit` (the yardstick timed on either side of
    the workload), then the top operators."""
    lines = [
        (
            f"### {preset}, {workload}: {result['step_s']:.3f} s profiled "
            f"({unit.units(result['step_s']):.2f} units); trace `{result['trace']}`"
        ),
        "",
        (
            "| network | run alone | GFLOP | median s | GFLOP/s | vs unit | vs unit, same allocator "
            "| its convolutions alone: share of GFLOP | their GFLOP/s vs unit |"
        ),
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, timed in result["networks"].items():
        rate = timed["gflop"] / timed["seconds"]
        same_allocator = unit.same_allocator_efficiency(flop=timed["gflop"] * 1e9, seconds=timed["seconds"])
        convolutions = (
            f"{timed['convolutions_gflop'] / timed['gflop']:.0%} | "
            f"{timed['convolutions_gflop'] / timed['convolutions_seconds'] / unit.gflop_per_s:.0%}"
            if timed["convolutions_seconds"]
            else "- | -"
        )
        lines.append(
            f"| {name} | {'forward + backward' if timed['backward'] else 'forward'} | {timed['gflop']:.2f} | "
            f"{timed['seconds']:.4f} | {rate:.0f} | {rate / unit.gflop_per_s:.0%} | "
            f"{percent(same_allocator)} | {convolutions} |"
        )
    lines += ["", "| operator (self CPU) | ms | share | calls |", "|---|---|---|---|"]
    lines += [
        f"| `{operator['name']}` | {operator['ms']:.1f} | {operator['share']:.0%} | {operator['calls']} |"
        for operator in result["operators"]
    ]
    if result.get("onednn"):
        total = sum(row["ms"] for row in result["onednn"])
        lines += [
            "",
            f"oneDNN's own account of one more pass: {total:.1f} ms in its primitives.",
            "",
            "| oneDNN primitive | pass | implementations | ms | share | calls |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {row['kind']} | {'-' if row['pass'] == 'undef' else row['pass']} | "
            f"{', '.join(f'`{name}`' for name in row['implementations'])} | "
            f"{row['ms']:.1f} | {row['ms'] / total:.0%} | {row['calls']} |"
            for row in result["onednn"]
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--presets", default="default,original")
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--size", default="256x192")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precision", default="fp32", choices=("auto", "bf16", "fp32"))
    parser.add_argument(
        "--memory-format",
        default="auto",
        choices=tuple(TRYON_LAYOUTS),
        help="The try-on's weight layout (auto: the device's, `tryon.precision.inference_memory_format`).",
    )
    parser.add_argument("--repeats", type=int, default=3, help="Timed calls of each network alone (median).")
    parser.add_argument(
        "--traces", type=Path, default=Path("bench/traces"), help="Folder for the Chrome traces."
    )
    parser.add_argument("--write", type=Path, help=f"Results file whose {HEADING} section to (re)write.")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--preset", help=argparse.SUPPRESS)
    parser.add_argument("--workload", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(profile_workload(args)))
        return
    precision = resolve_precision(args.precision, "cpu").name
    args.precision = precision
    machine = detect("cpu", threads=args.threads)
    print(f"Machine: {machine.describe(precision)}", flush=True)
    yardsticks = YardstickRun("cpu")
    parts = []
    for preset in args.presets.split(","):
        for workload in args.workloads.split(","):
            result = run_child(args, preset, workload)
            parts.append(tables(preset, workload, result, yardsticks.after_configuration()))
    unit = yardsticks.finish()
    text = "\n\n".join(parts)
    print(f"{unit.describe()}\n\n{text}", flush=True)
    if args.write:
        command = command_line("bench/profiler.py")
        write_section(
            args.write,
            HEADING,
            f"{HEADING}\n\nCommand: `{command}`\n({time.strftime('%Y-%m-%d')}; "
            f"{machine.describe(precision)}; {unit.describe()}; {args.size}, batch {args.batch}; "
            f"try-on weights {args.memory_format}).\n\n"
            "Each network is run again alone on the inputs it received in the step; `vs unit` is its "
            "GFLOP/s over the yardstick's (four fp32 3x3 convolutions of 64 channels), `same allocator` "
            "over the yardstick's run with tryon's allocator, which the step runs with; each workload's "
            "unit is the yardstick timed just before and just after it. `its "
            "convolutions alone` runs each convolution it made (its layers', and functional ones such "
            "as the folded upsampling) by itself at the shape it saw, with the same gradients: the rate its layer shapes allow on this CPU, so that the "
            "network's rate below it is time spent between and around the convolutions."
            f"{ONEDNN_NOTE}\n\n" + text + "\n",
        )


if __name__ == "__main__":
    main()
