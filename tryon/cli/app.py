"""The Typer application, its command groups and the options and helpers every command module shares."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from tryon.config import Resolution

app = typer.Typer(help="ACGPN virtual try-on: data, training, evaluation and serving.", no_args_is_help=True)
data_app = typer.Typer(help="Create, import, check and preview datasets in the ACGPN/VITON layout.", no_args_is_help=True)
app.add_typer(data_app, name="data")

SizeOption = Annotated[str, typer.Option("--size", help="Image size HxW: 256x192, 512x384 or 1024x768.")]
PhaseOption = Annotated[str, typer.Option("--phase", help="Dataset phase: train or test.")]
DeviceOption = Annotated[
    str | None, typer.Option("--device", help="cpu, cuda or cuda:N; CUDA when available by default.")
]
ProgressOption = Annotated[
    bool, typer.Option("--progress/--no-progress", help="Show a progress bar (only ever on a terminal).")
]
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


WORKER_TRACEBACK = "Original Traceback"
"""What a DataLoader worker puts between its own line and the failing line of an error it re-raises."""


def one_line(error: BaseException) -> str:
    """An error's message on one line; from a DataLoader worker, the original error's last line."""
    message = str(error)
    if WORKER_TRACEBACK in message:
        message = [line for line in message.splitlines() if line.strip()][-1]
    return " ".join(message.split())


@contextmanager
def reported_errors(command: str) -> Iterator[None]:
    """Inside it, an error a user can fix (a missing or unreadable file, a bad value or setting:
    OSError, ValueError and their subclasses) ends the command with one line naming it, no traceback."""
    try:
        yield
    except (OSError, ValueError) as error:
        raise fail(f"{command}: {one_line(error)}") from None
