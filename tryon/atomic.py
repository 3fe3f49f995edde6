"""Atomic file replacement: readers see the old file or the new one, never a partial write."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: Path, *, durable: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is renamed over `path`.

    On an exception the temporary file is removed and `path` keeps its previous content. The rename
    alone survives a crash of the process; `durable` also flushes the file to disk first so that it
    survives a crash of the machine (checkpoints), at the cost of a sync per file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    # mkstemp creates the file private (0600); outputs such as reports and datasets are shared.
    tmp.chmod(0o644)
    try:
        yield tmp
        if durable:
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
