"""A crafted EvalBatch with exact ground truth, to exercise the evaluation without a trained model.

Each person is a flat-colour figure (face, hair, torso garment, arms, pants) whose arms take one
of three poses, easy, medium and hard in turn; the "model outputs" are the truth degraded by a
chosen amount of noise, so metrics move in a known direction with `noise`. The changed regions
are computed as the evaluation run computes them, with a radius that suits the small size.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from tryon.eval.difficulty import LEVELS
from tryon.eval.records import EvalBatch
from tryon.eval.regions import changed_region, unpaired_changed_region
from tryon.labels import KEYPOINT, NUM_KEYPOINTS, NUM_LABELS, Label
from tryon.ops.composition import layout_without_garment

BACKGROUND_RGB = (225, 225, 225)
SKIN_RGB = (225, 175, 140)
PANTS_RGB = (50, 60, 110)
HAIR_RGB = (70, 40, 20)

# Shoulder -> elbow -> wrist as fractions of the image, for the right arm (image left) and the
# left arm given mirrored (x measured from the right edge), per pose.
_HANGING = ((0.30, 0.30), (0.22, 0.50), (0.20, 0.68))
_ARM_POSES = {
    "easy": (_HANGING, _HANGING),  # both arms beside the body
    "medium": (((0.30, 0.30), (0.20, 0.50), (0.36, 0.60)), _HANGING),  # one hand at the torso's edge
    "hard": (((0.30, 0.30), (0.22, 0.52), (0.62, 0.48)), _HANGING),  # a forearm across the belly
}
_HIPS = ((0.36, 0.66), (0.64, 0.66))


def _pose(level: str, height: int, width: int) -> np.ndarray:
    keypoints = np.zeros((NUM_KEYPOINTS, 3), dtype=np.float32)
    scale = np.array([width, height], dtype=np.float32)

    def put(name: str, fraction: tuple[float, float]) -> None:
        keypoints[KEYPOINT[name]] = (*(np.array(fraction) * scale), 1.0)

    for side, arm in zip(("right", "left"), _ARM_POSES[level], strict=True):
        for name, (x, y) in zip(("shoulder", "elbow", "wrist"), arm, strict=True):
            put(f"{side}_{name}", (1 - x if side == "left" else x, y))
    put("right_hip", _HIPS[0])
    put("left_hip", _HIPS[1])
    put("neck", (0.5, 0.28))
    put("nose", (0.5, 0.16))
    return keypoints


def _person(
    keypoints: np.ndarray, garment_rgb: tuple[int, int, int], height: int, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """Draw the figure; returns (RGB image, label ids)."""
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[:] = BACKGROUND_RGB
    label = np.zeros((height, width), dtype=np.uint8)
    point = {name: tuple(int(v) for v in keypoints[KEYPOINT[name], :2]) for name in KEYPOINT}
    thickness = max(2, width // 12)

    def blank() -> np.ndarray:
        return np.zeros((height, width), dtype=np.uint8)

    def paint(mask: np.ndarray, rgb: tuple[int, int, int], label_id: Label) -> None:
        image[mask > 0] = rgb
        label[mask > 0] = label_id

    hips = [point["right_hip"], point["left_hip"]]
    legs = np.array([*hips, (hips[1][0], height), (hips[0][0], height)])
    paint(cv2.fillPoly(blank(), [legs], 1), PANTS_RGB, Label.PANTS)
    torso = np.array([point["right_shoulder"], point["left_shoulder"], *hips[::-1]])
    paint(cv2.fillPoly(blank(), [torso], 1), garment_rgb, Label.UPPER_CLOTHES)
    radius = max(2, width // 9)
    nose = point["nose"]
    paint(cv2.circle(blank(), nose, radius + 1, 1, -1), HAIR_RGB, Label.HAIR)
    paint(cv2.circle(blank(), (nose[0], nose[1] + 2), radius, 1, -1), SKIN_RGB, Label.FACE)
    for side, label_id in (("right", Label.RIGHT_ARM), ("left", Label.LEFT_ARM)):
        joints = np.array([point[f"{side}_shoulder"], point[f"{side}_elbow"], point[f"{side}_wrist"]])
        paint(cv2.polylines(blank(), [joints], False, 1, thickness), SKIN_RGB, label_id)
    return image, label


def _garment(rgb: tuple[int, int, int], height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """A laydown T-shirt on white; returns (RGB image, mask)."""
    mask = np.zeros((height, width), dtype=np.uint8)
    body = np.array(
        [
            (0.3, 0.25),
            (0.7, 0.25),
            (0.85, 0.4),
            (0.72, 0.45),
            (0.7, 0.8),
            (0.3, 0.8),
            (0.28, 0.45),
            (0.15, 0.4),
        ]
    )
    cv2.fillPoly(mask, [(body * (width, height)).astype(np.int32)], 1)
    image = np.full((height, width, 3), 255, dtype=np.uint8)
    image[mask > 0] = rgb
    return image, mask


def _images(arrays: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 127.5 - 1


def _masks(arrays: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(arrays)).float()[:, None]


def make_example_batch(
    count: int = 6, *, height: int = 64, width: int = 48, noise: float = 0.1, seed: int = 0, first: int = 0
) -> EvalBatch:
    """`count` crafted samples (poses easy, medium, hard in turn) with outputs degraded by `noise`.

    `noise` is the standard deviation of the Gaussian noise added to the try-ons (on the [0, 1]
    scale) and the share of G1 layout pixels (the parsing map without the garment, G1's target)
    relabelled at random; the warped garment and G2's garment mask are shifted by `noise` of the
    width.
    `first` numbers the samples, so that several batches have distinct names.
    """
    rng = np.random.default_rng(seed)
    columns: dict[str, list[np.ndarray]] = {
        name: []
        for name in ("person", "label", "target", "pose", "garment", "mask", "new_garment", "new_mask")
    }
    for index in range(count):
        colour, new_colour = (tuple(int(v) for v in rng.integers(30, 230, 3)) for _ in range(2))
        keypoints = _pose(LEVELS[index % len(LEVELS)], height, width)
        person, label = _person(keypoints, colour, height, width)
        garment, mask = _garment(colour, height, width)
        new_garment, new_mask = _garment(new_colour, height, width)
        row = {
            "person": person,
            "label": label,
            "target": _person(keypoints, new_colour, height, width)[0],
            "pose": keypoints,
            "garment": garment,
            "mask": mask,
            "new_garment": new_garment,
            "new_mask": new_mask,
        }
        for name, value in row.items():
            columns[name].append(value)
    person = _images(columns["person"])
    label = torch.from_numpy(np.stack(columns["label"])).long()
    worn = (label == Label.UPPER_CLOTHES).float()[:, None]
    generator = torch.Generator().manual_seed(seed)

    def degrade(images: torch.Tensor) -> torch.Tensor:
        return (images + noise * 2 * torch.randn(images.shape, generator=generator)).clamp(-1, 1)

    relabel = torch.rand(label.shape, generator=generator) < noise
    g1_target = layout_without_garment(label, worn)[:, 0]
    layout = torch.where(relabel, torch.randint(0, NUM_LABELS, label.shape, generator=generator), g1_target)
    shift = round(noise * width)
    unpaired_target = _images(columns["target"])
    radius = max(1, height // 32)
    return EvalBatch(
        names=tuple(f"example_{first + index:03d}.jpg" for index in range(count)),
        garment_names=tuple(f"garment_{first + index:03d}.jpg" for index in range(count)),
        person=person,
        garment=_images(columns["garment"]),
        garment_mask=_masks(columns["mask"]),
        target=person,
        tryon=degrade(person),
        layout=layout,
        label=label,
        warped_garment=torch.roll(person * worn + (1 - worn), shift, dims=3),
        warped_mask=torch.roll(worn, shift, dims=3),
        worn_mask=worn,
        keypoints=torch.from_numpy(np.stack(columns["pose"])),
        changed_region=changed_region(label, radius=radius),
        predicted_worn_mask=torch.roll(worn, shift, dims=3),
        unpaired_tryon=degrade(unpaired_target),
        unpaired_garment=_images(columns["new_garment"]),
        unpaired_garment_mask=_masks(columns["new_mask"]),
        unpaired_target=unpaired_target,
        unpaired_changed_region=unpaired_changed_region(label, person, unpaired_target, radius=radius),
    )
