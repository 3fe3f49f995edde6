"""Progress bars show on a terminal only, and never when turned off."""

from __future__ import annotations

import io
import sys

import pytest

from tryon.progress import progress_bar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("stream", "enabled", "shown"),
    [
        (Terminal(), True, True),
        (Terminal(), False, False),  # --no-progress
        (io.StringIO(), True, False),  # a log file or a pipeline's captured output
    ],
)
def test_a_bar_shows_only_on_a_terminal_and_when_enabled(monkeypatch, stream, enabled, shown):
    monkeypatch.setattr(sys, "stderr", stream)
    with progress_bar(total=3, desc="evaluate", unit="pair", enabled=enabled) as bar:
        bar.update(3)
        assert bar.disable is not shown
    assert ("evaluate" in stream.getvalue()) is shown
