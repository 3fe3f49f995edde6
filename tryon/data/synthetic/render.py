"""Render a dressed person and their parsing map, back to front.

Paint order (each layer hides what is under it, in the RGB and the labels alike): background,
long hair behind the head, legs and trousers, shoes, torso skin and neck, the worn top, the arms
(a forearm crossing the torso comes last), then the head with its hair.
"""

from __future__ import annotations

import cv2
import numpy as np

from tryon.data.synthetic.body import HAIR_STYLES, OUTWARD, PELVIS_WIDTH, SIDES, Body, from_local
from tryon.data.synthetic.garment import Garment, control_points, torso_outline
from tryon.data.synthetic.raster import (
    Box,
    Canvas,
    ellipse_alpha,
    ellipse_alpha_local,
    half_plane_alpha,
    local_frame,
    polygon_alpha,
    tube,
    tube_box,
)
from tryon.data.synthetic.warp import ThinPlateSpline, dense_map
from tryon.labels import Label

ARM_LABEL = {"left": Label.LEFT_ARM, "right": Label.RIGHT_ARM}
LEG_LABEL = {"left": Label.LEFT_LEG, "right": Label.RIGHT_LEG}
SHOE_LABEL = {"left": Label.LEFT_SHOE, "right": Label.RIGHT_SHOE}
SKIN_SHADING = 0.25  # how much bare limbs darken towards their outline
# Arms and sleeves start this many radii down the upper arm with a cap this much flatter than
# round, so the shoulder continues the torso's line instead of standing up like a shoulder pad.
SHOULDER_INSET = 0.5
SHOULDER_SQUASH = 2.5


def render_person(body: Body, garment: Garment) -> tuple[np.ndarray, np.ndarray]:
    """The person wearing `garment`: an H x W x 3 uint8 RGB image and its H x W uint8 parsing map."""
    anchors = body_anchors(body)
    canvas = _background(body, garment.texture.shape[:2])
    _paint_back_hair(canvas, body)
    _paint_legs(canvas, body)
    _paint_torso_skin(canvas, body, anchors)
    _paint_worn_torso(canvas, anchors, garment)
    for side in sorted(SIDES, key=lambda side: side == body.crossing_arm):
        _paint_arm(canvas, body, garment, side)
    _paint_head(canvas, body)
    return canvas.image(), canvas.label


def body_anchors(body: Body) -> dict[str, np.ndarray]:
    """The torso's anchors on the body, under the names `torso_outline` reads (see garment.TEMPLATE)."""
    unit = body.unit
    neck = body.point("neck")
    hip_centre = (body.point("left_hip") + body.point("right_hip")) / 2
    across = _unit(body.point("left_shoulder") - body.point("right_shoulder"))
    hip_across = _unit(body.point("left_hip") - body.point("right_hip"))
    waist_across = _unit(across * 0.38 + hip_across * 0.62)
    down = _unit(hip_centre - neck)
    waist = neck + (hip_centre - neck) * 0.62
    hem_centre = hip_centre + down * body.hem_drop
    anchors = {
        "collar_dip": neck + down * 5 * unit,
        "hem_centre": hem_centre,
        "chest": neck + (hip_centre - neck) * 0.32 + body.chest_shift,
        "belly": neck + (hip_centre - neck) * 0.72 + body.belly_shift,
    }
    for side in SIDES:
        out = OUTWARD[side]
        shoulder = body.point(f"{side}_shoulder")
        collar_half_width = body.neck_half_width + 0.5 * unit
        anchors[f"collar_{side}"] = neck + out * across * collar_half_width - down * 2 * unit
        anchors[f"shoulder_{side}"] = shoulder + out * across * 2 * unit + down * unit
        anchors[f"armpit_{side}"] = shoulder + down * body.armpit_drop - out * across * 1.5 * unit
        anchors[f"waist_{side}"] = waist + out * waist_across * body.waist_half_width
        anchors[f"hem_{side}"] = hem_centre + out * hip_across * body.hem_half_width
    return anchors


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def _shape(canvas: Canvas) -> tuple[int, int]:
    return canvas.label.shape


