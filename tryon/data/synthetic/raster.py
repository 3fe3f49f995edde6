"""Anti-aliased shapes as coverage maps, and a canvas that paints an RGB image and its label map together.

Every shape is a coverage map (alpha in 0..1) on a small box of the image. The RGB image blends
with the coverage, so edges are anti-aliased; the label map takes the shape's id where coverage is
at least one half, so labels stay hard and follow the same edge as the colours.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SUBPIXEL_BITS = 4  # cv2 fixed-point coordinates: 1/16 pixel
COVERED = 0.5  # coverage from which a pixel takes a shape's label


@dataclass(frozen=True)
class Box:
    """Pixel rows y0..y1-1 and columns x0..x1-1 of an image."""

    y0: int
    y1: int
    x0: int
    x1: int

    @classmethod
    def around(cls, points: np.ndarray, margin: float, shape: tuple[int, int]) -> Box:
        """The box holding `points` (N x 2, x and y) grown by `margin`, clipped to an image of `shape`."""
        lo = np.floor(points.min(axis=0) - margin).astype(int)
        hi = np.ceil(points.max(axis=0) + margin).astype(int) + 1
        return cls(
            y0=int(np.clip(lo[1], 0, shape[0])),
            y1=int(np.clip(hi[1], 0, shape[0])),
            x0=int(np.clip(lo[0], 0, shape[1])),
            x1=int(np.clip(hi[0], 0, shape[1])),
        )

    @property
    def empty(self) -> bool:
        return self.y1 <= self.y0 or self.x1 <= self.x0

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    def grid(self) -> tuple[np.ndarray, np.ndarray]:
        """Pixel-centre coordinates (x, y) of the box, broadcastable to its (h, w) shape."""
        xs = np.arange(self.x0, self.x1, dtype=np.float32)[None, :]
        ys = np.arange(self.y0, self.y1, dtype=np.float32)[:, None]
        return xs, ys


@dataclass
class Canvas:
    """An RGB image (float, 0..255) and its label map, painted back to front."""

    rgb: np.ndarray
    label: np.ndarray

    def paint(self, box: Box, alpha: np.ndarray, colour: np.ndarray, label: int | np.ndarray | None) -> None:
        """Blend `colour` (RGB, or an h x w x 3 texture) into `box`; set `label` where covered.

        `label` may be an h x w array of ids (a region whose side decides its id) or None for paint
        that does not change the parsing (shadows, facial features).
        """
        if box.empty:
            return
        region = box.slices
        weight = alpha[..., None]
        self.rgb[region] = self.rgb[region] * (1.0 - weight) + np.asarray(colour, np.float32) * weight
        if label is not None:
            covered = alpha >= COVERED
            self.label[region] = np.where(covered, label, self.label[region])

    def image(self) -> np.ndarray:
        """The RGB image as uint8."""
        return np.clip(self.rgb + 0.5, 0, 255).astype(np.uint8)


def fixed_point(points: np.ndarray) -> np.ndarray:
    """Pixel coordinates as cv2's fixed-point integers (draw with `shift=SUBPIXEL_BITS`)."""
    return np.round(np.asarray(points) * (1 << SUBPIXEL_BITS)).astype(np.int32)


def polygon_alpha(box: Box, points: np.ndarray) -> np.ndarray:
    """Coverage of a filled polygon (N x 2 pixel coordinates) inside `box`."""
    mask = np.zeros((box.y1 - box.y0, box.x1 - box.x0), np.uint8)
    cv2.fillPoly(mask, [fixed_point(points - (box.x0, box.y0))], 255, cv2.LINE_AA, SUBPIXEL_BITS)
    return mask.astype(np.float32) * (1.0 / 255.0)


def ellipse_alpha(box: Box, centre: np.ndarray, axes: tuple[float, float], angle: float) -> np.ndarray:
    """Coverage of an ellipse with semi-axes `axes` rotated by `angle` radians, inside `box`."""
    u, v = local_frame(box, centre, angle)
    return ellipse_alpha_local(u, v, axes)


