"""Garments in garment space: the flat laydown T-shape, its printed texture and its named anchors.

Garment space is the laydown image itself. The worn garment is this same texture pulled onto the
body (tryon.data.synthetic.render), so a stripe or a logo on the laydown shows up, bent, on the
person. The torso outline is built from named anchors by `torso_outline`, which runs unchanged on
the garment's anchors and on the body's: the same names in both spaces are the warp's control points.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from tryon.config import Resolution
from tryon.data.synthetic.body import OUTWARD, REFERENCE, SIDES
from tryon.data.synthetic.raster import SUBPIXEL_BITS, Box, fixed_point, polygon_alpha

KINDS = ("t-shirt", "long-sleeve", "tank-top")
PATTERNS = ("solid", "stripes", "checks", "logo")
LOGO_SHAPES = ("circle", "star", "diamond", "text")
LOGO_WORDS = ("ACGPN", "TRY", "SYNTH", "VITON", "2003", "HELLO")
FIT_MARGIN = 8.0  # reference units between the laydown garment and the image border
NECKLINE_POINTS = 7
ARMHOLE_POINTS = 4

# Anchors of the T-shape in reference units (a 256 x 192 frame centred on x = 96), before the
# design's width and length factors; each side is mirrored.
TEMPLATE = {
    "collar": (13.0, 36.0),
    "collar_dip": (0.0, 48.0),
    "shoulder": (44.0, 48.0),
    "armpit": (42.0, 90.0),
    "waist": (38.0, 150.0),
    "hem": (41.0, 212.0),
    "hem_centre": (0.0, 212.0),
    "chest": (0.0, 84.0),
    "belly": (0.0, 168.0),
}


@dataclass(frozen=True)
class GarmentDesign:
    """Everything random about one garment; rendering it needs nothing else."""

    kind: str
    pattern: str
    colour: tuple[int, int, int]
    accent: tuple[int, int, int]
    trim: tuple[int, int, int]
    width: float  # torso width factor of the laydown shape
    length: float  # torso length factor
    waist: float  # reference units the waist is taken in (negative: let out)
    sleeve_angle: float  # radians below horizontal in the laydown
    sleeve_length: float  # reference units in the laydown
    cuff: float  # cuff half-width over the armhole half-width
    sleeve_ease: float  # reference units a worn sleeve stands off the arm
    sleeve_cover: float  # share of the upper arm a short sleeve covers
    stripe_angle: float  # radians; stripes run perpendicular to this direction
    stripe_period: float  # reference units
    stripe_duty: float  # share of a period in the accent colour
    logo_shape: str
    logo_word: str
    logo_size: float  # reference units
    logo_offset: float  # reference units right of the centre line (the wearer's left chest)


def sample_design(rng: np.random.Generator) -> GarmentDesign:
    """Draw a garment: kind, pattern, colours and the proportions of its flat shape."""
    kind = str(rng.choice(KINDS))
    long_sleeve = kind == "long-sleeve"
    colour, accent = _garment_colours(rng)
    # Mostly across the body (the direction stripes are on most tops), some along it, a few diagonal.
    stripe_angle = rng.choice([np.pi / 2, 0.0, np.pi / 4, -np.pi / 4], p=[0.6, 0.25, 0.075, 0.075])
    return GarmentDesign(
        kind=kind,
        pattern=str(rng.choice(PATTERNS)),
        colour=colour,
        accent=accent,
        trim=tuple(int(c * 0.7) for c in colour) if rng.random() < 0.5 else accent,
        width=rng.uniform(0.9, 1.08),
        length=rng.uniform(0.92, 1.05),
        waist=rng.uniform(-2, 4),
        sleeve_angle=rng.uniform(0.95, 1.2) if long_sleeve else rng.uniform(0.45, 0.8),
        sleeve_length=rng.uniform(92, 105) if long_sleeve else rng.uniform(30, 40),
        cuff=rng.uniform(0.45, 0.55) if long_sleeve else rng.uniform(0.7, 0.85),
        sleeve_ease=rng.uniform(1.2, 2.0) if long_sleeve else rng.uniform(1.5, 2.6),
        sleeve_cover=rng.uniform(0.5, 0.8),
        stripe_angle=float(stripe_angle + rng.uniform(-0.2, 0.2)),
        stripe_period=rng.uniform(7, 18),
        stripe_duty=rng.uniform(0.3, 0.6),
        logo_shape=str(rng.choice(LOGO_SHAPES)),
        logo_word=str(rng.choice(LOGO_WORDS)),
        logo_size=rng.uniform(12, 20),
        logo_offset=float(rng.choice([0.0, 16.0])),
    )


def _garment_colours(rng: np.random.Generator) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """A fabric colour and an accent of clearly different brightness, so prints always show.

    Neither is ever close to white, so the laydown separates from its white background.
    """
    value = rng.uniform(40, 210)
    accent_value = rng.uniform(40, 100) if value > 130 else rng.uniform(150, 210)
    return _hsv(rng, value), _hsv(rng, accent_value)


def _hsv(rng: np.random.Generator, value: float) -> tuple[int, int, int]:
    """A random hue at brightness `value` (0..255); one in five is a grey."""
    saturation = 0 if rng.random() < 0.2 else rng.uniform(90, 230)
    hsv = np.uint8([[[rng.integers(180), saturation, value]]])
    return tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0])


@dataclass(frozen=True)
class Sleeve:
    """A laydown sleeve: a quad from the armhole seam (shoulder, armpit) to the cuff (outer, inner)."""

    shoulder: np.ndarray
    armpit: np.ndarray
    cuff_outer: np.ndarray
    cuff_inner: np.ndarray

    def polygon(self) -> np.ndarray:
        return np.stack([self.shoulder, self.cuff_outer, self.cuff_inner, self.armpit])

    def at(self, along: np.ndarray, across: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Garment-space x and y of sleeve coordinates: `along` 0 at the seam to 1 at the cuff,
        `across` -1 on the armpit edge to +1 on the shoulder edge (bilinear in between)."""
        outer = (across + 1) * 0.5
        seam = self.armpit + (self.shoulder - self.armpit) * outer[..., None]
        cuff = self.cuff_inner + (self.cuff_outer - self.cuff_inner) * outer[..., None]
        point = seam + (cuff - seam) * along[..., None]
        return point[..., 0].astype(np.float32), point[..., 1].astype(np.float32)


