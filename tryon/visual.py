"""Pictures for people: colour-coded layouts, pose skeletons and labelled contact sheets."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from tryon.labels import KEYPOINT, NUM_LABELS, Label

# One colour per ACGPN id; unused ids 2 and 3 stay black like the background.
LABEL_COLORS = np.zeros((NUM_LABELS, 3), dtype=np.uint8)
for _label, _rgb in {
    Label.HAIR: (120, 60, 20),
    Label.UPPER_CLOTHES: (230, 50, 50),
    Label.LEFT_SHOE: (60, 60, 160),
    Label.RIGHT_SHOE: (100, 100, 220),
    Label.NOISE: (250, 250, 0),
    Label.PANTS: (40, 90, 200),
    Label.LEFT_LEG: (80, 180, 80),
    Label.RIGHT_LEG: (140, 220, 140),
    Label.LEFT_ARM: (240, 160, 40),
    Label.FACE: (250, 200, 170),
    Label.RIGHT_ARM: (250, 220, 110),
}.items():
    LABEL_COLORS[_label] = _rgb

SKELETON = tuple(
    (KEYPOINT[a], KEYPOINT[b])
    for a, b in (
        ("neck", "nose"),
        ("neck", "right_shoulder"),
        ("right_shoulder", "right_elbow"),
        ("right_elbow", "right_wrist"),
        ("neck", "left_shoulder"),
        ("left_shoulder", "left_elbow"),
        ("left_elbow", "left_wrist"),
        ("neck", "right_hip"),
        ("right_hip", "right_knee"),
        ("right_knee", "right_ankle"),
        ("neck", "left_hip"),
        ("left_hip", "left_knee"),
        ("left_knee", "left_ankle"),
        ("nose", "right_eye"),
        ("right_eye", "right_ear"),
        ("nose", "left_eye"),
        ("left_eye", "left_ear"),
    )
)


def colorize_layout(label: np.ndarray) -> np.ndarray:
    """Map an (H, W) array of label ids to an (H, W, 3) uint8 RGB picture."""
    return LABEL_COLORS[np.clip(label, 0, NUM_LABELS - 1)]


def draw_pose(canvas: np.ndarray, keypoints: np.ndarray, *, min_confidence: float = 0.05) -> np.ndarray:
    """Draw a COCO-18 skeleton ((18, 3) pixels + confidence) on a copy of an RGB image."""
    out = np.ascontiguousarray(canvas.copy())
    scale = max(1, round(out.shape[0] / 256))
    visible = keypoints[:, 2] > min_confidence
    for a, b in SKELETON:
        if visible[a] and visible[b]:
            pa = tuple(round(v) for v in keypoints[a, :2])
            pb = tuple(round(v) for v in keypoints[b, :2])
            cv2.line(out, pa, pb, (0, 160, 255), 2 * scale, cv2.LINE_AA)
    for x, y, _ in keypoints[visible]:
        cv2.circle(out, (round(x), round(y)), 2 * scale + 1, (255, 0, 120), -1, cv2.LINE_AA)
    return out


def contact_sheet(rows: Sequence[Sequence[np.ndarray]], *, titles: Sequence[str], margin: int = 4) -> np.ndarray:
    """Tile equally sized RGB images into a grid with a title row; all rows have len(titles) cells."""
    height, width = rows[0][0].shape[:2]
    title_height = max(16, height // 12)
    columns = len(titles)
    sheet = np.full(
        (title_height + len(rows) * (height + margin) + margin, columns * (width + margin) + margin, 3),
        255,
        dtype=np.uint8,
    )
    font_scale = title_height / 32
    for column, title in enumerate(titles):
        x = margin + column * (width + margin)
        cv2.putText(sheet, title, (x, int(title_height * 0.75)), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0), 1, cv2.LINE_AA)
    for row_index, row in enumerate(rows):
        if len(row) != columns:
            raise ValueError(f"row {row_index} has {len(row)} images, expected {columns}")
        y = title_height + margin + row_index * (height + margin)
        for column, image in enumerate(row):
            x = margin + column * (width + margin)
            sheet[y : y + height, x : x + width] = image
    return sheet