def _background(body: Body, shape: tuple[int, int]) -> Canvas:
    """A plain light wall, a slightly darker floor from behind the feet, and a soft shadow."""
    height, width = shape
    unit = body.unit
    ankles = np.stack([body.point("left_ankle"), body.point("right_ankle")])
    light = np.linspace(1.03, 0.95, height, dtype=np.float32)
    light[np.arange(height) > ankles[:, 1].max() - 14 * unit] *= 0.94
    rgb = np.empty((height, width, 3), np.float32)
    rgb[:] = (light[:, None] * body.background.astype(np.float32)[None, :])[:, None, :]
    canvas = Canvas(rgb=rgb, label=np.zeros(shape, np.uint8))
    centre = ankles.mean(axis=0) + (0, 8 * unit)
    axes = (34 * unit, 6 * unit)
    box = Box.around(centre[None], axes[0] + 1, shape)
    shadow = ellipse_alpha(box, centre, axes, 0.0) * 0.5
    canvas.paint(box, shadow, canvas.rgb[box.slices] * 0.8, None)
    return canvas


def _paint_back_hair(canvas: Canvas, body: Body) -> None:
    """Hair that falls behind the neck and shoulders (long styles only)."""
    style = HAIR_STYLES[body.hair_style]
    if not style["back"]:
        return
    half_width, half_height = body.face_axes
    width, length = style["cap"][0] * half_width, style["back"] * half_height
    box = Box.around(body.face_centre[None], length + width + 2, _shape(canvas))
    u, v = local_frame(box, body.face_centre, body.head_roll)
    top = 0.1 * half_height
    crown = ellipse_alpha_local(u, v - top, (width, half_height))
    rounding = 0.6 * width
    sides = np.minimum(half_plane_alpha(np.abs(u) - width), half_plane_alpha(top - v))
    straight = np.minimum(sides, half_plane_alpha(v - (length - rounding)))
    tips = np.minimum(sides, ellipse_alpha_local(u, v - (length - rounding), (width, rounding)))
    canvas.paint(box, np.maximum(crown, np.maximum(straight, tips)), body.hair * 0.85, Label.HAIR)


def _paint_legs(canvas: Canvas, body: Body) -> None:
    """Bare legs (under shorts), the trousers or shorts, then the shoes."""
    unit = body.unit
    shape = _shape(canvas)
    shorts = body.legwear == "shorts"
    if shorts:
        for side in SIDES:
            joints = np.stack([body.point(f"{side}_{joint}") for joint in ("hip", "knee", "ankle")])
            radii = np.array(body.leg_radii)
            box = tube_box(joints, radii, shape)
            leg = tube(box, joints, radii, side=OUTWARD[side])
            canvas.paint(box, leg.alpha, _shade(body.skin, leg.radial, SKIN_SHADING), LEG_LABEL[side])
    hips = np.stack([body.point("right_hip"), body.point("left_hip")])
    hip_centre = hips.mean(axis=0)
    hip_across = _unit(hips[1] - hips[0])
    down = _unit(hip_centre - body.point("neck"))
    hip_radius = body.pants_radii[0]
    half_hips = np.linalg.norm(hips[1] - hips[0]) / 2
    pelvis = np.stack([
        hip_centre - hip_across * (half_hips + PELVIS_WIDTH * hip_radius) - down * 12 * unit,
        hip_centre + hip_across * (half_hips + PELVIS_WIDTH * hip_radius) - down * 12 * unit,
        hips[1] + hip_across * hip_radius,
        hip_centre + down * 1.4 * hip_radius,
        hips[0] - hip_across * hip_radius,
    ])
    box = Box.around(pelvis, 2, shape)
    canvas.paint(box, polygon_alpha(box, pelvis), body.pants, Label.PANTS)
    for side in SIDES:
        hip, knee, ankle = (body.point(f"{side}_{joint}") for joint in ("hip", "knee", "ankle"))
        if shorts:
            joints, radii = np.stack([hip, hip + (knee - hip) * 0.5]), np.array(body.pants_radii[:2])
        else:
            joints, radii = np.stack([hip, knee, ankle]), np.array(body.pants_radii)
        box = tube_box(joints, radii, shape)
        trouser = tube(box, joints, radii, side=OUTWARD[side], cut_end=True)
        # Faint shading: the waistband above is flat, and a strong edge would draw a seam at the hips.
        canvas.paint(box, trouser.alpha, _shade(body.pants, trouser.radial, 0.06), Label.PANTS)
    for side in SIDES:
        out = OUTWARD[side]
        centre = body.point(f"{side}_ankle") + (out * 2.5 * unit, 4.5 * unit)
        axes = (8.5 * unit, 4.5 * unit)
        box = Box.around(centre[None], axes[0] + 1, shape)
        canvas.paint(box, ellipse_alpha(box, centre, axes, out * 0.12), body.shoes, SHOE_LABEL[side])


