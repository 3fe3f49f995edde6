"""`tryon data ...`: create, import, check and preview datasets."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tryon.cli.app import PhaseOption, ProgressOption, SizeOption, data_app, fail, parse_size, reported_errors
from tryon.config import DataConfig
from tryon.labels import PARSERS

if TYPE_CHECKING:
    from tryon.data.importing import ImportReport

MaxPixelsOption = Annotated[
    int, typer.Option("--max-pixels", min=1, help="Images with more pixels are refused as decompression bombs.")
]
ParserOption = Annotated[
    str, typer.Option("--parser", help=f"Human parser whose class ids the parsing maps hold: {', '.join(PARSERS)}.")
]


def parse_parser(parser: str) -> str:
    """The --parser option checked against tryon.labels, or a usage error listing the choices."""
    if parser not in PARSERS:
        raise typer.BadParameter(f"{parser!r} is not one of {', '.join(PARSERS)}", param_hint="--parser")
    return parser


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
    progress: ProgressOption = True,
) -> None:
    """Write a synthetic dataset with exact ground truth (layouts, poses, unpaired try-on targets)."""
    from tryon.data.synthetic import generate_dataset

    with reported_errors("synth"):
        summary = generate_dataset(
            out,
            n_train=n,
            n_test=n_test or max(2, n // 4),
            resolution=parse_size(size),
            seed=seed,
            workers=workers,
            progress=progress,
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
    max_pixels: MaxPixelsOption = DataConfig.max_image_pixels,
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
    src_dir: Annotated[
        Path,
        typer.Argument(help="Folder of laydown product photos (JPEG/PNG, white background).", exists=True, file_okay=False),
    ],
    root: Annotated[Path, typer.Argument(help="Dataset root to add the garments to.")],
    phase: PhaseOption = "train",
    size: SizeOption = "256x192",
    max_pixels: MaxPixelsOption = DataConfig.max_image_pixels,
    progress: ProgressOption = True,
) -> None:
    """Mask, centre and resize garment photos into {phase}_color and {phase}_edge; reports refused files."""
    from tryon.data.garments import add_garments

    resolution = parse_size(size)
    with reported_errors("add-garments"):
        report = add_garments(
            src_dir, root, phase=phase, resolution=resolution, max_image_pixels=max_pixels, progress=progress
        )
    _finish_import(report)


@data_app.command("add-persons")
def data_add_persons(
    src_dir: Annotated[
        Path,
        typer.Argument(
            help="Folder of person photos; beside NAME.jpg: NAME_keypoints.json (OpenPose) and NAME_parsing.png.",
            exists=True,
            file_okay=False,
        ),
    ],
    root: Annotated[Path, typer.Argument(help="Dataset root to add the persons to.")],
    parser: ParserOption,
    phase: PhaseOption = "test",
    size: SizeOption = "256x192",
    person_index: Annotated[
        int | None,
        typer.Option("--person-index", min=0, help="Person to take from pose files listing several (people[i])."),
    ] = None,
    poses: Annotated[
        Path | None,
        typer.Option("--poses", help="Folder of NAME_keypoints.json files, when not beside the photos.", file_okay=False),
    ] = None,
    parsing: Annotated[
        Path | None,
        typer.Option(
            "--parsing",
            help="Folder of NAME.png parsing maps (as SCHP writes them), instead of NAME_parsing.png beside the photos.",
            file_okay=False,
        ),
    ] = None,
    max_pixels: MaxPixelsOption = DataConfig.max_image_pixels,
    progress: ProgressOption = True,
) -> None:
    """Frame, resize and remap person photos with their pose and parsing map into {phase}_img, _label, _pose."""
    from tryon.data.persons import add_persons

    resolution, parser = parse_size(size), parse_parser(parser)
    with reported_errors("add-persons"):
        report = add_persons(
            src_dir,
            root,
            phase=phase,
            resolution=resolution,
            parser=parser,
            person_index=person_index,
            pose_dir=poses,
            parsing_dir=parsing,
            max_image_pixels=max_pixels,
            progress=progress,
        )
    _finish_import(report)


@data_app.command("remap")
def data_remap(
    src_dir: Annotated[Path, typer.Argument(help="Folder of a human parser's NAME.png maps.", exists=True, file_okay=False)],
    dst_dir: Annotated[Path, typer.Argument(help="Folder to write the maps in ACGPN ids to.")],
    parser: ParserOption,
    max_pixels: MaxPixelsOption = DataConfig.max_image_pixels,
    progress: ProgressOption = True,
) -> None:
    """Convert parsing maps from a LIP, CIHP or ATR parser to ACGPN label ids (tryon/labels.py)."""
    from tryon.data.remap import remap_folder

    parser = parse_parser(parser)
    with reported_errors("remap"):
        report = remap_folder(src_dir, dst_dir, parser=parser, max_image_pixels=max_pixels, progress=progress)
    _finish_import(report)


@data_app.command("resize")
def data_resize(
    root: Annotated[Path, typer.Argument(help="Dataset root to convert.", exists=True, file_okay=False)],
    out: Annotated[Path, typer.Option("--out", help="New dataset root to write (must not exist or be empty).")],
    size: SizeOption,
    max_pixels: MaxPixelsOption = DataConfig.max_image_pixels,
    progress: ProgressOption = True,
) -> None:
    """Write a copy of a whole dataset at another resolution: labels nearest, keypoints scaled."""
    from tryon.data.resize import resize_dataset

    resolution = parse_size(size)
    with reported_errors("resize"):
        summary = resize_dataset(root, out, resolution=resolution, max_image_pixels=max_pixels, progress=progress)
    typer.echo(summary.summary())


def _finish_import(report: ImportReport) -> None:
    """Print every refused file on stderr and the summary line; exit 1 when anything was refused."""
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
