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


# LIP and CIHP share one 20-class table. Accessories whose side is unknown (gloves, scarves) go to
# NOISE, which the fused layout merges into the garment region; dresses, coats and jumpsuits count
# as upper clothes because they cover the torso the new top will cover.
LIP_TO_ACGPN = (
    Label.BACKGROUND,  # 0 background
    Label.HAIR,  # 1 hat
    Label.HAIR,  # 2 hair
    Label.NOISE,  # 3 glove
    Label.FACE,  # 4 sunglasses
    Label.UPPER_CLOTHES,  # 5 upper clothes
    Label.UPPER_CLOTHES,  # 6 dress
    Label.UPPER_CLOTHES,  # 7 coat
    Label.PANTS,  # 8 socks
    Label.PANTS,  # 9 pants
    Label.UPPER_CLOTHES,  # 10 jumpsuit
    Label.NOISE,  # 11 scarf
    Label.PANTS,  # 12 skirt
    Label.FACE,  # 13 face
    Label.LEFT_ARM,  # 14 left arm
    Label.RIGHT_ARM,  # 15 right arm
    Label.LEFT_LEG,  # 16 left leg
    Label.RIGHT_LEG,  # 17 right leg
    Label.LEFT_SHOE,  # 18 left shoe
    Label.RIGHT_SHOE,  # 19 right shoe
)

ATR_TO_ACGPN = (
    Label.BACKGROUND,  # 0 background
    Label.HAIR,  # 1 hat
    Label.HAIR,  # 2 hair
    Label.FACE,  # 3 sunglasses
    Label.UPPER_CLOTHES,  # 4 upper clothes
    Label.PANTS,  # 5 skirt
    Label.PANTS,  # 6 pants
    Label.UPPER_CLOTHES,  # 7 dress
    Label.NOISE,  # 8 belt
    Label.LEFT_SHOE,  # 9 left shoe
    Label.RIGHT_SHOE,  # 10 right shoe
    Label.FACE,  # 11 face
    Label.LEFT_LEG,  # 12 left leg
    Label.RIGHT_LEG,  # 13 right leg
    Label.LEFT_ARM,  # 14 left arm
    Label.RIGHT_ARM,  # 15 right arm
    Label.NOISE,  # 16 bag
    Label.NOISE,  # 17 scarf
)

PARSER_REMAPS = {"lip": LIP_TO_ACGPN, "cihp": LIP_TO_ACGPN, "atr": ATR_TO_ACGPN}


def remap_parsing(parsing: np.ndarray, parser: str) -> np.ndarray:
    """Convert a parsing map from a common human parser (`lip`, `cihp`, `atr`) to ACGPN ids.

    Raises ValueError naming the offending ids when the map holds ids outside the parser's table.
    """
    try:
        table = np.asarray([int(label) for label in PARSER_REMAPS[parser]], dtype=np.uint8)
    except KeyError:
        raise ValueError(f"unknown parser {parser!r}; expected one of {sorted(PARSER_REMAPS)}") from None
    ids = np.unique(parsing)
    unknown = ids[(ids < 0) | (ids >= len(table))]
    if unknown.size:
        raise ValueError(
            f"parsing map holds ids {unknown.tolist()} outside the {parser} table (0..{len(table) - 1})"
        )
    return table[parsing]
