"""Console scripts that the package runs as subprocesses (dvc, torchserve)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def installed_command(name: str) -> str | None:
    """The console script `name` installed beside this Python (the virtual environment's, even when
    it is not activated), else the one on PATH, else None."""
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    return shutil.which(name)
