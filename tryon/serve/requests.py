"""A try-on request from bytes to a garment ready for the networks, and the answer back to bytes.

Plain functions with no server in them: `parse_request` reads the JSON or raw-image forms of the
API, `prepare_garment_photo` decodes the photo with the validator's decompression-bomb and decode
checks and runs the data pipeline's garment preprocessing, `recolour` changes a garment's colour
inside its mask, `encode_png` writes the answer. Every refusal is a `RequestError` carrying the
HTTP status and a message that names the problem and never quotes the request's bytes.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from tryon.config import DataConfig, Resolution
from tryon.data.garments import GarmentError, as_shown_on_white, prepare_garment
from tryon.data.images import UnusableImage, decode_image

AVATAR_FIELD = "avatar"
GARMENT_FIELD = "garment"
COLOUR_FIELD = "color"
COLOUR = re.compile(r"#([0-9A-Fa-f]{6})")
DATA_URL = re.compile(r"data:image/[A-Za-z0-9.+-]+;base64,")
BAD_REQUEST, NOT_FOUND, TOO_LARGE, UNPROCESSABLE = 400, 404, 413, 422


@dataclass(frozen=True)
class ServeLimits:
    """What a request may be; larger ones are refused before any decoding."""

    max_body_bytes: int = 8 * 2**20  # the whole request body (a base64 garment is 4/3 of its file)
    max_image_pixels: int = DataConfig.max_image_pixels  # the garment photo, read from its header


class RequestError(ValueError):
    """A request refused with an HTTP status (4xx, or 5xx when the server cannot answer it) and a
    message for the client and the log."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class GarmentRequest:
    """A parsed request: which avatar, the garment photo's bytes, and the colour wanted (or None)."""

    avatar: str
    garment: bytes
    colour: tuple[int, int, int] | None = None


@dataclass(frozen=True)
class PreparedGarment:
    """A garment at the model's resolution: (H, W, 3) uint8 RGB on white and its (H, W) bool mask."""

    image: np.ndarray
    mask: np.ndarray


def parse_request(
    body: bytes | None,
    *,
    content_type: str,
    fields: Mapping[str, str | bytes],
    limits: ServeLimits = ServeLimits(),
) -> GarmentRequest:
    """Read the API's two forms.

    - `application/json`: `{"avatar": ID, "garment": BASE64_IMAGE, "color": "#RRGGBB"}` (colour optional;
      the base64 may be a `data:image/...;base64,` URL);
    - anything else: the body is the garment image, `avatar` and `color` come from `fields` (query
      string or form fields); a multipart form may carry the image as its `garment` field instead.
    """
    body = body or b""
    if len(body) > limits.max_body_bytes:
        raise RequestError(
            TOO_LARGE, f"request body of {len(body)} bytes is over the limit of {limits.max_body_bytes} bytes"
        )
    if content_type.split(";")[0].strip().lower() == "application/json":
        document = _json_object(body)
        avatar = _text_field(document, AVATAR_FIELD, where="JSON body")
        garment = _base64_image(_text_field(document, GARMENT_FIELD, where="JSON body"))
        colour = document.get(COLOUR_FIELD)
        if colour is not None and not isinstance(colour, str):
            raise RequestError(BAD_REQUEST, f"field '{COLOUR_FIELD}' must be a string '#RRGGBB'")
    else:
        texts = {key: _as_text(key, value) for key, value in fields.items() if key != GARMENT_FIELD}
        avatar = _text_field(texts, AVATAR_FIELD, where="query string or form")
        garment = body or _as_bytes(fields.get(GARMENT_FIELD))
        if not garment:
            raise RequestError(
                BAD_REQUEST, f"missing garment: send the image as the request body or as form field '{GARMENT_FIELD}'"
            )
        colour = texts.get(COLOUR_FIELD) or None
    return GarmentRequest(avatar=avatar, garment=garment, colour=None if colour is None else parse_colour(colour))


