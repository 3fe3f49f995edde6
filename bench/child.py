"""Every benchmark measures each configuration in a fresh process, so that its peak RSS, its
allocator and its oneDNN primitive caches are its own; the process prints its result as JSON on
its last line of output."""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
from collections.abc import Callable


class ConfigurationFailed(RuntimeError):
    """A configuration's process exited non-zero (out of memory on the GPU, say)."""

    def __init__(self, command: list[str], stderr: str) -> None:
        super().__init__(f"{shlex.join(command)} failed:\n{stderr[-3000:]}")
        lines = [line.strip() for line in stderr.splitlines() if line.strip()]
        # The last line of the error output is usually the exception: what a table's row shows.
        self.reason = lines[-1] if lines else "no error output"


def run_json(command: list[str], *, environment: dict[str, str] | None = None) -> dict | list:
    """Run `command` (in `environment`, else this process's) and return the JSON on the last line
    of its output; a failure raises `ConfigurationFailed` with the command and the end of its error
    output."""
    completed = subprocess.run(command, capture_output=True, text=True, check=False, env=environment)
    if completed.returncode != 0:
        raise ConfigurationFailed(command, completed.stderr)
    return json.loads(completed.stdout.strip().splitlines()[-1])


FAILED = "failed: "
"""How a table's row of a failed configuration begins its first measured cell."""


def failed_cell(failure: ConfigurationFailed, *, width: int = 160) -> str:
    """A table cell saying why a configuration failed: the reason, shortened, without the pipes
    that would split the cell."""
    reason = failure.reason.replace("|", "/")
    if len(reason) > width:
        reason = reason[: width - 3] + "..."
    return f"{FAILED}{reason}"


def count_failed(rows: list) -> int:
    """How many of a table's rows (measured results, or the lines of rows not measured) are failures."""
    return sum(isinstance(row, str) and f"| {FAILED}" in row for row in rows)


def parse_or_measure(
    parser: argparse.ArgumentParser, measure: Callable[[argparse.Namespace], object]
) -> argparse.Namespace | None:
    """The parsed command line; or, run as a configuration's process (the hidden --child option),
    None once `measure(args)` has been printed as the JSON that `run_json` reads."""
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.child:
        return args
    print(json.dumps(measure(args)))
    return None
