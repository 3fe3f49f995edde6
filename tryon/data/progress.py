"""Progress bars for long data work (synthesis, imports, resizing, remapping)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

ItemT = TypeVar("ItemT")


def progress_bar(items: Iterable[ItemT], *, total: int, unit: str, enabled: bool) -> Iterator[ItemT]:
    """`items` with a tqdm bar on stderr when `enabled`; the bar is cleared when the work is done.

    Commands enable it only when stderr is a terminal, so logs and CI output stay free of bar noise.
    """
    return iter(tqdm(items, total=total, unit=f" {unit}", disable=not enabled, leave=False, dynamic_ncols=True))