def parse_colour(text: str) -> tuple[int, int, int]:
    """`#RRGGBB` as an (r, g, b) tuple of 0..255; RequestError for anything else."""
    match = COLOUR.fullmatch(text.strip())
    if match is None:
        raise RequestError(BAD_REQUEST, f"malformed colour {text[:32]!r}: expected '#RRGGBB', e.g. '#1f6fb2'")
    value = match.group(1)
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def prepare_garment_photo(
    data: bytes, *, resolution: Resolution, limits: ServeLimits = ServeLimits()
) -> PreparedGarment:
    """Decode a garment photo of any size and prepare it as `tryon data add-garments` does.

    The decoder is the validator's (`decode_image`: pixel limit read from the header before decoding,
    truncated and corrupt data refused); the preparation is the garment import's (EXIF rotation,
    transparency over white, segmentation, centring on white at `resolution`).
    """
    try:
        photo = decode_image(io.BytesIO(data), max_image_pixels=limits.max_image_pixels)
    except UnusableImage as error:
        status = TOO_LARGE if "max_image_pixels" in str(error) else BAD_REQUEST
        raise RequestError(status, f"garment image: {error}") from None
    try:
        image, mask = prepare_garment(as_shown_on_white(photo), resolution=resolution)
    except GarmentError as error:
        raise RequestError(UNPROCESSABLE, f"garment image: {error}") from None
    return PreparedGarment(image=image, mask=mask)


def recolour(image: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    """The garment in `colour` inside `mask`, its shading and pattern kept; pixels outside unchanged.

    In CIELAB the garment's mean colour is moved onto the target's: every pixel keeps its offset
    from the mean in lightness (folds, shadows) and in chroma (a print's colours stay distinct), so
    only the overall colour changes. Values that would leave the gamut are clipped.
    """
    image, mask = np.asarray(image), np.asarray(mask, dtype=bool)
    if not mask.any():
        return image.copy()
    lab = cv2.cvtColor(image.astype(np.float32) / 255, cv2.COLOR_RGB2LAB)
    target = cv2.cvtColor(np.asarray(colour, dtype=np.float32).reshape(1, 1, 3) / 255, cv2.COLOR_RGB2LAB)[0, 0]
    shifted = lab.copy()
    shifted[mask] = lab[mask] - lab[mask].mean(axis=0) + target
    shifted[..., 0] = np.clip(shifted[..., 0], 0, 100)
    rgb = cv2.cvtColor(shifted, cv2.COLOR_LAB2RGB)
    out = image.copy()
    out[mask] = np.clip(np.rint(rgb[mask] * 255), 0, 255).astype(np.uint8)
    return out


def encode_png(image: np.ndarray) -> bytes:
    """An (H, W, 3) uint8 RGB image as PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8), mode="RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def error_body(error: RequestError) -> bytes:
    """The JSON answer to a refused request: `{"status": 4xx, "error": message}`."""
    return json.dumps({"status": error.status, "error": error.message}).encode()


def _json_object(body: bytes) -> dict:
    try:
        document = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise RequestError(BAD_REQUEST, "JSON body is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise RequestError(BAD_REQUEST, f"body is not valid JSON ({error.msg} at line {error.lineno} column {error.colno})") from None
    if not isinstance(document, dict):
        raise RequestError(BAD_REQUEST, f"JSON body must be an object with '{AVATAR_FIELD}' and '{GARMENT_FIELD}'")
    return document


def _text_field(document: Mapping, name: str, *, where: str) -> str:
    value = document.get(name)
    if value is None or value == "":
        raise RequestError(BAD_REQUEST, f"missing field '{name}' in the {where}")
    if not isinstance(value, str):
        raise RequestError(BAD_REQUEST, f"field '{name}' must be a string")
    return value


def _base64_image(text: str) -> bytes:
    text = DATA_URL.sub("", text.strip(), count=1)
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise RequestError(BAD_REQUEST, f"field '{GARMENT_FIELD}' is not valid base64 ({error})") from None
    if not data:
        raise RequestError(BAD_REQUEST, f"field '{GARMENT_FIELD}' is empty")
    return data


def _as_text(name: str, value: str | bytes) -> str:
    if isinstance(value, str):
        return value
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        raise RequestError(BAD_REQUEST, f"field '{name}' is not UTF-8 text") from None


def _as_bytes(value: str | bytes | None) -> bytes:
    if value is None:
        return b""
    return value.encode() if isinstance(value, str) else bytes(value)
