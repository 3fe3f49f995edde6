"""`tryon data fetch`, `add-batch` and `pin-synthetic`: the DVC-versioned dataset of a repository."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tryon.cli.app import PhaseOption, data_app, fail

RepoOption = Annotated[
    Path, typer.Option("--repo", help="Repository root holding data.dvc.", exists=True, file_okay=False)
]
RemoteOption = Annotated[
    str | None, typer.Option("--remote", "-r", help="DVC remote; the default remote when omitted.")
]
RepoParamsOption = Annotated[
    Path, typer.Option("--params", help="params.yaml giving data.resolution (and synth); relative to --repo.")
]


def _params(repo: Path, params: Path):
    from tryon.config import load_params

    path = params if params.is_absolute() else repo / params
    if not path.is_file():
        raise fail(f"{path}: no such params file; give --params")
    try:
        return load_params(path)
    except ValueError as error:
        raise fail(str(error)) from None


@data_app.command("fetch")
def data_fetch(repo: RepoOption = Path("."), remote: RemoteOption = None) -> None:
    """Get the dataset data.dvc names: a matching data/, `dvc pull`, or the regenerated synthetic set if its hash matches."""
    from tryon.versioning.commands import CommandError
    from tryon.versioning.dataset import DataUnavailable, fetch_data

    try:
        outcome = fetch_data(repo, remote=remote)
    except (DataUnavailable, CommandError, OSError, ValueError) as error:
        raise fail(f"data fetch: {' '.join(str(error).split())}") from None
    typer.echo(outcome.summary())


@data_app.command("add-batch")
def data_add_batch(
    src: Annotated[
        Path, typer.Argument(help="Folder of laydown garment photos (JPEG/PNG, white background).")
    ],
    name: Annotated[str, typer.Option("--name", help="Batch name, e.g. 2026-12-tops.")],
    repo: RepoOption = Path("."),
    phase: PhaseOption = "train",
    params: RepoParamsOption = Path("params.yaml"),
    push: Annotated[
        bool, typer.Option("--push/--no-push", help="Push the new data version to the DVC remote.")
    ] = True,
    remote: RemoteOption = None,
) -> None:
    """Import a garment batch into data/, validate the whole dataset, `dvc add`, commit data.dvc, push."""
    from tryon.versioning.batches import BatchRefused, add_garment_batch
    from tryon.versioning.commands import CommandError

    settings = _params(repo, params)
    try:
        outcome = add_garment_batch(
            repo,
            src,
            name=name,
            phase=phase,
            resolution=settings.data.resolution,
            max_image_pixels=settings.data.max_image_pixels,
            push=push,
            remote=remote,
        )
    except (BatchRefused, CommandError, OSError, ValueError) as error:
        raise fail(f"data add-batch: {' '.join(str(error).split())}") from None
    typer.echo(outcome.summary())


@data_app.command("pin-synthetic")
def data_pin_synthetic(repo: RepoOption = Path("."), params: RepoParamsOption = Path("params.yaml")) -> None:
    """Write the synthetic dataset of params.yaml (synth, data.resolution) to data/ and pin it in data.dvc."""
    from tryon.versioning.commands import CommandError
    from tryon.versioning.dataset import pin_synthetic

    settings = _params(repo, params)
    try:
        tracked = pin_synthetic(repo, synth=settings.synth, resolution=settings.data.resolution)
    except (CommandError, OSError, ValueError) as error:
        raise fail(f"data pin-synthetic: {' '.join(str(error).split())}") from None
    typer.echo(
        f"data: pinned {tracked.md5} ({tracked.nfiles} files) in data.dvc; commit it with `git commit data.dvc`"
    )