@dataclass(frozen=True)
class Garment:
    """A garment drawn in garment space: anchors, sleeves, the printed texture and its coverage."""

    design: GarmentDesign
    anchors: dict[str, np.ndarray]
    sleeves: dict[str, Sleeve]  # by side ("left", "right"); empty for a tank top
    texture: np.ndarray  # H x W x 3 uint8, printed everywhere so warps never sample white
    alpha: np.ndarray  # H x W coverage of the laydown shape

    def laydown(self) -> tuple[np.ndarray, np.ndarray]:
        """The flat garment on white (uint8 RGB) and its mask (bool)."""
        weight = self.alpha[..., None]
        image = self.texture * weight + 255.0 * (1.0 - weight)
        return np.clip(image + 0.5, 0, 255).astype(np.uint8), self.alpha >= 0.5


def build_garment(design: GarmentDesign, resolution: Resolution) -> Garment:
    """Lay the design out flat at `resolution`, centred and scaled to fit the image."""
    shape = (resolution.height, resolution.width)
    anchors, sleeves, unit = _laydown_geometry(design, resolution)
    texture = _texture(design, anchors, shape, unit=unit)
    _draw_trims(texture, design, anchors, sleeves, unit=unit)
    box = Box(0, shape[0], 0, shape[1])
    alpha = polygon_alpha(box, torso_outline(anchors, design.kind))
    for sleeve in sleeves.values():
        alpha = np.maximum(alpha, polygon_alpha(box, sleeve.polygon()))
    return Garment(design=design, anchors=anchors, sleeves=sleeves, texture=texture, alpha=alpha)


