"""`tryon train`, `infer` and `evaluate`: the commands that run the networks (`tryon demo` runs the
pipeline: tryon/cli/pipeline.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tryon.cli.app import DeviceOption, ParamsOption, PhaseOption, ProgressOption, app, fail, reported_errors
from tryon.config import EvalConfig, load_params

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@app.command("train")
def train(
    data: Annotated[Path, typer.Option("--data", help="Dataset root (its train phase is used).")],
    out: Annotated[Path, typer.Option("--out", help="Run folder; each stage writes OUT/STAGE/checkpoint.pt, stats, grids.")] = Path("models"),
    stage: Annotated[str, typer.Option("--stage", help="sgm (G1, G2), warp (TPS + refinement), fusion (G3) or all.")] = "all",
    params: ParamsOption = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue interrupted stages (and stages stopped by a time budget that is now larger) "
            "from their checkpoints; refused when the batch size, world size or schedule differ.",
        ),
    ] = False,
    device: DeviceOption = None,
    progress: ProgressOption = True,
) -> None:
    """Train ACGPN stage by stage; run under `torchrun --nproc_per_node=N` for several devices."""
    import logging

    from tryon.train import train as run_training

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    with reported_errors("train"):
        settings = load_params(params)
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
    device: DeviceOption = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the generators' noise.")] = 0,
    progress: ProgressOption = True,
) -> None:
    """Put a garment on a person (--person/--garment) or run a whole pairs file (--pairs).

    The checkpoint must be the end of a finished fusion stage (models/fusion/checkpoint.pt).
    """
    if checkpoint is None:
        raise fail(
            "infer: --checkpoint is required; an untrained model's output is never presented as a try-on. "
            "Train one with `tryon train` (or `make demo`)."
        )
    if (pairs is None) == (person is None or garment is None):
        raise fail("infer: give either --person and --garment, or --pairs")
    if pairs is None and out.suffix.lower() not in IMAGE_SUFFIXES:
        raise fail(f"infer: --out {out} must name an image file ending in one of {', '.join(IMAGE_SUFFIXES)}")
    import torch

    from tryon.data.dataset import TryOnDataset
    from tryon.data.layout import Pair, parse_pairs
    from tryon.inference import load_trained_pipeline, try_on_pair, try_on_pairs

    with reported_errors("infer"):
        pipeline = load_trained_pipeline(checkpoint, device=device)
        selected = parse_pairs(pairs.read_text(), source=str(pairs)) if pairs else [Pair(person, garment)]
        dataset = TryOnDataset(data, phase=phase, resolution=pipeline.config.resolution, pairs=selected)
        torch.manual_seed(seed)
        if pairs is None:
            typer.echo(f"infer: {try_on_pair(pipeline, dataset, out=out)}")
            return
        results = try_on_pairs(pipeline, dataset, out_dir=out, batch_size=batch_size, progress=progress)
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
    device: DeviceOption = None,
    pairs_kind: Annotated[
        str,
        typer.Option(
            "--pairs-kind",
            help="Whether each pair's garment is the one the person wears: auto (the synthetic manifest, "
            "else the VITON naming NAME_0.jpg / NAME_1.jpg), paired or unpaired for every pair.",
        ),
    ] = "auto",
    progress: ProgressOption = True,
) -> None:
    """Compute metrics on a split, write the report, and optionally gate against a previous run.

    Paired metrics are computed where a pair's garment is the person's own; pairs with another
    person's garment (VITON's test_pairs.txt) get the metrics that need no ground truth.
    """
    from tryon.eval.run import check_against_baseline, evaluate_checkpoint
    from tryon.eval.summary import headline
    from tryon.eval.weights import EvalWeights

    with reported_errors("evaluate"):
        outcome = evaluate_checkpoint(
            checkpoint=checkpoint, data=data, out_dir=out, weights=EvalWeights(inception=inception), phase=phase,
            batch_size=batch_size, device=device, training_stats=stats or (), pairs_kind=pairs_kind,
            progress=progress,
        )
    metrics = outcome.result.metrics
    typer.echo(
        f"evaluate: {metrics['count/all']:.0f} samples, {metrics['count/paired']:.0f} with their own garment "
        f"(paired metrics), {metrics['count/unpaired']:.0f} with another garment (unpaired metrics)"
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
            raise fail(f"quality gate: {error}") from None
        typer.echo(gate.summary())
        if not gate.passed:
            raise typer.Exit(code=1)

