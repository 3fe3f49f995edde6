"""The Typer application, its command groups and the options and helpers every command module shares."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tryon.config import Resolution

app = typer.Typer(help="ACGPN virtual try-on: data, training, evaluation and serving.", no_args_is_help=True)
data_app = typer.Typer(help="Create, import, check and preview datasets in the ACGPN/VITON layout.", no_args_is_help=True)
app.add_typer(data_app, name="data")

SizeOption = Annotated[str, typer.Option("--size", help="Image size HxW: 256x192, 512x384 or 1024x768.")]
PhaseOption = Annotated[str, typer.Option("--phase", help="Dataset phase: train or test.")]
ParamsOption = Annotated[
    Path | None,
    typer.Option("--params", help="params.yaml to read; built-in defaults when omitted.", exists=True, dir_okay=False),
]


def parse_size(size: str) -> Resolution:
    """The --size option as a Resolution, or a usage error naming the option."""
    try:
        return Resolution.parse(size)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--size") from None


def fail(message: str) -> typer.Exit:
    """Print one red line on stderr and return the exit to raise (status 1, no traceback)."""
    typer.secho(message, err=True, fg=typer.colors.RED)
    return typer.Exit(code=1)
