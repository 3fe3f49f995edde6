"""Random but plausible standing people: a COCO-18 pose, body proportions and appearance.

Geometry is drawn in a 256 x 192 reference frame and scaled to the target resolution, so every
resolution shows the same people. A person's left is the image's right, as in OpenPose and LIP.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tryon.config import Resolution
from tryon.labels import KEYPOINT, NUM_KEYPOINTS

REFERENCE = np.array([192.0, 256.0])  # width, height of the frame the proportions are written in
MAX_POSE_TRIES = 200
EDGE_MARGIN = 3.0  # reference units every keypoint, hand and shoe keeps from the image border
CROSSING_PROBABILITY = 0.25  # share of people with a forearm across the torso
SHORTS_PROBABILITY = 0.25
MIN_ELBOW_DIFFERENCE = 0.3  # radians between left and right elbow bends, so the arms differ
PELVIS_WIDTH = 0.9  # thigh radii the trousers' waistband reaches past each hip keypoint

SKIN_TONES = (
    (255, 224, 196), (241, 194, 160), (224, 172, 130), (198, 134, 96), (160, 104, 70), (110, 70, 48),
)
HAIR_COLOURS = ((28, 24, 22), (62, 42, 30), (108, 72, 44), (204, 170, 112), (140, 62, 36), (156, 152, 148))
# Hair in the head's frame, in face half-axes: cap centre height, cap half-axes, fringe line (the
# hair covers the face above it), the lowest point of hair beside the face, and for hair that
# falls behind the shoulders its length (0: none).
HAIR_STYLES = {
    "short": {"cap_v": -0.2, "cap": (1.1, 0.9), "fringe": -0.45, "sides": -0.05, "back": 0.0},
    "buzz": {"cap_v": -0.1, "cap": (1.04, 0.95), "fringe": -0.62, "sides": -0.2, "back": 0.0},
    "long": {"cap_v": -0.15, "cap": (1.14, 0.95), "fringe": -0.42, "sides": 0.8, "back": 2.5},
    "bob": {"cap_v": -0.1, "cap": (1.16, 1.0), "fringe": -0.38, "sides": 0.8, "back": 1.2},
    "bun": {"cap_v": -0.2, "cap": (1.08, 0.9), "fringe": -0.55, "sides": -0.05, "back": 0.0},
}
PANTS_COLOURS = ((52, 72, 112), (32, 32, 38), (172, 152, 112), (112, 112, 118), (36, 42, 72), (92, 96, 62))
SHOE_COLOURS = ((236, 236, 232), (30, 30, 32), (104, 64, 40), (168, 40, 40), (120, 124, 130))
SIDES = ("right", "left")  # keypoint prefixes; right is the image's left
OUTWARD = {"right": -1.0, "left": 1.0}  # image x direction away from the body's midline


@dataclass(frozen=True)
class Body:
    """One person: pose in pixels, part sizes in pixels, and appearance.

    Rendering reads only this object, so the paired image and the unpaired ground truth of a
    sample (same body, other garment) agree everywhere the garment does not reach.
    """

    keypoints: np.ndarray  # 18 x 2 pixel coordinates, COCO-18 order
    confidence: np.ndarray  # 18
    unit: float  # pixels per reference unit
    face_centre: np.ndarray
    face_axes: tuple[float, float]
    head_roll: float  # radians
    neck_half_width: float
    arm_radii: tuple[float, float, float]  # shoulder, elbow, wrist
    hand_size: tuple[float, float]  # length, width
    leg_radii: tuple[float, float, float]  # hip, knee, ankle (skin)
    pants_radii: tuple[float, float, float]
    armpit_drop: float
    waist_half_width: float
    hem_half_width: float
    hem_drop: float
    chest_shift: np.ndarray  # pixels the chest pushes the worn garment off its straight-line place
    belly_shift: np.ndarray
    skin: np.ndarray  # RGB
    skin_tone: int
    hair: np.ndarray
    hair_style: str
    hair_part: float  # -1..1, tilt of the fringe
    legwear: str  # "pants" or "shorts"
    pants: np.ndarray
    shoes: np.ndarray
    background: np.ndarray
    crossing_arm: str | None  # "left", "right" or None

    def point(self, name: str) -> np.ndarray:
        """A keypoint by its COCO-18 name."""
        return self.keypoints[KEYPOINT[name]]

    def pose(self) -> np.ndarray:
        """OpenPose (x, y, confidence) rows."""
        return np.concatenate([self.keypoints, self.confidence[:, None]], axis=1)


def sample_body(rng: np.random.Generator, resolution: Resolution) -> Body:
    """Draw a person whose keypoints, hands, hair and shoes all fit inside the image."""
    size = np.array([resolution.width, resolution.height], dtype=float)
    base_unit = float(min(size / REFERENCE))
    for _ in range(MAX_POSE_TRIES):
        crossing_arm = str(rng.choice(SIDES)) if rng.random() < CROSSING_PROBABILITY else None
        skeleton = _sample_skeleton(rng, crossing_arm)
        if skeleton is None:
            continue
        unit = base_unit * rng.uniform(0.88, 1.02)
        centre = (size - 1) / 2 + rng.uniform(-1, 1, size=2) * np.array([10.0, 3.0]) * base_unit
        low, high = _to_pixels(skeleton.extent, centre=centre, unit=unit)
        margin = EDGE_MARGIN * base_unit
        if (low < margin).any() or (high > size - 1 - margin).any():
            continue
        head = _Head(
            centre=_to_pixels(skeleton.head.centre, centre=centre, unit=unit),
            half_width=skeleton.head.half_width * unit,
            half_height=skeleton.head.half_height * unit,
            roll=skeleton.head.roll,
        )
        keypoints = _to_pixels(skeleton.points, centre=centre, unit=unit)
        return _dress(rng, keypoints=keypoints, head=head, unit=unit, crossing_arm=crossing_arm)
    raise RuntimeError(f"no pose fits a {resolution} image after {MAX_POSE_TRIES} tries")


@dataclass(frozen=True)
class _Head:
    centre: np.ndarray
    half_width: float
    half_height: float
    roll: float


@dataclass(frozen=True)
class _Skeleton:
    """A pose in reference units."""

    points: np.ndarray  # COCO-18
    head: _Head
    extent: np.ndarray  # (min, max) corners of everything drawn: hands, hair, shoes included


def _sample_skeleton(rng: np.random.Generator, crossing_arm: str | None) -> _Skeleton | None:
    """A standing pose, or None when its two elbows bend too alike (the caller draws again)."""
    points = np.zeros((NUM_KEYPOINTS, 2))
    neck = np.array([96.0, 56.0])
    half_shoulders, tilt = rng.uniform(19, 26), rng.uniform(-0.06, 0.06)
    across = np.array([np.cos(tilt), np.sin(tilt)])
    hip_centre = neck + (rng.uniform(-3, 3), rng.uniform(68, 76))
    hip_tilt = -0.5 * tilt + rng.uniform(-0.03, 0.03)
    hip_across = np.array([np.cos(hip_tilt), np.sin(hip_tilt)])
    half_hips = rng.uniform(12, 16)
    points[KEYPOINT["neck"]] = neck
    extremes = []
    bends = {}
    for side in SIDES:
        out = OUTWARD[side]
        shoulder = neck + out * half_shoulders * across
        hip = hip_centre + out * half_hips * hip_across
        elbow, wrist, hand_tip, bends[side] = _sample_arm(rng, shoulder, out, crossing=crossing_arm == side)
        knee, ankle = _sample_leg(rng, hip, out)
        for joint, point in zip(("shoulder", "elbow", "wrist", "hip", "knee", "ankle"),
                                (shoulder, elbow, wrist, hip, knee, ankle), strict=True):
            points[KEYPOINT[f"{side}_{joint}"]] = point
        extremes += [hand_tip, ankle + (out * 11.0, 9.0)]  # the hand's tip; the shoe's toe and sole
    head = _place_head(rng, points, neck)
    extremes.append(from_local(head.centre, head.roll, 0.0, -1.55 * head.half_height))  # a bun's top
    if abs(bends["left"] - bends["right"]) < MIN_ELBOW_DIFFERENCE:
        return None
    every = np.concatenate([points, np.array(extremes)])
    return _Skeleton(points=points, head=head, extent=np.stack([every.min(axis=0), every.max(axis=0)]))


def _sample_arm(
    rng: np.random.Generator, shoulder: np.ndarray, out: float, *, crossing: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Elbow, wrist, hand tip and elbow bend (radians) of one arm.

    Angles are measured from straight down, positive away from the body. A crossing arm hangs
    close to the body with its forearm folded across the belly, in front of the torso.
    """
    if crossing:
        upper_angle = rng.uniform(0.0, 0.2)
        fore_angle = -rng.uniform(1.25, 1.75)
        foreshortening = rng.uniform(0.8, 0.92)
    else:
        upper_angle = rng.uniform(0.1, 0.6)
        fore_angle = max(-0.1, upper_angle + rng.uniform(-0.35, 1.5))
        foreshortening = rng.uniform(0.92, 1.0)
    upper, fore = rng.uniform(38, 43) * foreshortening, rng.uniform(33, 38) * foreshortening
    elbow = shoulder + upper * _direction(upper_angle, out)
    wrist = elbow + fore * _direction(fore_angle, out)
    hand_tip = wrist + 12.0 * _direction(fore_angle, out)
    return elbow, wrist, hand_tip, fore_angle - upper_angle


