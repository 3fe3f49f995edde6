"""Every benchmark measures each configuration in a fresh process, so that its peak RSS, its
allocator and its oneDNN primitive caches are its own; the process prints its result as JSON on
its last line of output."""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
from collections.abc import Callable


def run_json(command: list[str], *, environment: dict[str, str] | None = None) -> dict | list:
    """Run `command` (in `environment`, else this process's) and return the JSON on the last line
    of its output; a failure raises RuntimeError with the command and the end of its error output."""
    completed = subprocess.run(command, capture_output=True, text=True, check=False, env=environment)
    if completed.returncode != 0:
        raise RuntimeError(f"{shlex.join(command)} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


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
