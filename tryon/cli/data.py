"""`tryon data ...`: create, import, check and preview datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tryon.cli.app import PhaseOption, SizeOption, data_app, fail, parse_size
from tryon.config import DataConfig


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
        out, n_train=n, n_test=n_test or max(2, n // 4), resolution=parse_size(size), seed=seed, workers=workers
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

    report = validate_dataset(root, resolution=parse_size(size), phases=phase, max_image_pixels=max_pixels)
    for problem in report.problems:
        typer.echo(str(problem), err=True)
    if not report.ok:
        raise fail(report.summary())
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

    report = add_garments(src_dir, root, phase=phase, resolution=parse_size(size))
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
