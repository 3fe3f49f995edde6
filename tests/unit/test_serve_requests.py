"""Request functions of tryon.serve: parsing both API forms, colours, the guarded garment decoding
and preprocessing, recolouring and PNG encoding."""

from __future__ import annotations

import base64
import io
import json
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from tryon.config import Resolution
from tryon.data.garments import prepare_garment
from tryon.serve.requests import (
    RequestError,
    ServeLimits,
    encode_png,
    error_body,
    parse_colour,
    parse_request,
    prepare_garment_photo,
    recolour,
)

SIZE = Resolution(64, 48)


def shirt_photo(height: int = 300, width: int = 220, colour=(40, 90, 200)) -> np.ndarray:
    """A laydown photo: a T-shirt shape on an off-white backdrop, with a darker fold."""
    photo = np.full((height, width, 3), 245, dtype=np.uint8)
    body = np.array([[0.3, 0.2], [0.7, 0.2], [0.9, 0.35], [0.75, 0.45], [0.7, 0.85], [0.3, 0.85], [0.25, 0.45], [0.1, 0.35]])
    cv2.fillPoly(photo, [np.round(body * [width, height]).astype(np.int32)], colour)
    photo[int(height * 0.4) : int(height * 0.5), int(width * 0.4) : int(width * 0.6)] //= 2
    return photo


def encoded(photo: np.ndarray, kind: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, format=kind)
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(100))) + chunk(b"IEND", b"")


def refusal(status: int, words: str, call, *args, **kwargs) -> RequestError:
    with pytest.raises(RequestError) as error:
        call(*args, **kwargs)
    assert error.value.status == status and words in error.value.message, error.value.message
    return error.value


def json_request(**fields):
    return parse_request(json.dumps(fields).encode(), content_type="application/json; charset=utf-8", fields={})


def test_json_requests_carry_avatar_garment_and_optional_colour():
    garment = encoded(shirt_photo())
    request = json_request(avatar="a1", garment=base64.b64encode(garment).decode(), color="#1F6fb2")
    assert (request.avatar, request.garment, request.colour) == ("a1", garment, (0x1F, 0x6F, 0xB2))
    data_url = "data:image/png;base64," + base64.b64encode(garment).decode()
    assert json_request(avatar="a1", garment=data_url).garment == garment
    assert json_request(avatar="a1", garment=base64.b64encode(garment).decode()).colour is None


def test_raw_and_form_requests_take_the_avatar_and_colour_from_fields():
    garment = encoded(shirt_photo())
    raw = parse_request(garment, content_type="image/png", fields={"avatar": b"a2", "color": "#000000"})
    assert (raw.avatar, raw.garment, raw.colour) == ("a2", garment, (0, 0, 0))
    form = parse_request(None, content_type="multipart/form-data; boundary=x", fields={"avatar": "a3", "garment": garment})
    assert (form.avatar, form.garment, form.colour) == ("a3", garment, None)


@pytest.mark.parametrize(
    ("body", "content_type", "fields", "status", "words"),
    [
        (b'{"avatar": "a"', "application/json", {}, 400, "not valid JSON"),
        (b"[1, 2]", "application/json", {}, 400, "must be an object"),
        (b"\xff\xfe{}", "application/json", {}, 400, "not UTF-8"),
        (json.dumps({"garment": "aGVsbG8="}).encode(), "application/json", {}, 400, "missing field 'avatar'"),
        (json.dumps({"avatar": "a"}).encode(), "application/json", {}, 400, "missing field 'garment'"),
        (json.dumps({"avatar": 7, "garment": "aGVsbG8="}).encode(), "application/json", {}, 400, "must be a string"),
        (json.dumps({"avatar": "a", "garment": "no*base64"}).encode(), "application/json", {}, 400, "not valid base64"),
        (json.dumps({"avatar": "a", "garment": "aGVsbG8=", "color": "blue"}).encode(), "application/json", {}, 400,
         "malformed colour 'blue'"),
        (json.dumps({"avatar": "a", "garment": "aGVsbG8=", "color": 255}).encode(), "application/json", {}, 400,
         "'#RRGGBB'"),
        (b"\x89PNG...", "image/png", {}, 400, "missing field 'avatar'"),
        (b"", "image/png", {"avatar": "a"}, 400, "missing garment"),
        (b"x" * 101, "image/png", {"avatar": "a"}, 413, "101 bytes is over the limit of 100"),
    ],
)
def test_malformed_requests_are_refused_with_their_status_and_reason(body, content_type, fields, status, words):
    refusal(status, words, parse_request, body, content_type=content_type, fields=fields, limits=ServeLimits(max_body_bytes=100))