def _laydown_geometry(
    design: GarmentDesign, resolution: Resolution
) -> tuple[dict[str, np.ndarray], dict[str, Sleeve], float]:
    """Anchors, sleeves and pixels per reference unit: the template stretched by the design and
    shrunk, if need be, to fit the image."""
    anchors: dict[str, np.ndarray] = {}
    top = TEMPLATE["collar"][1]
    for name, (x, y) in TEMPLATE.items():
        y = top + (y - top) * design.length
        if name == "waist":
            x -= design.waist
        x *= design.width if name != "collar" else 1.0
        if x == 0.0:  # on the centre line: one anchor; elsewhere a mirrored pair
            anchors[name] = np.array([96.0, y])
        else:
            for side in SIDES:
                anchors[f"{name}_{side}"] = np.array([96.0 + OUTWARD[side] * x, y])
    sleeved = design.kind != "tank-top"
    sleeves = {side: _laydown_sleeve(design, anchors, side) for side in SIDES} if sleeved else {}
    corners = np.concatenate([torso_outline(anchors, design.kind)] + [s.polygon() for s in sleeves.values()])
    low, high = corners.min(axis=0), corners.max(axis=0)
    fit = min(1.0, *((REFERENCE - 2 * FIT_MARGIN) / (high - low)))
    size = np.array([resolution.width, resolution.height], dtype=float)
    unit = float(min(size / REFERENCE)) * fit

    def place(point: np.ndarray) -> np.ndarray:
        return (size - 1) / 2 + (point - (low + high) / 2) * unit

    placed = {name: place(point) for name, point in anchors.items()}
    placed_sleeves = {
        side: Sleeve(place(s.shoulder), place(s.armpit), place(s.cuff_outer), place(s.cuff_inner))
        for side, s in sleeves.items()
    }
    return placed, placed_sleeves, unit


def _laydown_sleeve(design: GarmentDesign, anchors: dict[str, np.ndarray], side: str) -> Sleeve:
    """A sleeve leaving the armhole seam at the design's angle below horizontal."""
    shoulder, armpit = anchors[f"shoulder_{side}"], anchors[f"armpit_{side}"]
    out = OUTWARD[side]
    direction = np.array([out * np.cos(design.sleeve_angle), np.sin(design.sleeve_angle)])
    normal = out * np.array([direction[1], -direction[0]])  # towards the shoulder edge
    half_width = np.linalg.norm(shoulder - armpit) / 2 * design.cuff
    end = (shoulder + armpit) / 2 + direction * design.sleeve_length
    return Sleeve(shoulder, armpit, end + normal * half_width, end - normal * half_width)


def torso_outline(anchors: dict[str, np.ndarray], kind: str) -> np.ndarray:
    """The torso part's polygon (N x 2) from anchors, in garment or body space alike.

    Its points are functions of the anchors only, so the same polygon index names the same place
    on the laydown and on the worn garment.
    """
    sides = {}
    for side in SIDES:
        if kind == "tank-top":
            armhole = _tank_armhole(anchors, side)
        else:
            armhole = np.stack([anchors[f"shoulder_{side}"], anchors[f"armpit_{side}"]])
        sides[side] = np.concatenate([armhole, np.stack([anchors[f"waist_{side}"], anchors[f"hem_{side}"]])])
    hem_centre = anchors["hem_centre"][None]
    return np.concatenate([_neckline(anchors), sides["left"], hem_centre, sides["right"][::-1]])


def _neckline(anchors: dict[str, np.ndarray]) -> np.ndarray:
    """The collar from the right corner through the dip to the left corner."""
    corners_and_dip = (anchors["collar_right"], anchors["collar_dip"], anchors["collar_left"])
    return _curve(*corners_and_dip, NECKLINE_POINTS, through=True)


def control_points(anchors: dict[str, np.ndarray], kind: str) -> np.ndarray:
    """The warp's control points: the outline plus the chest and belly, where fabric bulges."""
    return np.concatenate([torso_outline(anchors, kind), np.stack([anchors["chest"], anchors["belly"]])])


def _tank_armhole(anchors: dict[str, np.ndarray], side: str) -> np.ndarray:
    """A tank top's strap and armhole: from part-way along the shoulder, curving in, to a low armpit."""
    collar, shoulder, armpit = (anchors[f"{name}_{side}"] for name in ("collar", "shoulder", "armpit"))
    strap = collar + (shoulder - collar) * 0.45
    low_armpit = armpit + (armpit - shoulder) * 0.2
    middle = (strap + low_armpit) / 2
    bend = middle + (anchors["chest"] - middle) * 0.3
    return _curve(strap, bend, low_armpit, ARMHOLE_POINTS, through=False)


def _curve(
    start: np.ndarray, middle: np.ndarray, end: np.ndarray, count: int, *, through: bool
) -> np.ndarray:
    """`count` points of a quadratic curve from `start` to `end`, bending towards `middle`.

    With `through` the curve passes through `middle` (a neckline through its dip); otherwise
    `middle` is the Bezier control point.
    """
    control = 2 * middle - (start + end) / 2 if through else middle
    t = np.linspace(0.0, 1.0, count)[:, None]
    return (1 - t) ** 2 * start + 2 * (1 - t) * t * control + t**2 * end