def _paint_torso_skin(canvas: Canvas, body: Body, anchors: dict[str, np.ndarray]) -> None:
    """Skin under the top (seen only past a tank top's armholes, labelled as the nearer arm) and the neck."""
    outline = torso_outline(anchors, "t-shirt")
    box = Box.around(outline, 2, _shape(canvas))
    xs, _ = box.grid()
    side_label = np.where(xs < body.point("neck")[0], int(Label.RIGHT_ARM), int(Label.LEFT_ARM))
    side_label = np.broadcast_to(side_label, (box.y1 - box.y0, box.x1 - box.x0))
    canvas.paint(box, polygon_alpha(box, outline), body.skin * 0.96, side_label)
    half_width, half_height = body.face_axes
    neck = body.point("neck")
    across = _unit(body.point("left_shoulder") - body.point("right_shoulder"))
    down = _unit((body.point("left_hip") + body.point("right_hip")) / 2 - neck)
    # The neck widens below the collar line so the collar always sits on skin.
    base, base_half_width = neck + down * 7 * body.unit, body.neck_half_width + 2 * body.unit
    polygon = np.stack([
        from_local(body.face_centre, body.head_roll, -0.5 * half_width, 0.78 * half_height),
        from_local(body.face_centre, body.head_roll, 0.5 * half_width, 0.78 * half_height),
        neck + across * body.neck_half_width,
        base + across * base_half_width,
        base - across * base_half_width,
        neck - across * body.neck_half_width,
    ])
    box = Box.around(polygon, 2, _shape(canvas))
    canvas.paint(box, polygon_alpha(box, polygon), body.skin * 0.88, Label.FACE)


