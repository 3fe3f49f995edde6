"""What garment and person imports share: the report, source listing, and staged, idempotent writes.

An import stages every file of an item in a scratch folder beside the dataset (same file system, so
moving into place is atomic), checks what it staged, and only then moves the item's files in. A file
whose new bytes equal the old is left alone, so running an import again changes nothing.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tryon.data.validate import Problem

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class ImportReport:
    """What an import did: items written (new or changed), left as they were, and refused."""

    added: tuple[Path, ...]
    unchanged: tuple[Path, ...]
    refused: tuple[Problem, ...]
    what: str = "garments"

    def summary(self) -> str:
        """One line, e.g. `garments: 3 added, 1 unchanged, 2 refused`."""
        counts = (len(self.added), len(self.unchanged), len(self.refused))
        return "{}: {} added, {} unchanged, {} refused".format(self.what, *counts)


def list_photos(
    src_dir: Path, *, kind: str, ignore: Callable[[Path], bool] = lambda path: False
) -> tuple[list[tuple[str, Path]], list[Problem]]:
    """The photos of `src_dir` to import as (name, path) in sorted order, and the files refused by name.

    `ignore` skips files that belong to a photo rather than being one (a person's parsing map).
    Names that differ only by case or extension are refused together: they would become one item,
    and the validator compares names case-insensitively as macOS and Windows do.
    """
    by_name: dict[str, list[Path]] = defaultdict(list)
    refused: list[Problem] = []
    for path in sorted(src_dir.iterdir()):
        if path.name.startswith(".") or not path.is_file() or ignore(path):
            continue
        if path.suffix.lower() not in PHOTO_SUFFIXES:
            refused.append(Problem(path, f"not a photo: expected one of {', '.join(PHOTO_SUFFIXES)}"))
        elif any(character.isspace() for character in path.stem):
            refused.append(Problem(path, "name holds whitespace, which pairs files cannot list; rename it"))
        else:
            by_name[path.stem.casefold()].append(path)
    sources = []
    for paths in by_name.values():
        if len(paths) == 1:
            sources.append((paths[0].stem, paths[0]))
            continue
        names = ", ".join(path.name for path in paths)
        reason = f"several photos would become one {kind} ({names}); rename all but one"
        refused.extend(Problem(path, reason) for path in paths)
    return sorted(sources), refused


def stage(scratch: Path, target: Path, array: np.ndarray, write: Callable[[Path, np.ndarray], None]) -> Path:
    """Write `array` with the layout writer into the scratch folder, where `install` will find it."""
    staged = scratch / target.parent.name / target.name
    write(staged, array)
    return staged


def install(staged: Path, target: Path) -> bool:
    """Move a staged file to `target` unless `target` already holds the same bytes; returns whether it changed.

    Leaving equal files alone keeps their mtimes, so DVC and make see nothing new.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and target.read_bytes() == staged.read_bytes():
        staged.unlink()
        return False
    os.replace(staged, target)
    return True
