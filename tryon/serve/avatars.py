"""Avatars: people prepared once for try-ons, each stored with its garment-independent representation.

An avatar table is one file (written atomically, loaded weights-only) that holds, per avatar id, the
person's `PersonRepresentation` (`tryon.steps`) in lossless compact dtypes: the photo and parsing map
as uint8, the one-hot body layout, pose maps and worn-garment mask as bool, the skin colour as float.
A request then runs only the garment-dependent parts of the try-on (G1, G2, warp, G3). The table
records the resolution and pose radius its representations were computed for, and a model that
differs in either is refused (`check_fits`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import cv2
import numpy as np
import torch

from tryon.atomic import atomic_path
from tryon.config import DataConfig, ModelConfig, Resolution
from tryon.data.dataset import image_to_tensor, tensor_to_image
from tryon.data.images import UnusableImage, decode_image
from tryon.data.layout import DatasetLayout, PoseFormatError, read_pose, write_rgb
from tryon.data.validate import Problem
from tryon.labels import KEYPOINT, NUM_KEYPOINTS, VALID_IDS, Label
from tryon.ops.pose_maps import INSIDE, OUTSIDE
from tryon.steps import PersonRepresentation, represent_person
from tryon.visual import colorize_layout, contact_sheet, draw_pose

AVATAR_FORMAT = 1
AVATAR_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
"""Avatar ids travel in URLs, JSON and file names: letters, digits, `.`, `_`, `-`, at most 64."""
REQUIRED_KEYPOINTS = ("neck", "right_shoulder", "left_shoulder")
"""The joints the layout generator places a top from; a pose without them cannot wear one."""
SHEET_COLUMNS = ("avatar", "layout", "pose")


class AvatarRefused(ValueError):
    """A person that cannot become an avatar; the message says why and what to do."""


class UnknownAvatar(LookupError):
    """A request named an avatar id that the table does not hold."""


class AvatarTableError(ValueError):
    """An avatar table file that is unreadable, of another format, or built for another model."""


@dataclass(frozen=True)
class Avatar:
    """One avatar: its id, where it came from, its keypoints and its person representation (batch 1)."""

    avatar_id: str
    source: str
    keypoints: torch.Tensor  # (18, 3) pixels and confidence
    person: PersonRepresentation

    @property
    def photo(self) -> np.ndarray:
        """(H, W, 3) uint8 RGB."""
        return tensor_to_image(self.person.image[0])

    @property
    def labels(self) -> np.ndarray:
        """(H, W) uint8 ACGPN ids."""
        return self.person.labels[0, 0].to(torch.uint8).numpy()


@dataclass(frozen=True)
class AvatarTable:
    """Avatars by id, with the representation settings they were computed for."""

    resolution: Resolution
    pose_radius: int
    avatars: Mapping[str, Avatar] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "avatars", MappingProxyType(dict(self.avatars)))

    @classmethod
    def empty(cls, config: ModelConfig) -> AvatarTable:
        return cls(resolution=config.resolution, pose_radius=config.pose_radius)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(sorted(self.avatars))

    def __len__(self) -> int:
        return len(self.avatars)

    def person(self, avatar_id: str) -> PersonRepresentation:
        """The stored representation of `avatar_id`; UnknownAvatar when there is none."""
        avatar = self.avatars.get(avatar_id)
        if avatar is None:
            raise UnknownAvatar(f"unknown avatar {avatar_id!r}: this model serves {len(self)} avatars")
        return avatar.person

    def check_fits(self, config: ModelConfig, *, where: Path | str) -> None:
        """Refuse a model whose resolution or pose radius differs from the table's."""
        found = (str(self.resolution), self.pose_radius)
        expected = (str(config.resolution), config.pose_radius)
        if found != expected:
            raise AvatarTableError(
                f"avatar table {where} was built at {found[0]} with pose_radius {found[1]}, the model runs at "
                f"{expected[0]} with pose_radius {expected[1]}; build the avatars again for this model"
            )

    def with_avatar(self, avatar: Avatar, *, replace: bool = False) -> AvatarTable:
        """A table that also holds `avatar`; refuses an existing id unless `replace`."""
        if avatar.avatar_id in self.avatars and not replace:
            raise AvatarRefused(f"avatar {avatar.avatar_id!r} exists already; pass --replace to rebuild it")
        return AvatarTable(
            resolution=self.resolution,
            pose_radius=self.pose_radius,
            avatars={**self.avatars, avatar.avatar_id: avatar},
        )

    def to(self, device: torch.device | str) -> AvatarTable:
        """The same table with every representation on `device`."""
        moved = {
            key: Avatar(avatar.avatar_id, avatar.source, avatar.keypoints, _person_to(avatar.person, device))
            for key, avatar in self.avatars.items()
        }
        return AvatarTable(resolution=self.resolution, pose_radius=self.pose_radius, avatars=moved)

    def save(self, path: Path) -> Path:
        """Write the table atomically."""
        payload = {
            "format": AVATAR_FORMAT,
            "resolution": str(self.resolution),
            "pose_radius": self.pose_radius,
            "avatars": {key: _pack(avatar) for key, avatar in self.avatars.items()},
        }
        with atomic_path(Path(path)) as tmp:
            torch.save(payload, tmp)
        return Path(path)

    @classmethod
    def load(cls, path: Path) -> AvatarTable:
        """Read a table written by `save`; AvatarTableError says what is wrong with the file."""
        path = Path(path)
        if not path.is_file():
            raise AvatarTableError(f"avatar table {path} does not exist; create it with `tryon avatars add`")
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # noqa: BLE001  torch raises several unrelated types for corrupt files
            raise AvatarTableError(f"avatar table {path} is not readable ({type(error).__name__}: {error})") from None
        if not isinstance(payload, dict) or payload.get("format") != AVATAR_FORMAT:
            raise AvatarTableError(f"{path} is not a tryon avatar table of format {AVATAR_FORMAT}")
        return cls(
            resolution=Resolution.parse(payload["resolution"]),
            pose_radius=int(payload["pose_radius"]),
            avatars={key: _unpack(key, packed) for key, packed in payload["avatars"].items()},
        )


