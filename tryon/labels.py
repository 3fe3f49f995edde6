"""ACGPN's label vocabulary: the single source of truth for parsing ids, pose keypoints and remaps.

Every module that needs a label id, a class count or a keypoint index imports it from here.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TypeVar

import numpy as np


class Label(IntEnum):
    """ACGPN parsing ids (ids 2 and 3 exist in the original table but are never used)."""

    BACKGROUND = 0
    HAIR = 1
    UPPER_CLOTHES = 4
    LEFT_SHOE = 5
    RIGHT_SHOE = 6
    NOISE = 7
    PANTS = 8
    LEFT_LEG = 9
    RIGHT_LEG = 10
    LEFT_ARM = 11
    FACE = 12
    RIGHT_ARM = 13


NUM_LABELS = 14
"""Channels of a one-hot layout: ids 0..13, the two unused ids included, as the original code does."""

UNUSED_IDS = (2, 3)
VALID_IDS = frozenset(int(label) for label in Label)
ARM_LABELS = (Label.LEFT_ARM, Label.RIGHT_ARM)

FUSED_INTO_CLOTHES = (Label.LEFT_ARM, Label.RIGHT_ARM, Label.NOISE)
"""Labels that the fused body layout merges into the clothes region.

The layout generator sees arms and the upper garment as one region so that it has to predict
where the arms go for the new garment instead of copying them from the old one.
"""

# OpenPose COCO-18 keypoint order.
POSE_KEYPOINTS = (
    "nose",
    "neck",
    "right_shoulder",
    "right_elbow",
    "right_wrist",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "right_hip",
    "right_knee",
    "right_ankle",
    "left_hip",
    "left_knee",
    "left_ankle",
    "right_eye",
    "left_eye",
    "right_ear",
    "left_ear",
)
NUM_KEYPOINTS = len(POSE_KEYPOINTS)
KEYPOINT = {name: index for index, name in enumerate(POSE_KEYPOINTS)}

ArrayT = TypeVar("ArrayT")


def fuse_layout(label: ArrayT) -> ArrayT:
    """Return the fused body layout: arms and noise relabelled as upper clothes.

    Works on NumPy arrays and torch tensors alike (elementwise ops only), so the training step can
    call it on the device.
    """
    fused = label
    for merged in FUSED_INTO_CLOTHES:
        fused = fused * (label != merged) + (label == merged) * int(Label.UPPER_CLOTHES)
    return fused


# Parser tables: each parser's classes in id order, by their published names, and the ACGPN id each
# becomes. Accessories whose side is unknown (gloves, scarves, belts, bags) go to NOISE, which the
# fused layout merges into the garment region; dresses, coats and jumpsuits count as upper clothes
# because they cover the torso the new top will cover.
LIP_CLASSES = (
    ("Background", Label.BACKGROUND),
    ("Hat", Label.HAIR),
    ("Hair", Label.HAIR),
    ("Glove", Label.NOISE),
    ("Sunglasses", Label.FACE),
    ("Upper-clothes", Label.UPPER_CLOTHES),
    ("Dress", Label.UPPER_CLOTHES),
    ("Coat", Label.UPPER_CLOTHES),
    ("Socks", Label.PANTS),
    ("Pants", Label.PANTS),
    ("Jumpsuits", Label.UPPER_CLOTHES),
    ("Scarf", Label.NOISE),
    ("Skirt", Label.PANTS),
    ("Face", Label.FACE),
    ("Left-arm", Label.LEFT_ARM),
    ("Right-arm", Label.RIGHT_ARM),
    ("Left-leg", Label.LEFT_LEG),
    ("Right-leg", Label.RIGHT_LEG),
    ("Left-shoe", Label.LEFT_SHOE),
    ("Right-shoe", Label.RIGHT_SHOE),
)

# CIHP has LIP's classes but one: its id 10 is torso skin where LIP's is jumpsuits. ACGPN has no skin
# class for the torso. Torso skin is not garment, so it must stay out of UPPER_CLOTHES (the worn
# garment G2 learns and G3 repaints); it is not a fixed body part either, since a new top with
# another neckline may cover it or bare more of it. NOISE is the id for exactly that: kept apart in
# the parsing map, merged into the garment region of the fused layout, where G1 decides anew what
# the new garment covers.
CIHP_CLASSES = (
    *LIP_CLASSES[:10],
    ("Torso-skin", Label.NOISE),
    *LIP_CLASSES[11:],
)

ATR_CLASSES = (
    ("Background", Label.BACKGROUND),
    ("Hat", Label.HAIR),
    ("Hair", Label.HAIR),
    ("Sunglasses", Label.FACE),
    ("Upper-clothes", Label.UPPER_CLOTHES),
    ("Skirt", Label.PANTS),
    ("Pants", Label.PANTS),
    ("Dress", Label.UPPER_CLOTHES),
    ("Belt", Label.NOISE),
    ("Left-shoe", Label.LEFT_SHOE),
    ("Right-shoe", Label.RIGHT_SHOE),
    ("Face", Label.FACE),
    ("Left-leg", Label.LEFT_LEG),
    ("Right-leg", Label.RIGHT_LEG),
    ("Left-arm", Label.LEFT_ARM),
    ("Right-arm", Label.RIGHT_ARM),
    ("Bag", Label.NOISE),
    ("Scarf", Label.NOISE),
)

PARSER_CLASSES = {"lip": LIP_CLASSES, "cihp": CIHP_CLASSES, "atr": ATR_CLASSES}
"""Each supported human parser's class table: (published class name, ACGPN id) in the parser's id order."""

PARSERS = tuple(PARSER_CLASSES)


def _remap(classes: tuple[tuple[str, Label], ...]) -> tuple[Label, ...]:
    return tuple(label for _, label in classes)


LIP_TO_ACGPN = _remap(LIP_CLASSES)
CIHP_TO_ACGPN = _remap(CIHP_CLASSES)
ATR_TO_ACGPN = _remap(ATR_CLASSES)
PARSER_REMAPS = {parser: _remap(classes) for parser, classes in PARSER_CLASSES.items()}


def remap_parsing(parsing: np.ndarray, parser: str) -> np.ndarray:
    """Convert a parsing map from a common human parser (`lip`, `cihp`, `atr`) to ACGPN ids.

    Raises ValueError naming the offending ids when the map holds ids outside the parser's table.
    """
    try:
        table = np.asarray([int(label) for label in PARSER_REMAPS[parser]], dtype=np.uint8)
    except KeyError:
        raise ValueError(f"unknown parser {parser!r}; expected one of {list(PARSERS)}") from None
    parsing = np.asarray(parsing)
    ids = np.unique(parsing)
    unknown = ids[(ids < 0) | (ids >= len(table))]
    if unknown.size:
        raise ValueError(
            f"parsing map holds ids {unknown.tolist()} outside the {parser} table (0..{len(table) - 1}); "
            "is it the output of another parser (--parser lip, cihp or atr)?"
        )
    return table[parsing]