def _paint_worn_torso(canvas: Canvas, anchors: dict[str, np.ndarray], garment: Garment) -> None:
    """The garment's torso pulled onto the body by a thin-plate spline through matching anchors."""
    kind = garment.design.kind
    outline = torso_outline(anchors, kind)
    box = Box.around(outline, 2, _shape(canvas))
    spline = ThinPlateSpline.fit(control_points(anchors, kind), control_points(garment.anchors, kind))
    map_x, map_y = dense_map(spline, box)
    fabric = cv2.remap(garment.texture, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    # A cylinder's shading across the garment's width makes the torso read as round.
    centre = garment.anchors["hem_centre"][0]
    half_width = abs(garment.anchors["hem_left"][0] - centre)
    across = (map_x - centre) / half_width
    canvas.paint(box, polygon_alpha(box, outline), _shade(fabric, np.abs(across), 0.16), Label.UPPER_CLOTHES)


def _paint_arm(canvas: Canvas, body: Body, garment: Garment, side: str) -> None:
    """Bare arm, then the sleeve over it (following upper arm and forearm), then the hand."""
    shape = _shape(canvas)
    shoulder, elbow, wrist = (body.point(f"{side}_{joint}") for joint in ("shoulder", "elbow", "wrist"))
    radii = np.array(body.arm_radii)
    joints = np.stack([_below_shoulder(shoulder, elbow, radii[0]), elbow, wrist])
    box = tube_box(joints, radii, shape)
    arm = tube(box, joints, radii, side=OUTWARD[side], start_squash=SHOULDER_SQUASH)
    canvas.paint(box, arm.alpha, _shade(body.skin, arm.radial, SKIN_SHADING), ARM_LABEL[side])
    if side in garment.sleeves:
        _paint_sleeve(canvas, body, garment, side)
    direction = _unit(wrist - elbow)
    length, width = body.hand_size
    centre = wrist + direction * length * 0.45
    box = Box.around(centre[None], length / 2 + 1, shape)
    angle = float(np.arctan2(direction[1], direction[0]))
    hand = ellipse_alpha(box, centre, (length / 2, width / 2), angle)
    canvas.paint(box, hand, body.skin * 0.97, ARM_LABEL[side])


def _paint_sleeve(canvas: Canvas, body: Body, garment: Garment, side: str) -> None:
    """A sleeve: garment-space sleeve coordinates follow the arm's length and width."""
    design = garment.design
    shoulder, elbow, wrist = (body.point(f"{side}_{joint}") for joint in ("shoulder", "elbow", "wrist"))
    ease = design.sleeve_ease * body.unit
    shoulder_r, elbow_r, wrist_r = body.arm_radii
    start = _below_shoulder(shoulder, elbow, shoulder_r + ease)
    if design.kind == "long-sleeve":
        joints = np.stack([start, elbow, wrist])
        radii = np.array([shoulder_r + ease, elbow_r + ease, wrist_r + 0.6 * ease])
    else:
        cover = design.sleeve_cover
        joints = np.stack([start, shoulder + (elbow - shoulder) * cover])
        radii = np.array([shoulder_r + ease, shoulder_r + (elbow_r - shoulder_r) * cover + 0.8 * ease])
    box = tube_box(joints, radii, _shape(canvas))
    worn = tube(box, joints, radii, side=OUTWARD[side], cut_end=True, start_squash=SHOULDER_SQUASH)
    map_x, map_y = garment.sleeves[side].at(worn.along / worn.length, np.clip(worn.across, -1.3, 1.3))
    fabric = cv2.remap(garment.texture, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    canvas.paint(box, worn.alpha, _shade(fabric, worn.radial, 0.2), Label.UPPER_CLOTHES)


def _below_shoulder(shoulder: np.ndarray, elbow: np.ndarray, radius: float) -> np.ndarray:
    """Where an arm or sleeve of `radius` starts, a little down the upper arm."""
    return shoulder + _unit(elbow - shoulder) * SHOULDER_INSET * radius


def _paint_head(canvas: Canvas, body: Body) -> None:
    """Ears, face, hair on top, then the facial features (colour only: they stay FACE)."""
    half_width, half_height = body.face_axes
    centre, roll = body.face_centre, body.head_roll
    box = Box.around(centre[None], 1.7 * half_height, _shape(canvas))
    u, v = local_frame(box, centre, roll)
    ear_axes = (0.22 * half_width, 0.3 * half_height)
    ears = np.maximum(*(ellipse_alpha(box, body.point(f"{side}_ear"), ear_axes, roll) for side in SIDES))
    canvas.paint(box, ears, body.skin * 0.93, Label.FACE)
    face = ellipse_alpha_local(u, v, (half_width, half_height))
    canvas.paint(box, face, body.skin, Label.FACE)
    canvas.paint(box, _hair_alpha(body, u, v, face), body.hair, Label.HAIR)
    nose = body.point("nose")
    features = [(nose, (0.09, 0.06), body.skin * 0.8)]
    for side in SIDES:
        eye = body.point(f"{side}_eye")
        brow = eye + from_local(np.zeros(2), roll, 0.0, -0.17 * half_height)
        features += [(eye, (0.13, 0.08), (38, 30, 28)), (brow, (0.2, 0.045), body.hair)]
    mouth = nose + from_local(np.zeros(2), roll, 0.0, 0.3 * half_height)
    features.append((mouth, (0.26, 0.06), body.skin * 0.6 + np.array([70.0, 14.0, 18.0])))
    for centre_of_feature, (width, height), colour in features:
        axes = (width * half_width, height * half_height)
        canvas.paint(box, ellipse_alpha(box, centre_of_feature, axes, roll), colour, None)


def _hair_alpha(body: Body, u: np.ndarray, v: np.ndarray, face: np.ndarray) -> np.ndarray:
    """Coverage of the hair on top of the head: the cap beside the face, and the fringe over it."""
    style = HAIR_STYLES[body.hair_style]
    half_width, half_height = body.face_axes
    cap_width, cap_height = style["cap"]
    cap_axes = (cap_width * half_width, cap_height * half_height)
    cap = ellipse_alpha_local(u, v - style["cap_v"] * half_height, cap_axes)
    fringe_line = style["fringe"] * half_height + body.hair_part * 0.25 * u
    fringe = np.minimum(cap, half_plane_alpha(v - fringe_line))
    beside = np.minimum(np.minimum(cap, 1.0 - face), half_plane_alpha(v - style["sides"] * half_height))
    hair = np.maximum(fringe, beside)
    if body.hair_style == "bun":
        bun_radius = 0.45 * half_width
        hair = np.maximum(hair, ellipse_alpha_local(u, v + 1.05 * half_height, (bun_radius, bun_radius)))
    return hair


def _shade(colour: np.ndarray, radial: np.ndarray, depth: float) -> np.ndarray:
    """`colour` (RGB or a texture) darkened towards a round part's outline; `radial` is 0 on the axis."""
    light = 1.0 - depth * np.minimum(radial, 1.0) ** 2
    return np.asarray(colour, np.float32) * light[..., None]
