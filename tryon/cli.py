"""The `tryon` command line: a thin layer over the package.

Heavy modules (torch, OpenCV) are imported inside the commands so that `tryon --help` stays instant.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from tryon.config import DataConfig, EvalConfig, Resolution, load_params

app = typer.Typer(help="ACGPN virtual try-on: data, training, evaluation and serving.", no_args_is_help=True)
data_app = typer.Typer(help="Create, import, check and preview datasets in the ACGPN/VITON layout.", no_args_is_help=True)
app.add_typer(data_app, name="data")

SizeOption = Annotated[str, typer.Option("--size", help="Image size HxW: 256x192, 512x384 or 1024x768.")]
PhaseOption = Annotated[str, typer.Option("--phase", help="Dataset phase: train or test.")]
ParamsOption = Annotated[
    Path | None,
    typer.Option("--params", help="params.yaml to read; built-in defaults when omitted.", exists=True, dir_okay=False),
]


def _resolution(size: str) -> Resolution:
    try:
        return Resolution.parse(size)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--size") from None


def _fail(message: str) -> typer.Exit:
    typer.secho(message, err=True, fg=typer.colors.RED)
    return typer.Exit(code=1)


@data_app.command("synth")
def data_synth(
    out: Annotated[Path, typer.Option("--out", help="Dataset root to write.")],
    n: Annotated[int, typer.Option("--n", min=2, help="Number of training pairs.")] = 64,
    n_test: Annotated[
        int | None, typer.Option("--n-test", min=2, help="Test pairs; a quarter of --n (at least 2) by default.")
    ] = None,
    size: SizeOption = "256x192",
    seed: Annotated[int, typer.Option("--seed", help="Random seed; the same seed writes identical files.")] = 0,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="Processes; all cores by default.")] = None,
) -> None:
    """Write a synthetic dataset with exact ground truth (layouts, poses, unpaired try-on targets)."""
    from tryon.data.synthetic import generate_dataset

    summary = generate_dataset(
        out, n_train=n, n_test=n_test or max(2, n // 4), resolution=_resolution(size), seed=seed, workers=workers
    )
    typer.echo(
        f"synth: wrote {summary.n_train} train + {summary.n_test} test pairs at {summary.resolution} "
        f"to {summary.root} in {summary.seconds:.1f} s"
    )


@data_app.command("validate")
def data_validate(
    root: Annotated[Path, typer.Argument(help="Dataset root in the ACGPN/VITON layout.")],
    size: SizeOption = "256x192",
    phase: Annotated[list[str] | None, typer.Option("--phase", help="Phases to check; all present by default.")] = None,
    max_pixels: Annotated[
        int, typer.Option("--max-pixels", min=1, help="Images with more pixels are refused as decompression bombs.")
    ] = DataConfig.max_image_pixels,
) -> None:
    """Check a whole dataset and report every problem with its file; exits 1 when any is found."""
    from tryon.data.validate import validate_dataset

    report = validate_dataset(root, resolution=_resolution(size), phases=phase, max_image_pixels=max_pixels)
    for problem in report.problems:
        typer.echo(str(problem), err=True)
    if not report.ok:
        raise _fail(report.summary())
    typer.echo(report.summary())


@data_app.command("add-garments")
def data_add_garments(
    src_dir: Annotated[Path, typer.Argument(help="Folder of laydown product photos (JPEG/PNG, white background).", exists=True, file_okay=False)],
    root: Annotated[Path, typer.Argument(help="Dataset root to add the garments to.")],
    phase: PhaseOption = "train",
    size: SizeOption = "256x192",
) -> None:
    """Mask, centre and resize garment photos into {phase}_color and {phase}_edge; reports refused files."""
    from tryon.data.garments import add_garments

    report = add_garments(src_dir, root, phase=phase, resolution=_resolution(size))
    for problem in report.refused:
        typer.echo(f"refused {problem}", err=True)
    typer.echo(report.summary())
    if report.refused:
        raise typer.Exit(code=1)


@data_app.command("preview")
def data_preview(
    root: Annotated[Path, typer.Argument(help="Dataset root.")],
    out: Annotated[Path, typer.Option("--out", help="PNG file to write.")] = Path("preview.png"),
    phase: PhaseOption = "train",
    samples: Annotated[int, typer.Option("--samples", min=1, help="Number of pairs to show.")] = 4,
) -> None:
    """Write a contact sheet of samples: person, layout, pose, garment and garment mask."""
    from tryon.data.layout import DatasetLayout
    from tryon.data.preview import write_preview

    typer.echo(f"preview: {write_preview(DatasetLayout(root, phase), out, samples=samples)}")


@app.command("train")
def train(
    data: Annotated[Path, typer.Option("--data", help="Dataset root (its train phase is used).")],
    out: Annotated[Path, typer.Option("--out", help="Run folder; each stage writes OUT/STAGE/checkpoint.pt, stats, grids.")] = Path("models"),
    stage: Annotated[str, typer.Option("--stage", help="sgm (G1, G2), warp (TPS + refinement), fusion (G3) or all.")] = "all",
    params: ParamsOption = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue interrupted stages from their checkpoints.")] = False,
    device: Annotated[
        str | None, typer.Option("--device", help="cpu, cuda or cuda:N; CUDA when available by default.")
    ] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
) -> None:
    """Train ACGPN stage by stage; run under `torchrun --nproc_per_node=N` for several devices."""
    import logging

    from tryon.train import train as run_training

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = load_params(params)
    try:
        checkpoint = run_training(
            stage=stage,
            data_root=data,
            out_dir=out,
            model_config=settings.model,
            config=settings.train,
            resume=resume,
            device=device,
            progress=progress,
        )
    except (FileNotFoundError, FileExistsError, ValueError) as error:
        raise _fail(f"train: {error}") from None
    typer.echo(f"train: {checkpoint}")


@app.command("infer")
def infer(
    data: Annotated[Path, typer.Option("--data", help="Dataset root holding the persons and garments.")],
    out: Annotated[Path, typer.Option("--out", help="PNG file (one pair) or folder (--pairs).")],
    checkpoint: Annotated[Path | None, typer.Option("--checkpoint", help="Trained checkpoint (tryon train).")] = None,
    person: Annotated[str | None, typer.Option("--person", help="Person image name, e.g. 000001_0.jpg.")] = None,
    garment: Annotated[str | None, typer.Option("--garment", help="Garment image name, e.g. 000002_1.jpg.")] = None,
    pairs: Annotated[
        Path | None, typer.Option("--pairs", help="Pairs file (`PERSON.jpg GARMENT.jpg` lines) for a batch.", exists=True, dir_okay=False)
    ] = None,
    phase: PhaseOption = "test",
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Pairs per forward pass.")] = 8,
    device: Annotated[str, typer.Option("--device", help="cpu, cuda or cuda:N.")] = "cpu",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the generators' noise.")] = 0,
) -> None:
    """Put a garment on a person (--person/--garment) or run a whole pairs file (--pairs)."""
    if checkpoint is None:
        raise _fail(
            "infer: --checkpoint is required; an untrained model's output is never presented as a try-on. "
            "Train one with `tryon train` (or `make demo`)."
        )
    if (pairs is None) == (person is None or garment is None):
        raise _fail("infer: give either --person and --garment, or --pairs")
    import torch

    from tryon.data.dataset import TryOnDataset
    from tryon.data.layout import Pair, parse_pairs
    from tryon.inference import try_on_pairs
    from tryon.pipeline import TryOnPipeline

    torch.manual_seed(seed)
    pipeline = TryOnPipeline.from_checkpoint(checkpoint, device=device)
    selected = parse_pairs(pairs.read_text(), source=str(pairs)) if pairs else [Pair(person, garment)]
    dataset = TryOnDataset(data, phase=phase, resolution=pipeline.config.resolution, pairs=selected)
    out_dir = out if pairs else Path(tempfile.mkdtemp(dir=out.parent if out.parent.exists() else None))
    try:
        results = try_on_pairs(pipeline, dataset, out_dir=out_dir, batch_size=batch_size)
    except FileNotFoundError as error:
        raise _fail(f"infer: {error}") from None
    if pairs is None:
        out.parent.mkdir(parents=True, exist_ok=True)
        os.replace(results[0].path, out)
        shutil.rmtree(out_dir)
        typer.echo(f"infer: {out}")
    else:
        typer.echo(f"infer: wrote {len(results)} try-on images to {out}")


@app.command("evaluate")
def evaluate(
    checkpoint: Annotated[Path, typer.Option("--checkpoint", help="Trained checkpoint; its EMA weights are evaluated.")],
    data: Annotated[Path, typer.Option("--data", help="Dataset root.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for metrics.json, report.html, grids and figures.")] = Path("models/eval"),
    phase: PhaseOption = "test",
    baseline: Annotated[
        Path | None, typer.Option("--baseline", help="Previous metrics.json; exit 1 if a metric regressed.", exists=True, dir_okay=False)
    ] = None,
    max_regression: Annotated[
        float, typer.Option("--max-regression", min=0.0, help="Allowed relative worsening per metric, e.g. 0.01.")
    ] = EvalConfig.max_regression,
    stats: Annotated[
        list[Path] | None,
        typer.Option("--stats", help="Training stats.jsonl for the loss curves; repeat for each stage.", exists=True, dir_okay=False),
    ] = None,
    inception: Annotated[
        Path, typer.Option("--inception", help="TorchScript FID Inception (inception-2015-12-05.pt); FID/KID are skipped without it.")
    ] = EvalConfig.inception_weights,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Pairs per forward pass.")] = 8,
    device: Annotated[str, typer.Option("--device", help="cpu, cuda or cuda:N.")] = "cpu",
) -> None:
    """Compute metrics on a split, write the report, and optionally gate against a previous run."""
    from tryon.eval.run import check_against_baseline, evaluate_checkpoint
    from tryon.eval.summary import headline
    from tryon.eval.weights import EvalWeights

    outcome = evaluate_checkpoint(
        checkpoint=checkpoint, data=data, out_dir=out, weights=EvalWeights(inception=inception), phase=phase,
        batch_size=batch_size, device=device, training_stats=stats or (),
    )
    for name, note in sorted(outcome.result.notes.items()):
        typer.echo(f"{name}: {note}")
    for line in headline(outcome.result.metrics):
        typer.echo(line)
    typer.echo(f"evaluate: report {outcome.paths.report_html}\nevaluate: metrics {outcome.paths.metrics_json}")
    typer.echo(f"evaluate: per-sample table {outcome.paths.samples_csv}")
    if baseline is not None:
        try:
            gate = check_against_baseline(outcome.result.metrics, baseline, max_regression=max_regression)
        except ValueError as error:
            raise _fail(f"quality gate: {error}") from None
        typer.echo(gate.summary())
        if not gate.passed:
            raise typer.Exit(code=1)


@app.command("demo")
def demo(
    out: Annotated[Path, typer.Option("--out", help="Run folder for the dataset, models and report.")] = Path("runs/demo"),
    params: Annotated[
        Path, typer.Option("--params", help="params.yaml with a demo-sized training budget.", exists=True, dir_okay=False)
    ] = Path("params.yaml"),
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show training progress bars.")] = True,
) -> None:
    """The main job on the built-in default: synthetic data, validation, staged training, evaluation."""
    import logging

    from tryon.demo import InvalidDataset, run_demo

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        outputs = run_demo(out=out, params=load_params(params), log=typer.echo, progress=progress)
    except InvalidDataset as error:
        raise _fail(str(error)) from None
    typer.echo(f"report:   {outputs.report_html}")
    typer.echo(f"metrics:  {outputs.metrics_json}")
    typer.echo(f"try-ons:  {outputs.tryon_grid}")
    typer.echo(f"model:    {outputs.checkpoint}")


if __name__ == "__main__":
    app()
