"""The one guarded way to read an image file: decompression bombs refused before decoding, every
decoder failure turned into an `UnusableImage` that says why.

Every image read in tryon.data goes through `decode_image`: the validator, the dataset, the garment
and person imports and the resize tool, so a file the validator accepts is a file they can read and
a file it refuses is refused everywhere with the same reason.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from PIL import Image, ImageFile, UnidentifiedImageError

from tryon.config import DataConfig


class UnusableImage(ValueError):
    """An image file that cannot be used: not an image, truncated or corrupt, or too many pixels."""


def decode_image(path: Path | BinaryIO, *, max_image_pixels: int) -> Image.Image:
    """Decode an image file (a path, or the bytes of an upload as a binary file object) completely
    and return it detached from the file.

    The size is read from the header first and an image over `max_image_pixels` is refused before
    any pixel is decoded. Raises UnusableImage saying what is wrong and what to do.
    """
    with _strict_pil(max_image_pixels):
        try:
            image = Image.open(path)  # lazy: parses the header only
        except UnidentifiedImageError:
            raise UnusableImage(
                "not an image: its bytes are in no known image format; replace or remove it"
            ) from None
        except Image.DecompressionBombError:
            raise UnusableImage(
                f"its header claims over twice max_image_pixels={max_image_pixels}: refused as a possible "
                "decompression bomb, not decoded; downscale it or raise data.max_image_pixels"
            ) from None
        except OSError as error:
            raise UnusableImage(f"unreadable or truncated header ({error}); export it again") from None
        with image:
            width, height = image.size
            if width * height > max_image_pixels:
                raise UnusableImage(
                    f"{height}x{width} (HxW) is {width * height} pixels, over max_image_pixels="
                    f"{max_image_pixels}: refused as a possible decompression bomb, not decoded; "
                    "downscale it or raise data.max_image_pixels"
                )
            # A truncated file fails in load() since LOAD_TRUNCATED_IMAGES is off. Decoders raise
            # OSError, SyntaxError, EOFError, struct.error...: every one means the file is unusable.
            try:
                image.load()
            except Exception as error:  # noqa: BLE001
                raise UnusableImage(
                    f"truncated or corrupt image data ({type(error).__name__}: {error}); export it again"
                ) from None
            return image.copy()  # closing the file invalidates the loaded image; the copy survives it


@contextmanager
def _strict_pil(max_image_pixels: int) -> Iterator[None]:
    """Make PIL itself refuse images over the limit and truncated files, whatever the process set.

    The pixel limit is a second line of defence: PIL raises DecompressionBombError above twice
    MAX_IMAGE_PIXELS and only warns between once and twice, a warning silenced here because
    decode_image refuses those images itself. LOAD_TRUNCATED_IMAGES is forced off because other
    code in the process may have switched it on to read partial files, which would hide truncation.
    """
    previous = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
    Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = max_image_pixels, False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = previous


def read_image(path: Path, *, max_image_pixels: int = DataConfig.max_image_pixels) -> Image.Image:
    """`decode_image` for readers outside the validator: the UnusableImage message starts with the path."""
    try:
        return decode_image(path, max_image_pixels=max_image_pixels)
    except UnusableImage as error:
        raise UnusableImage(f"{path}: {error}") from None