@dataclass(frozen=True)
class AvatarReport:
    """What an import did: avatar ids added (or replaced) and the persons refused, with reasons."""

    added: tuple[str, ...]
    refused: tuple[Problem, ...]

    def summary(self) -> str:
        return f"avatars: {len(self.added)} added, {len(self.refused)} refused"


def make_avatar(
    avatar_id: str,
    *,
    image: np.ndarray,
    labels: np.ndarray,
    keypoints: np.ndarray,
    source: str,
    config: ModelConfig,
) -> Avatar:
    """Check a person (uint8 (H, W, 3) photo, (H, W) ACGPN ids, (18, 3) keypoints) and compute its
    representation for `config`. Raises AvatarRefused naming what does not fit."""
    if not AVATAR_ID.fullmatch(avatar_id):
        raise AvatarRefused(
            f"avatar id {avatar_id!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    image, labels = np.asarray(image), np.asarray(labels)
    keypoints = np.asarray(keypoints, dtype=np.float32)
    shape = config.resolution.shape
    if image.shape != (*shape, 3) or image.dtype != np.uint8:
        raise AvatarRefused(
            f"photo is {image.shape[:2]} {image.dtype}, expected a {config.resolution} uint8 RGB image (HxW); "
            "import it through the person import, which resizes it"
        )
    if labels.shape != shape:
        raise AvatarRefused(f"parsing map is {labels.shape}, expected {config.resolution} like the photo")
    bad = sorted(set(np.unique(labels).tolist()) - VALID_IDS)
    if bad:
        raise AvatarRefused(f"parsing map holds ids {bad} outside ACGPN's table; remap it with tryon.labels.remap_parsing")
    if not (labels == Label.UPPER_CLOTHES).any():
        raise AvatarRefused(
            "the parsing map shows no upper clothes: the try-on replaces the top the avatar wears; "
            "choose a photo of a person wearing a top"
        )
    if keypoints.shape != (NUM_KEYPOINTS, 3):
        raise AvatarRefused(f"keypoints have shape {keypoints.shape}, expected ({NUM_KEYPOINTS}, 3)")
    height, width = shape
    missing = [
        name
        for name in REQUIRED_KEYPOINTS
        if not (keypoints[KEYPOINT[name], 2] > 0 and 0 <= keypoints[KEYPOINT[name], 0] < width
                and 0 <= keypoints[KEYPOINT[name], 1] < height)
    ]
    if missing:
        raise AvatarRefused(
            f"pose lacks {', '.join(missing)} inside the image: a top is placed from the neck and shoulders; "
            "choose a frontal photo showing the upper body"
        )
    person = represent_person(
        image_to_tensor(image)[None],
        torch.from_numpy(labels.astype(np.int64))[None],
        torch.from_numpy(keypoints)[None],
        config=config,
    )
    return Avatar(avatar_id=avatar_id, source=source, keypoints=torch.from_numpy(keypoints), person=person)


def dataset_person(
    layout: DatasetLayout, person: str, *, max_image_pixels: int = DataConfig.max_image_pixels
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Photo, parsing map and keypoints of a dataset person, decoded with the validator's checks.

    Raises AvatarRefused naming the file and the problem.
    """
    paths = {"photo": layout.person_image(person), "parsing map": layout.label(person), "pose": layout.pose(person)}
    for what, path in paths.items():
        if not path.is_file():
            raise AvatarRefused(f"no {what}: expected {path}")
    try:
        photo = decode_image(paths["photo"], max_image_pixels=max_image_pixels)
        parsing = decode_image(paths["parsing map"], max_image_pixels=max_image_pixels)
    except UnusableImage as error:
        raise AvatarRefused(str(error)) from None
    if parsing.mode not in ("L", "P"):
        raise AvatarRefused(f"{paths['parsing map']}: mode {parsing.mode}; a parsing map is single-channel (L or P)")
    try:
        keypoints = read_pose(paths["pose"])
    except PoseFormatError as error:
        raise AvatarRefused(str(error)) from None
    return np.asarray(photo.convert("RGB")), np.asarray(parsing), keypoints


def build_avatars(
    *,
    data_root: Path,
    out: Path,
    config: ModelConfig,
    phase: str = "test",
    persons: Sequence[str] | None = None,
    replace: bool = False,
    max_image_pixels: int = DataConfig.max_image_pixels,
) -> AvatarReport:
    """Add dataset persons to the avatar table at `out` (created when missing), each under its stem.

    `persons` names person images of the phase (e.g. `000001_0.jpg`); None takes every person. Every
    person that does not fit is refused with its reason and the others go on; the table is written
    once, atomically, when at least one avatar was added.
    """
    layout = DatasetLayout(Path(data_root), phase)
    if not layout.image_dir.is_dir():
        raise FileNotFoundError(f"{layout.image_dir}: no such folder; is {data_root} a dataset root with a {phase} phase?")
    table = load_or_create(out, config)
    added: list[str] = []
    refused: list[Problem] = []
    for person in persons if persons is not None else layout.person_names():
        avatar_id = Path(person).stem
        try:
            image, labels, keypoints = dataset_person(layout, person, max_image_pixels=max_image_pixels)
            source = f"{layout.root}/{layout.phase}_img/{Path(person).stem}"
            avatar = make_avatar(avatar_id, image=image, labels=labels, keypoints=keypoints, source=source, config=config)
            table = table.with_avatar(avatar, replace=replace)
        except AvatarRefused as error:
            refused.append(Problem(layout.person_image(person), str(error)))
            continue
        added.append(avatar_id)
    if added:
        table.save(out)
    return AvatarReport(added=tuple(added), refused=tuple(refused))


def add_photo_avatar(
    avatar_id: str,
    *,
    image_path: Path,
    pose_path: Path,
    parsing_path: Path,
    parser: str,
    out: Path,
    config: ModelConfig,
    person_index: int | None = None,
    replace: bool = False,
    max_image_pixels: int = DataConfig.max_image_pixels,
) -> Avatar:
    """Add a person photo with its OpenPose JSON and parser output, through the person import
    (`tryon.data.persons.prepare_person`: framed, resized and remapped as the dataset's persons are;
    `person_index` picks the person of a pose file that lists several).

    Raises AvatarRefused with the importer's or the avatar check's reason; the table is unchanged then.
    """
    from tryon.data.persons import PersonRefused, prepare_person

    table = load_or_create(out, config)
    try:
        prepared = prepare_person(
            image_path=Path(image_path),
            pose_path=Path(pose_path),
            parsing_path=Path(parsing_path),
            resolution=config.resolution,
            parser=parser,
            person_index=person_index,
            max_image_pixels=max_image_pixels,
        )
    except PersonRefused as error:
        raise AvatarRefused(str(error)) from None
    avatar = make_avatar(
        avatar_id,
        image=prepared.image,
        labels=prepared.labels,
        keypoints=prepared.keypoints,
        source=str(image_path),
        config=config,
    )
    table.with_avatar(avatar, replace=replace).save(out)
    return avatar


def load_or_create(path: Path, config: ModelConfig) -> AvatarTable:
    """The table at `path` (checked against `config`), or an empty one for `config` when there is none."""
    if not Path(path).exists():
        return AvatarTable.empty(config)
    table = AvatarTable.load(path)
    table.check_fits(config, where=path)
    return table


def write_avatar_sheet(table: AvatarTable, out: Path) -> Path:
    """A contact sheet with one row per avatar (photo with its id, layout, pose), in `table.ids` order."""
    if not len(table):
        raise ValueError("the avatar table is empty: nothing to show")
    rows = []
    for avatar_id in table.ids:
        avatar = table.avatars[avatar_id]
        photo = avatar.photo
        rows.append(
            [
                _captioned(photo, avatar_id),
                colorize_layout(avatar.labels),
                draw_pose(photo // 3 + 170, avatar.keypoints.numpy()),
            ]
        )
    write_rgb(Path(out), contact_sheet(rows, titles=SHEET_COLUMNS))
    return Path(out)


def _captioned(image: np.ndarray, text: str) -> np.ndarray:
    out = np.ascontiguousarray(image.copy())
    scale = max(0.3, image.shape[0] / 512)
    baseline = image.shape[0] - 4
    cv2.putText(out, text, (2, baseline), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, text, (2, baseline), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def _pack(avatar: Avatar) -> dict[str, Any]:
    person = avatar.person
    return {
        "source": avatar.source,
        "keypoints": avatar.keypoints.float(),
        "image": torch.from_numpy(avatar.photo).permute(2, 0, 1).contiguous(),
        "labels": person.labels[0].to(torch.uint8),
        "body_layout": person.body_layout[0] > 0,
        "pose_maps": person.pose_maps[0] > 0,
        "worn_garment": person.worn_garment[0] > 0,
        "skin_colour": person.skin_colour[0].float(),
    }


def _unpack(avatar_id: str, packed: dict[str, Any]) -> Avatar:
    person = PersonRepresentation(
        image=image_to_tensor(packed["image"].permute(1, 2, 0).numpy())[None],
        labels=packed["labels"].long()[None],
        body_layout=packed["body_layout"].float()[None],
        pose_maps=torch.where(packed["pose_maps"], INSIDE, OUTSIDE)[None],
        worn_garment=packed["worn_garment"].float()[None],
        skin_colour=packed["skin_colour"][None],
    )
    return Avatar(avatar_id=avatar_id, source=packed["source"], keypoints=packed["keypoints"], person=person)


def _person_to(person: PersonRepresentation, device: torch.device | str) -> PersonRepresentation:
    return PersonRepresentation(**{name: value.to(device) for name, value in vars(person).items()})