def _sample_leg(rng: np.random.Generator, hip: np.ndarray, out: float) -> tuple[np.ndarray, np.ndarray]:
    """Knee and ankle of a standing leg, feet a little apart."""
    thigh, shin = rng.uniform(50, 56), rng.uniform(49, 54)
    knee_dx = out * rng.uniform(-2, 4)
    knee = hip + (knee_dx, np.sqrt(thigh**2 - knee_dx**2))
    ankle_dx = out * rng.uniform(-1, 8) - knee_dx
    ankle = knee + (ankle_dx, np.sqrt(shin**2 - ankle_dx**2))
    return knee, ankle


def _place_head(rng: np.random.Generator, points: np.ndarray, neck: np.ndarray) -> _Head:
    """The head above the neck; fills the nose, eye and ear keypoints consistently with it."""
    half_height = rng.uniform(12.5, 14.5)
    half_width = half_height * rng.uniform(0.74, 0.82)
    head = _Head(
        centre=neck + (rng.uniform(-2, 2), -(rng.uniform(10, 13) + half_height)),
        half_width=half_width,
        half_height=half_height,
        roll=rng.uniform(-0.1, 0.1),
    )
    yaw = rng.uniform(-0.12, 0.12) * half_width  # a slight turn shifts the features sideways
    local = {
        "nose": (yaw, 0.22 * half_height),
        "right_eye": (-0.36 * half_width + 0.8 * yaw, -0.08 * half_height),
        "left_eye": (0.36 * half_width + 0.8 * yaw, -0.08 * half_height),
        "right_ear": (-0.97 * half_width - 0.2 * yaw, 0.05 * half_height),
        "left_ear": (0.97 * half_width - 0.2 * yaw, 0.05 * half_height),
    }
    for name, (u, v) in local.items():
        points[KEYPOINT[name]] = from_local(head.centre, head.roll, u, v)
    return head


