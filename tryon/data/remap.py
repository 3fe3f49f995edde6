"""Human parsers' maps to ACGPN ids: one file (`read_parser_map`) or a folder (`remap_folder`)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from tryon.config import DataConfig
from tryon.data.images import UnusableImage, decode_image
from tryon.data.importing import ImportReport, install, stage
from tryon.data.layout import LABEL_SUFFIX, write_label
from tryon.data.validate import Problem
from tryon.labels import PARSERS, remap_parsing
from tryon.progress import progress_bar


class ParsingRefused(ValueError):
    """A parsing map that cannot be remapped: not single-channel, or ids outside the parser's table."""


def read_parser_map(
    path: Path, *, parser: str, max_image_pixels: int = DataConfig.max_image_pixels
) -> np.ndarray:
    """A parser's map (`lip`, `cihp`, `atr`) read through the guarded decoder, as ACGPN ids.

    Raises UnusableImage for an unreadable file and ParsingRefused for a colour picture or ids
    outside the parser's table; the messages say why, not where (callers add the path).
    """
    image = decode_image(path, max_image_pixels=max_image_pixels)
    if image.mode not in ("L", "P"):
        raise ParsingRefused(
            f"mode {image.mode}: a parsing map holds one class id per pixel (mode L or P), "
            "not the parser's colour picture; save its label output"
        )
    try:
        return remap_parsing(np.asarray(image), parser)
    except ValueError as error:
        raise ParsingRefused(f"unknown label ids: {error}") from None


def remap_folder(
    src_dir: Path,
    dst_dir: Path,
    *,
    parser: str,
    progress: bool = False,
    max_image_pixels: int = DataConfig.max_image_pixels,
) -> ImportReport:
    """Write every `NAME.png` parsing map of `src_dir` to `dst_dir/NAME.png` in ACGPN ids.

    Each file is written atomically and left alone when its content would not change; maps that
    cannot be remapped are refused with their reason and the others go on.
    """
    if parser not in PARSERS:
        raise ValueError(f"unknown parser {parser!r}; expected one of {list(PARSERS)}")
    src_dir, dst_dir = Path(src_dir), Path(dst_dir)
    if not src_dir.is_dir():
        raise FileNotFoundError(f"{src_dir}: no such folder of parsing maps")
    if src_dir.resolve() == dst_dir.resolve():
        raise ValueError(f"{dst_dir}: write the remapped maps to another folder than their source")
    sources = sorted(path for path in src_dir.glob(f"*{LABEL_SUFFIX}") if not path.name.startswith("."))
    added: list[Path] = []
    unchanged: list[Path] = []
    refused: list[Problem] = []
    dst_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dst_dir, prefix=".remap-") as scratch:
        for path in progress_bar(sources, total=len(sources), unit="map", desc="remap", enabled=progress):
            try:
                labels = read_parser_map(path, parser=parser, max_image_pixels=max_image_pixels)
            except (UnusableImage, ParsingRefused) as error:
                refused.append(Problem(path, str(error)))
                continue
            target = dst_dir / path.name
            changed = install(stage(Path(scratch), target, labels, write_label), target)
            (added if changed else unchanged).append(target)
    return ImportReport(tuple(added), tuple(unchanged), tuple(refused), what="parsing maps")