def _texture(
    design: GarmentDesign, anchors: dict[str, np.ndarray], shape: tuple[int, int], *, unit: float
) -> np.ndarray:
    """The printed fabric over the whole image (uint8 RGB)."""
    colour, accent = np.array(design.colour, np.float32), np.array(design.accent, np.float32)
    if design.pattern in ("stripes", "checks"):
        xs = np.arange(shape[1], dtype=np.float32)[None, :]
        ys = np.arange(shape[0], dtype=np.float32)[:, None]
        period = design.stripe_period * unit
        angle, duty = design.stripe_angle, design.stripe_duty
        weight = _stripes(xs, ys, angle, period, duty)
        if design.pattern == "checks":
            # Gingham: where the two stripe sets cross the accent is full, elsewhere half.
            weight = 0.5 * (weight + _stripes(xs, ys, angle + np.pi / 2, period, duty))
        fabric = colour + (accent - colour) * weight[..., None]
        texture = np.clip(fabric + 0.5, 0, 255).astype(np.uint8)
    else:
        texture = np.empty((*shape, 3), np.uint8)
        texture[:] = design.colour
    if design.pattern == "logo":
        centre = anchors["chest"] + (design.logo_offset * unit, 0.0)
        _draw_logo(texture, design, centre, design.logo_size * unit)
    return texture


def _stripes(xs: np.ndarray, ys: np.ndarray, angle: float, period: float, duty: float) -> np.ndarray:
    """Anti-aliased stripe coverage: bands `duty * period` wide every `period` pixels along `angle`."""
    position = (xs * np.float32(np.cos(angle)) + ys * np.float32(np.sin(angle))) % np.float32(period)
    band = duty * period
    inside = np.minimum(position, band - position)
    outside = -np.minimum(position - band, period - position)
    return np.clip(np.where(position < band, inside, outside) + 0.5, 0.0, 1.0)


def _draw_logo(texture: np.ndarray, design: GarmentDesign, centre: np.ndarray, size: float) -> None:
    """A chest print: a shape or a word in the accent colour."""
    accent = tuple(int(c) for c in design.accent)
    if design.logo_shape == "text":
        font = cv2.FONT_HERSHEY_DUPLEX
        thickness = max(1, round(size / 8))
        (width, height), _ = cv2.getTextSize(design.logo_word, font, 1.0, thickness)
        scale = 2.4 * size / width
        origin = (round(centre[0] - width * scale / 2), round(centre[1] + height * scale / 2))
        cv2.putText(texture, design.logo_word, origin, font, scale, accent, thickness, cv2.LINE_AA)
        return
    if design.logo_shape == "circle":
        angles = np.linspace(0, 2 * np.pi, 32, endpoint=False)
        radii = np.full_like(angles, size)
    elif design.logo_shape == "star":
        angles = np.linspace(0, 2 * np.pi, 10, endpoint=False) - np.pi / 2
        radii = np.where(np.arange(10) % 2 == 0, size, size * 0.45)
    else:
        angles = np.linspace(0, 2 * np.pi, 4, endpoint=False) - np.pi / 2
        radii = np.full_like(angles, size)
    points = centre + radii[:, None] * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    cv2.fillPoly(texture, [fixed_point(points)], accent, cv2.LINE_AA, SUBPIXEL_BITS)


def _draw_trims(
    texture: np.ndarray,
    design: GarmentDesign,
    anchors: dict[str, np.ndarray],
    sleeves: dict[str, Sleeve],
    *,
    unit: float,
) -> None:
    """Collar rib, hem band and cuffs in the trim colour, printed into the texture so they warp too."""
    thickness = max(1, round(5 * unit))
    trim = tuple(int(c) for c in design.trim)
    bands = [_neckline(anchors), np.stack([anchors["hem_right"], anchors["hem_centre"], anchors["hem_left"]])]
    bands += [np.stack([sleeve.cuff_outer, sleeve.cuff_inner]) for sleeve in sleeves.values()]
    if design.kind == "tank-top":
        bands += [_tank_armhole(anchors, side) for side in SIDES]
    for band in bands:
        cv2.polylines(texture, [fixed_point(band)], False, trim, thickness, cv2.LINE_AA, SUBPIXEL_BITS)
