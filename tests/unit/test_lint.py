"""The code passes ruff, pinned in the test extra so that a new release's rules cannot turn CI red
without a change here; the rules and line length are pyproject.toml's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RUFF = Path(sys.executable).parent / "ruff"


def test_ruff_finds_nothing():
    result = subprocess.run(
        [str(RUFF), "check", "--no-cache", str(REPO)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
