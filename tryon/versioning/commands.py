"""Run the `dvc` and `git` command lines on a repository, with errors that say which command failed."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tryon.tools import installed_command


class CommandError(RuntimeError):
    """A `dvc` or `git` command exited with an error; the message holds its command line and output."""


def dvc_executable() -> str:
    """The `dvc` installed beside this Python (the virtual environment's), else the one on PATH."""
    found = installed_command("dvc")
    if found is None:
        raise CommandError("dvc is not installed: install the extra with `pip install -e '.[dvc]'`")
    return found


def _run(command: list[str], *, repo: Path, timeout: float) -> str:
    # Analytics would phone home, which a machine without internet waits on.
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    try:
        done = subprocess.run(
            command, cwd=repo, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise CommandError(f"`{' '.join(command)}` in {repo} did not finish within {timeout:.0f} s") from None
    if done.returncode != 0:
        output = (done.stderr.strip() or done.stdout.strip()).splitlines()[-12:]
        raise CommandError(
            f"`{' '.join(command)}` in {repo} failed with exit status {done.returncode}: " + "\n".join(output)
        )
    return done.stdout


def run_dvc(*arguments: str, repo: Path, timeout: float = 3600) -> str:
    """Run `dvc ARGUMENTS` in `repo` and return its standard output; raises CommandError on failure."""
    return _run([dvc_executable(), *arguments], repo=repo, timeout=timeout)


def run_git(*arguments: str, repo: Path, timeout: float = 600) -> str:
    """Run `git ARGUMENTS` in `repo` and return its standard output; raises CommandError on failure."""
    return _run(["git", *arguments], repo=repo, timeout=timeout)
