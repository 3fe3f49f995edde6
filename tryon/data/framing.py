"""Geometry shared by the person import and the resize tool: a window of an image, resized to a
resolution, with keypoints carried through the same map.

Pixel-centre convention throughout, as OpenCV's resize uses: pixel i covers [i - 0.5, i + 0.5), so a
keypoint on a pixel lands on the pixel that pixel becomes.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from tryon.config import Resolution


@dataclass(frozen=True)
class Frame:
    """A window of an image in its pixels (top-left corner and size); it may reach beyond the image."""

    top: int
    left: int
    height: int
    width: int


def resize_photo(image: np.ndarray, resolution: Resolution) -> np.ndarray:
    """An (h, w, 3) uint8 image at the resolution: area averaging down, bicubic up."""
    interpolation = cv2.INTER_AREA if image.shape[0] > resolution.height else cv2.INTER_CUBIC
    return cv2.resize(image, (resolution.width, resolution.height), interpolation=interpolation)


def resize_labels(labels: np.ndarray, resolution: Resolution) -> np.ndarray:
    """An (h, w) label map at the resolution by nearest neighbour, so no id is blended into another.

    INTER_NEAREST_EXACT samples pixel centres as the image resize does; INTER_NEAREST is shifted.
    """
    return cv2.resize(labels, (resolution.width, resolution.height), interpolation=cv2.INTER_NEAREST_EXACT)


def resize_mask(mask: np.ndarray, resolution: Resolution) -> np.ndarray:
    """An (h, w) bool mask at the resolution: resampled as grey levels and cut at half, for smooth edges."""
    grey = mask.astype(np.float32)
    interpolation = cv2.INTER_AREA if mask.shape[0] > resolution.height else cv2.INTER_LINEAR
    return cv2.resize(grey, (resolution.width, resolution.height), interpolation=interpolation) >= 0.5


def frame_keypoints(keypoints: np.ndarray, frame: Frame, resolution: Resolution) -> np.ndarray:
    """Photo keypoints mapped into the framed, resized image, with the pixel-centre convention of
    OpenCV's resize; missing joints, and joints outside the frame, become (0, 0, 0)."""
    keypoints = np.asarray(keypoints, dtype=np.float32)
    scale = np.array([resolution.width / frame.width, resolution.height / frame.height], dtype=np.float32)
    offset = np.array([frame.left, frame.top], dtype=np.float32)
    xy = (keypoints[:, :2] - offset + 0.5) * scale - 0.5
    inside = (
        (xy >= -0.5).all(axis=1) & (xy[:, 0] < resolution.width - 0.5) & (xy[:, 1] < resolution.height - 0.5)
    )
    present = (keypoints[:, 2] > 0) & inside
    # Within half a pixel of the border rounds onto the border pixel; the validator wants [0, size).
    xy = np.clip(xy, 0, [resolution.width - 1, resolution.height - 1])
    out = np.zeros_like(keypoints)
    out[present, :2], out[present, 2] = xy[present], keypoints[present, 2]
    return out


def crop_frame(array: np.ndarray, frame: Frame, fill: int | tuple[int, ...]) -> np.ndarray:
    """The frame's pixels of `array`, `fill` where the frame reaches beyond it."""
    out = np.empty((frame.height, frame.width, *array.shape[2:]), dtype=array.dtype)
    out[...] = fill
    height, width = array.shape[:2]
    top, left = max(0, frame.top), max(0, frame.left)
    bottom, right = min(height, frame.top + frame.height), min(width, frame.left + frame.width)
    if bottom > top and right > left:
        out[top - frame.top : bottom - frame.top, left - frame.left : right - frame.left] = array[
            top:bottom, left:right
        ]
    return out
