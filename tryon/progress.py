"""Progress bars on long work: shown on a terminal, off in logs, pipelines and with --no-progress."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from tqdm import tqdm


def progress_bar(
    iterable: Iterable[Any] | None = None,
    *,
    total: int | None = None,
    initial: int = 0,  # units already done (a resumed run)
    desc: str,
    unit: str,
    enabled: bool = True,
) -> tqdm:
    """A tqdm bar on stderr, disabled unless `enabled` and stderr is a terminal.

    Off when not a terminal: a bar redrawn into a log file or a pipeline's captured output is
    hundreds of lines of carriage returns, not progress.
    """
    return tqdm(
        iterable,
        total=total,
        initial=initial,
        desc=desc,
        unit=unit,
        dynamic_ncols=True,
        disable=not (enabled and sys.stderr.isatty()),
    )
