"""bench/RESULTS.md is assembled from sections that each script owns: a rerun replaces its own
section (from its `## ` heading to the next one) and leaves the others as they are."""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
from pathlib import Path

DOCUMENT_TITLE = "# Benchmarks\n"
RUN_ENVIRONMENT = ("OMP_NUM_THREADS", "ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY")
"""Environment variables that set the threads and limit the CPU's instructions (and with them the
precision `auto` picks): shown in a results section's command where they are set."""


def replace_section(text: str, heading: str, section: str) -> str:
    """`text` with the section titled `heading` (e.g. `## Training`) replaced by `section`, which
    starts with that heading; appended at the end when the text has no such section."""
    if not section.startswith(heading + "\n"):
        raise ValueError(f"a section for {heading!r} must start with that heading line")
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", flags=re.DOTALL | re.MULTILINE)
    section = section.rstrip("\n") + "\n\n"  # one blank line before the next section
    if pattern.search(text):
        return pattern.sub(lambda _: section, text, count=1).rstrip("\n") + "\n"
    return text.rstrip("\n") + "\n\n" + section.rstrip("\n") + "\n"


def write_section(path: Path, heading: str, section: str) -> None:
    """Replace (or append) one section of a results file; a missing file starts with the title."""
    text = path.read_text() if path.exists() else DOCUMENT_TITLE
    path.write_text(replace_section(text, heading, section))


def command_line(script: str) -> str:
    """The command that started this run, for a results section, as a shell would take it: the
    RUN_ENVIRONMENT variables that are set, the project's interpreter, `script` and its arguments."""
    environment = [
        f"{name}={shlex.quote(os.environ[name])}" for name in RUN_ENVIRONMENT if name in os.environ
    ]
    return " ".join([*environment, shlex.join([".venv/bin/python", script, *sys.argv[1:]])])


def add_section_options(parser: argparse.ArgumentParser, heading: str) -> None:
    """--write (the results file) and --heading (its section, `heading` by default): the options of a
    script whose section can be written under another heading, as for another machine's run."""
    parser.add_argument("--write", type=Path, help="Results file whose section to (re)write.")
    parser.add_argument("--heading", default=heading, help="Heading of the section --write (re)writes.")