def local_frame(box: Box, centre: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates of `box` in a frame centred on `centre` and rotated by `angle` radians."""
    xs, ys = box.grid()
    dx, dy = xs - np.float32(centre[0]), ys - np.float32(centre[1])
    cos, sin = np.float32(np.cos(angle)), np.float32(np.sin(angle))
    return dx * cos + dy * sin, dy * cos - dx * sin


def ellipse_alpha_local(u: np.ndarray, v: np.ndarray, axes: tuple[float, float]) -> np.ndarray:
    """Coverage of an axis-aligned ellipse in local coordinates (u, v)."""
    ax, ay = axes
    implicit = (u / ax) ** 2 + (v / ay) ** 2 - 1.0
    # First-order distance to the outline: the implicit value over its gradient's length.
    gradient = 2.0 * np.sqrt((u / ax**2) ** 2 + (v / ay**2) ** 2) + 1e-6
    return np.clip(0.5 - implicit / gradient, 0.0, 1.0)


def half_plane_alpha(distance: np.ndarray) -> np.ndarray:
    """Coverage of the side where the signed `distance` in pixels is negative."""
    return np.clip(0.5 - distance, 0.0, 1.0)


@dataclass(frozen=True)
class Tube:
    """A round-capped tube along a polyline: coverage and, per pixel, where along and across it lies."""

    alpha: np.ndarray
    along: np.ndarray  # arc length from the first point, in pixels
    across: np.ndarray  # signed distance from the axis over the local radius (-1..1 at the outline)
    radial: np.ndarray  # unsigned distance from the axis over the local radius (shading)
    length: float


def tube(
    box: Box,
    points: np.ndarray,
    radii: np.ndarray,
    *,
    side: float,
    cut_end: bool = False,
    start_squash: float = 1.0,
) -> Tube:
    """A tube of linearly varying radius along `points` (N x 2), seen inside `box`.

    `across` is positive on the side of the normal (dy, -dx) * `side`, so callers pick which edge of
    the tube is its outer one. With `cut_end` the tube ends flat at its last point (a sleeve's
    opening, a trouser hem) instead of with a round cap; `start_squash` > 1 flattens the cap at the
    first point into a half-ellipse that far shorter (a shoulder).
    """
    xs, ys = box.grid()
    pieces = []
    start = 0.0
    last = len(points) - 2
    for index in range(last + 1):
        piece = _segment(
            xs,
            ys,
            points[index : index + 2],
            radii[index : index + 2],
            side=side,
            start=start,
            open_start=index == 0,
            open_end=index == last,
            start_squash=start_squash if index == 0 else 1.0,
        )
        pieces.append(piece)
        start += piece.length
    # Each pixel belongs to the segment whose surface is nearest (the joints overlap).
    nearest = np.argmin(np.stack([piece.sdf for piece in pieces]), axis=0)[None]

    def pick(field: str) -> np.ndarray:
        return np.take_along_axis(np.stack([getattr(piece, field) for piece in pieces]), nearest, axis=0)[0]

    along = pick("along")
    alpha = half_plane_alpha(pick("sdf"))
    if cut_end:
        alpha = np.minimum(alpha, half_plane_alpha(along - start))
    return Tube(alpha=alpha, along=along, across=pick("across"), radial=pick("radial"), length=start)


@dataclass(frozen=True)
class _Segment:
    sdf: np.ndarray  # signed distance to the surface, negative inside
    along: np.ndarray
    across: np.ndarray
    radial: np.ndarray
    length: float


def _segment(
    xs: np.ndarray,
    ys: np.ndarray,
    ends: np.ndarray,
    radii: np.ndarray,
    *,
    side: float,
    start: float,
    open_start: bool,
    open_end: bool,
    start_squash: float,
) -> _Segment:
    """One round-capped segment of a tube; its arc length starts at `start`."""
    a, b = ends
    length = float(np.hypot(*(b - a)))
    direction = (b - a) / max(length, 1e-6)
    normal = np.array([direction[1], -direction[0]]) * side
    px, py = xs - np.float32(a[0]), ys - np.float32(a[1])
    t = px * np.float32(direction[0]) + py * np.float32(direction[1])
    d = px * np.float32(normal[0]) + py * np.float32(normal[1])
    t_clamped = np.clip(t, 0.0, length)
    radius = radii[0] + (radii[1] - radii[0]) * (t_clamped / max(length, 1e-6))
    beyond = t - t_clamped
    beyond = np.where(beyond < 0, beyond * np.float32(start_squash), beyond)
    distance = np.sqrt(beyond**2 + d**2)
    # Past the two ends of the whole polyline the arc length keeps running, so a texture mapped
    # along it continues smoothly into the caps; at inner joints it stops at the joint.
    along = t_clamped
    if open_start:
        along = np.minimum(t, along)
    if open_end:
        along = np.maximum(t, along)
    return _Segment(
        sdf=distance - radius, along=start + along, across=d / radius, radial=distance / radius, length=length
    )


def tube_box(points: np.ndarray, radii: np.ndarray, shape: tuple[int, int]) -> Box:
    """The box that holds a tube along `points` with `radii`."""
    return Box.around(points, float(np.max(radii)) + 2.0, shape)
