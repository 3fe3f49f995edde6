"""Catalog pre-rendering: every avatar x garment (x colour) as static PNG files, resumable.

For storefronts that prefer static images to calling the server. Garment photos of any size go
through the same preparation as requests (and as `tryon data add-garments`); the try-ons run in
batches of garments on one avatar, which reuse the avatar's stored representation. Each image is
written atomically and the index (`index.csv`: avatar, garment, colour, file) is rewritten
atomically after every batch, so an interrupted run resumes where it stopped and never lists an
image that is not complete on disk.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tryon.atomic import atomic_path
from tryon.config import DataConfig
from tryon.data.importing import list_photos
from tryon.data.layout import write_rgb
from tryon.data.validate import Problem
from tryon.pipeline import TryOnPipeline
from tryon.progress import progress_bar
from tryon.serve.avatars import AvatarTable
from tryon.serve.requests import (
    PreparedGarment,
    RequestError,
    ServeLimits,
    parse_colour,
    prepare_garment_photo,
    recolour,
)
from tryon.serve.service import TryOnService

INDEX_FILE = "index.csv"
INDEX_FIELDS = ("avatar", "garment", "colour", "file")
ORIGINAL = "original"
COLOUR_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")


@dataclass(frozen=True)
class CatalogColour:
    """A colour to render: its name (in file names and the index) and RGB, None for the garment's own."""

    name: str
    rgb: tuple[int, int, int] | None = None


@dataclass(frozen=True)
class CatalogReport:
    """What a run did: images rendered now, images already there from an earlier run, refused garments."""

    rendered: int
    kept: int
    refused: tuple[Problem, ...]
    index: Path

    def summary(self) -> str:
        return f"catalog: {self.rendered} rendered, {self.kept} already there, {len(self.refused)} garments refused"


def read_colours(path: Path) -> list[CatalogColour]:
    """A colours file: one colour per line, `NAME #RRGGBB`, `#RRGGBB` (named by its digits) or
    `original` (the garment as photographed); blank lines are skipped. ValueError names the line."""
    colours: list[CatalogColour] = []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        words = line.split()
        try:
            if not words:
                continue
            if words == [ORIGINAL]:
                colours.append(CatalogColour(ORIGINAL))
            elif len(words) == 1:
                colours.append(CatalogColour(words[0].lstrip("#").lower(), parse_colour(words[0])))
            elif len(words) == 2 and COLOUR_NAME.fullmatch(words[0]):
                colours.append(CatalogColour(words[0], parse_colour(words[1])))
            else:
                raise ValueError("expected `NAME #RRGGBB`, `#RRGGBB` or `original`")
        except (RequestError, ValueError) as error:
            raise ValueError(f"{path}:{number}: {error}") from None
    names = [colour.name for colour in colours]
    if not names or len(set(names)) != len(names):
        raise ValueError(f"{path}: needs at least one colour and distinct names, got {names}")
    return colours


def output_name(avatar: str, garment: str, colour: str) -> str:
    return f"{avatar}__{garment}__{colour}.png"


def render_catalog(
    *,
    pipeline: TryOnPipeline,
    avatars: AvatarTable,
    garments_dir: Path,
    out_dir: Path,
    colours: Sequence[CatalogColour] = (CatalogColour(ORIGINAL),),
    batch_size: int = 8,
    max_image_pixels: int = DataConfig.max_image_pixels,
    progress: bool = False,
) -> CatalogReport:
    """Render what `out_dir`'s index does not list yet; returns the counts and the refused garments."""
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be at least 1")
    garments_dir, out_dir = Path(garments_dir), Path(out_dir)
    if not garments_dir.is_dir():
        raise FileNotFoundError(f"{garments_dir}: no such folder of garment photos")
    service = TryOnService(pipeline, avatars)
    limits = ServeLimits(max_image_pixels=max_image_pixels)
    sources, refused = list_photos(garments_dir, kind="garment")
    garments: dict[str, PreparedGarment] = {}
    for name, path in sources:
        try:
            garments[name] = prepare_garment_photo(path.read_bytes(), resolution=pipeline.config.resolution, limits=limits)
        except RequestError as error:
            refused.append(Problem(path, error.message.removeprefix("garment image: ")))

    out_dir.mkdir(parents=True, exist_ok=True)
    index = out_dir / INDEX_FILE
    rows = [row for row in _read_index(index) if (out_dir / row["file"]).is_file()]
    done = {(row["avatar"], row["garment"], row["colour"]) for row in rows}
    wanted = [(a, g, c) for a in avatars.ids for g in sorted(garments) for c in colours]
    pending = [item for item in wanted if (item[0], item[1], item[2].name) not in done]
    kept = len(wanted) - len(pending)
    bar = progress_bar(total=len(wanted), initial=kept, desc="catalog", unit="try-ons", enabled=progress)
    with bar:
        for batch in _batches_per_avatar(pending, batch_size):
            avatar = batch[0][0]
            prepared = [_coloured(garments[garment], colour) for _, garment, colour in batch]
            images = service.try_on([avatars.person(avatar)] * len(batch), prepared)
            for (_, garment, colour), image in zip(batch, images, strict=True):
                name = output_name(avatar, garment, colour.name)
                write_rgb(out_dir / name, image)
                rows.append({"avatar": avatar, "garment": garment, "colour": colour.name, "file": name})
            _write_index(index, rows)
            bar.update(len(batch))
    if not index.exists():
        _write_index(index, rows)
    return CatalogReport(rendered=len(pending), kept=kept, refused=tuple(sorted(refused, key=lambda p: p.path)), index=index)


def _coloured(garment: PreparedGarment, colour: CatalogColour) -> PreparedGarment:
    if colour.rgb is None:
        return garment
    return PreparedGarment(image=recolour(garment.image, garment.mask, colour.rgb), mask=garment.mask)


def _batches_per_avatar(pending: list, batch_size: int) -> list[list]:
    """Consecutive items of one avatar, at most `batch_size` per batch."""
    batches: list[list] = []
    for item in pending:
        if batches and batches[-1][0][0] == item[0] and len(batches[-1]) < batch_size:
            batches[-1].append(item)
        else:
            batches.append([item])
    return batches


def _read_index(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != INDEX_FIELDS:
            raise ValueError(f"{path}: not a catalog index (columns {reader.fieldnames}, expected {list(INDEX_FIELDS)})")
        return list(reader)


def _write_index(path: Path, rows: list[dict[str, str]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=INDEX_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(sorted(rows, key=lambda row: (row["avatar"], row["garment"], row["colour"])))
    with atomic_path(path) as tmp:
        tmp.write_text(buffer.getvalue())