def test_colours_parse_only_as_hash_and_six_hex_digits():
    assert parse_colour(" #00ff80 ") == (0, 255, 128)
    for text in ("00ff80", "#0f8", "#00ff8g", "#00ff8000", "rgb(0,0,0)"):
        refusal(400, "malformed colour", parse_colour, text)


def test_a_garment_photo_of_any_size_is_prepared_as_the_garment_import_does():
    photo = shirt_photo(513, 377)
    prepared = prepare_garment_photo(encoded(photo), resolution=SIZE)
    expected_image, expected_mask = prepare_garment(photo, resolution=SIZE)
    assert prepared.image.shape == (64, 48, 3) and prepared.mask.shape == (64, 48)
    np.testing.assert_array_equal(prepared.image, expected_image)
    np.testing.assert_array_equal(prepared.mask, expected_mask)
    assert (prepared.image[~prepared.mask] == 255).all()


def test_a_transparent_cut_out_is_put_on_white_before_segmentation():
    photo = shirt_photo(200, 150)
    alpha = np.where((photo == 245).all(axis=2), 0, 255).astype(np.uint8)
    rgba = np.dstack([np.where(alpha[..., None] == 0, 0, photo), alpha])  # hidden colour black
    prepared = prepare_garment_photo(encoded(rgba), resolution=SIZE)
    expected = prepare_garment_photo(encoded(photo), resolution=SIZE)
    assert abs(int(prepared.mask.sum()) - int(expected.mask.sum())) <= 0.05 * expected.mask.sum()


def test_bad_garment_bytes_are_refused_with_the_decoders_reason():
    good = encoded(shirt_photo(), "JPEG")
    refusal(400, "not an image", prepare_garment_photo, b"hello" * 20, resolution=SIZE)
    refusal(400, "truncated", prepare_garment_photo, good[: len(good) // 2], resolution=SIZE)
    refusal(413, "max_image_pixels", prepare_garment_photo, png_claiming(3000, 3000), resolution=SIZE,
            limits=ServeLimits(max_image_pixels=1000 * 1000))
    refusal(413, "max_image_pixels", prepare_garment_photo, png_claiming(100000, 100000), resolution=SIZE)
    blank = np.full((100, 80, 3), 250, dtype=np.uint8)
    refusal(422, "no garment found", prepare_garment_photo, encoded(blank), resolution=SIZE)


def lab(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image.astype(np.float32) / 255, cv2.COLOR_RGB2LAB)


def test_recolouring_moves_the_mean_colour_and_keeps_shading_pattern_and_background():
    rng = np.random.default_rng(0)
    image = np.full((64, 48, 3), 255, dtype=np.uint8)
    mask = np.zeros((64, 48), dtype=bool)
    mask[8:56, 8:40] = True
    shading = np.linspace(0.6, 1.0, 48)[None, :, None]  # a fold darkening towards the left
    stripes = np.where((np.arange(64) // 4 % 2)[:, None, None] == 0, [130, 85, 85], [85, 120, 85])  # red/green print
    garment = np.clip(stripes * shading + rng.normal(0, 2, (64, 48, 3)), 0, 255).astype(np.uint8)
    image[mask] = garment[mask]

    target = (90, 120, 180)
    out = recolour(image, mask, target)
    np.testing.assert_array_equal(out[~mask], image[~mask])
    before, after = lab(image)[mask], lab(out)[mask]
    expected = lab(np.array([[target]], dtype=np.uint8))[0, 0]
    assert np.abs(after.mean(axis=0) - expected).max() < 3  # the garment's mean colour is the target
    # Shading: lightness keeps its variation; pattern: the stripes' colour difference is kept.
    assert np.corrcoef(before[:, 0], after[:, 0])[0, 1] > 0.99
    assert abs(after[:, 0].std() - before[:, 0].std()) < 0.1 * before[:, 0].std()
    rows = np.nonzero(mask)[0]
    red, green = (rows // 4 % 2) == 0, (rows // 4 % 2) == 1
    stripe_contrast = [values[red, 1:].mean(axis=0) - values[green, 1:].mean(axis=0) for values in (after, before)]
    np.testing.assert_allclose(*stripe_contrast, atol=3)
    assert recolour(image, np.zeros_like(mask), target).tobytes() == image.tobytes()


def test_answers_are_png_and_refusals_are_json_naming_the_problem():
    image = np.random.default_rng(1).integers(0, 256, (64, 48, 3), dtype=np.uint8)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(encode_png(image)))), image)
    assert json.loads(error_body(RequestError(404, "unknown avatar 'x'"))) == {"status": 404, "error": "unknown avatar 'x'"}