def _dress(
    rng: np.random.Generator, *, keypoints: np.ndarray, head: _Head, unit: float, crossing_arm: str | None
) -> Body:
    """Part sizes (pixels) and appearance for a posed skeleton."""
    skin_tone = int(rng.integers(len(SKIN_TONES)))
    pants_radii = np.array([rng.uniform(10.5, 12), rng.uniform(8, 9), rng.uniform(6.5, 7.5)]) * unit
    half_hips = np.linalg.norm(keypoints[KEYPOINT["left_hip"]] - keypoints[KEYPOINT["right_hip"]]) / 2
    background = np.full(3, rng.uniform(222, 248)) + rng.uniform(-6, 6, size=3)
    return Body(
        keypoints=keypoints,
        confidence=np.round(rng.uniform(0.9, 1.0, size=NUM_KEYPOINTS), 3),
        unit=unit,
        face_centre=head.centre,
        face_axes=(head.half_width, head.half_height),
        head_roll=head.roll,
        neck_half_width=rng.uniform(5.5, 6.8) * unit,
        arm_radii=tuple(np.array([rng.uniform(6, 7.2), rng.uniform(4.6, 5.4), rng.uniform(3.6, 4.2)]) * unit),
        hand_size=(rng.uniform(10, 12) * unit, rng.uniform(7, 8.5) * unit),
        leg_radii=tuple(np.array([rng.uniform(8, 9.5), rng.uniform(5.5, 6.5), rng.uniform(4, 4.6)]) * unit),
        pants_radii=tuple(pants_radii),
        armpit_drop=rng.uniform(19, 23) * unit,
        waist_half_width=rng.uniform(18, 23) * unit,
        # The hem reaches past the trousers' waistband, which spans the hips plus a thigh's radius.
        hem_half_width=half_hips + PELVIS_WIDTH * pants_radii[0] + rng.uniform(1, 4) * unit,
        hem_drop=rng.uniform(6, 11) * unit,
        chest_shift=rng.uniform(-1, 1, size=2) * (4.0, 2.5) * unit,
        belly_shift=rng.uniform(-1, 1, size=2) * (4.0, 2.5) * unit,
        skin=np.clip(np.array(SKIN_TONES[skin_tone]) + rng.uniform(-6, 6, size=3), 0, 255),
        skin_tone=skin_tone,
        hair=_jitter(rng, HAIR_COLOURS, 8),
        hair_style=str(rng.choice(list(HAIR_STYLES))),
        hair_part=rng.uniform(-1, 1),
        legwear="shorts" if rng.random() < SHORTS_PROBABILITY else "pants",
        pants=_jitter(rng, PANTS_COLOURS, 10),
        shoes=np.array(SHOE_COLOURS[rng.integers(len(SHOE_COLOURS))], dtype=float),
        background=np.clip(background, 0, 255),
        crossing_arm=crossing_arm,
    )


def _jitter(rng: np.random.Generator, palette: tuple[tuple[int, int, int], ...], spread: float) -> np.ndarray:
    """A colour of `palette`, each channel moved by up to `spread`."""
    colour = np.array(palette[rng.integers(len(palette))], dtype=float)
    return np.clip(colour + rng.uniform(-spread, spread, size=3), 0, 255)


def from_local(centre: np.ndarray, angle: float, u: float, v: float) -> np.ndarray:
    """Image coordinates of (u, v) in a frame centred on `centre` and rotated by `angle` radians."""
    cos, sin = np.cos(angle), np.sin(angle)
    return centre + np.array([u * cos - v * sin, u * sin + v * cos])


def _to_pixels(points: np.ndarray, *, centre: np.ndarray, unit: float) -> np.ndarray:
    """Reference-frame points placed at `centre` of the image, `unit` pixels per reference unit."""
    return centre + (points - REFERENCE / 2) * unit


def _direction(angle: float, out: float) -> np.ndarray:
    """Unit vector `angle` radians from straight down, turned towards `out` (+1 image right)."""
    return np.array([out * np.sin(angle), np.cos(angle)])
