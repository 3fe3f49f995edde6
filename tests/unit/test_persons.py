"""Person import: framing, resizing and remapping one photo, every refusal with its reason, and the folder import."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tryon.config import Resolution
from tryon.data.framing import Frame, frame_keypoints
from tryon.data.layout import DatasetLayout, read_label, read_pose, read_rgb
from tryon.data.persons import PersonRefused, add_persons, person_frame, prepare_person
from tryon.data.pose import OPENPOSE_BODY_25
from tryon.labels import KEYPOINT, Label

RESOLUTION = Resolution(64, 48)
PHOTO = (150, 160)  # HxW: another size and aspect than the dataset's, the person off-centre
RED = (230, 20, 20)

# LIP ids: (id, top, bottom, left, right) in photo pixels; the glove is a small marker at the left wrist.
LIP_PARTS = (
    (2, 10, 20, 90, 110),  # hair
    (13, 20, 40, 90, 110),  # face
    (5, 40, 95, 80, 120),  # upper clothes
    (14, 45, 90, 68, 80),  # left arm
    (15, 45, 90, 120, 132),  # right arm
    (9, 95, 140, 82, 118),  # pants
    (3, 85, 91, 71, 77),  # glove on the left wrist: the marker
)
WRIST = (74, 88)  # (x, y) inside the glove
JOINTS = {
    "Nose": (100, 30),
    "Neck": (100, 40),
    "RShoulder": (120, 44),
    "LShoulder": (80, 44),
    "LWrist": WRIST,
}


def lip_parsing(shape: tuple[int, int] = PHOTO) -> np.ndarray:
    parsing = np.zeros(shape, dtype=np.uint8)
    for class_id, top, bottom, left, right in LIP_PARTS:
        parsing[top:bottom, left:right] = class_id
    return parsing


def photo_for(parsing: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(0)
    palette = rng.integers(40, 220, (256, 3), dtype=np.uint8)
    palette[0] = (200, 200, 190)
    palette[3] = RED
    return palette[parsing]


def pose_document(people: list[dict[str, tuple[float, float]]]) -> dict:
    document = {"version": 1.3, "people": []}
    for joints in people:
        values = np.zeros((25, 3))
        for name, (x, y) in joints.items():
            values[OPENPOSE_BODY_25.index(name)] = (x, y, 0.9)
        document["people"].append({"pose_keypoints_2d": values.ravel().tolist()})
    return document


@dataclass(frozen=True)
class Files:
    image: Path
    pose: Path
    parsing: Path

    def prepare(self, **kwargs):
        options = {"resolution": RESOLUTION, "parser": "lip"} | kwargs
        return prepare_person(
            image_path=self.image, pose_path=self.pose, parsing_path=self.parsing, **options
        )


def write_person(
    folder: Path,
    name: str = "ada",
    *,
    parsing: np.ndarray | None = None,
    photo: np.ndarray | None = None,
    people: list[dict[str, tuple[float, float]]] | None = None,
) -> Files:
    folder.mkdir(parents=True, exist_ok=True)
    parsing = lip_parsing() if parsing is None else parsing
    files = Files(folder / f"{name}.jpg", folder / f"{name}_keypoints.json", folder / f"{name}_parsing.png")
    Image.fromarray(photo_for(lip_parsing()) if photo is None else photo).save(files.image, quality=95)
    Image.fromarray(parsing, mode="L").save(files.parsing)
    files.pose.write_text(json.dumps(pose_document([JOINTS] if people is None else people)))
    return files


def test_a_keypoint_on_a_marked_pixel_lands_on_the_same_marked_pixel(tmp_path):
    person = write_person(tmp_path).prepare()
    assert person.image.shape == (*RESOLUTION.shape, 3) and person.image.dtype == np.uint8
    assert person.labels.shape == RESOLUTION.shape and person.labels.dtype == np.uint8
    assert person.keypoints.shape == (18, 3) and person.keypoints.dtype == np.float32
    x, y, confidence = person.keypoints[KEYPOINT["left_wrist"]]
    column, row = round(float(x)), round(float(y))
    assert confidence == pytest.approx(0.9)
    assert person.labels[row, column] == Label.NOISE  # the glove, a few pixels wide after resizing
    assert np.abs(person.image[row, column].astype(int) - RED).max() < 40
    assert set(np.unique(person.labels)) <= {int(v) for v in Label}
    assert (person.keypoints[KEYPOINT["right_hip"]] == 0).all()  # missing joints stay (0, 0, 0)


def test_the_person_is_framed_at_the_resolutions_aspect_with_a_margin(tmp_path):
    person = write_person(tmp_path).prepare()
    rows = np.flatnonzero((person.labels != Label.BACKGROUND).any(axis=1))
    cols = np.flatnonzero((person.labels != Label.BACKGROUND).any(axis=0))
    assert rows[0] > 0 and rows[-1] < RESOLUTION.height - 1  # margin above and below
    assert rows[-1] - rows[0] + 1 >= 0.85 * RESOLUTION.height  # the person's height fills the frame
    assert abs((cols[0] + cols[-1]) / 2 - RESOLUTION.width / 2) < 3  # centred


def test_a_person_cut_by_the_photos_edge_keeps_that_edge():
    foreground = np.zeros((100, 200), dtype=bool)
    foreground[30:100, 80:120] = True  # cut at the bottom, e.g. a portrait
    frame = person_frame(foreground, Resolution(64, 48))
    assert frame.top + frame.height == 100  # padded above, never below the cut
    assert frame.width * 64 == pytest.approx(frame.height * 48, abs=64)


def test_keypoints_follow_the_pixel_centre_map_and_missing_ones_stay_missing():
    frame = Frame(top=-10, left=5, height=128, width=96)
    keypoints = np.zeros((18, 3), dtype=np.float32)
    keypoints[0] = (5, -10, 1)  # the frame's first pixel
    keypoints[1] = (100, 117, 1)  # its last pixel
    keypoints[2] = (500, 500, 1)  # outside the frame: dropped
    keypoints[3] = (53, 54, 0.5)  # frame pixel (48, 64)
    mapped = frame_keypoints(keypoints, frame, Resolution(64, 48))
    assert mapped[0].tolist() == pytest.approx([0.0, 0.0, 1.0])  # (0 + 0.5) / 2 - 0.5 = -0.25, onto pixel 0
    assert mapped[1].tolist() == pytest.approx([47.0, 63.0, 1.0])  # 47.25 and 63.25, onto the last pixel
    assert mapped[3].tolist() == pytest.approx([23.75, 31.75, 0.5])  # (48 + 0.5) / 2 - 0.5
    assert (mapped[2] == 0).all() and (mapped[4:] == 0).all()


def test_cihp_torso_skin_is_imported_as_noise_never_as_upper_clothes(tmp_path):
    parsing = lip_parsing()
    parsing[40:50, 95:105] = 10  # CIHP torso skin at the neckline
    person = write_person(tmp_path, parsing=parsing).prepare(parser="cihp")
    assert (person.labels == Label.NOISE).any()
    lip = write_person(tmp_path / "lip", parsing=parsing).prepare(parser="lip")
    assert (person.labels == Label.UPPER_CLOTHES).sum() < (lip.labels == Label.UPPER_CLOTHES).sum()


def refused(files: Files, **kwargs) -> PersonRefused:
    with pytest.raises(PersonRefused) as caught:
        files.prepare(**kwargs)
    return caught.value


def test_refused_without_upper_body(tmp_path):
    parsing = lip_parsing()
    parsing[parsing == 5] = 0
    error = refused(write_person(tmp_path, parsing=parsing))
    assert error.path.name == "ada_parsing.png" and "no upper body" in error.reason


def test_refused_without_neck(tmp_path):
    joints = {name: xy for name, xy in JOINTS.items() if name != "Neck"}
    error = refused(write_person(tmp_path, people=[joints]))
    assert error.path.name == "ada_keypoints.json" and "pose has no neck" in error.reason


def test_refused_without_shoulders(tmp_path):
    joints = {name: xy for name, xy in JOINTS.items() if "Shoulder" not in name}
    error = refused(write_person(tmp_path, people=[joints]))
    assert "pose has no right_shoulder or left_shoulder" in error.reason
    one_shoulder = {name: xy for name, xy in JOINTS.items() if name != "RShoulder"}
    write_person(tmp_path / "one", people=[one_shoulder]).prepare()  # a three-quarter view is fine


def test_refused_when_the_parsing_map_has_another_size_than_its_photo(tmp_path):
    error = refused(write_person(tmp_path, parsing=lip_parsing((75, 80))))
    assert error.path.name == "ada_parsing.png"
    assert "parsing map is 75x80 but its photo is 150x160" in error.reason


def test_refused_with_unknown_label_ids(tmp_path):
    parsing = lip_parsing()
    parsing[0, :2] = (20, 31)
    error = refused(write_person(tmp_path, parsing=parsing))
    assert "unknown label ids" in error.reason and "[20, 31]" in error.reason
    shoes = lip_parsing()
    shoes[140:146, 82:100], shoes[140:146, 100:118] = 18, 19  # LIP's shoes; ATR's table ends at 17
    assert (
        "[18, 19] outside the atr table"
        in refused(write_person(tmp_path / "atr", parsing=shoes), parser="atr").reason
    )


def test_refused_with_several_people_unless_one_is_chosen(tmp_path):
    other = {name: (x + 5, y) for name, (x, y) in JOINTS.items()}
    files = write_person(tmp_path, people=[other, JOINTS])
    error = refused(files)
    assert "2 people detected" in error.reason and "--person-index" in error.reason
    chosen = files.prepare(person_index=1)
    assert chosen.keypoints[KEYPOINT["left_wrist"], 2] > 0


def test_refused_when_keypoints_lie_outside_the_photo(tmp_path):
    files = write_person(tmp_path, people=[{**JOINTS, "Neck": (100, 400)}])  # computed on a larger copy
    assert "['neck'] lie outside the 150x160 photo" in refused(files).reason


def test_refused_decompression_bomb_before_decoding(tmp_path):
    error = refused(write_person(tmp_path), max_image_pixels=100 * 100)
    assert error.path.name == "ada.jpg" and "decompression bomb" in error.reason


def test_add_persons_writes_valid_files_refuses_with_reasons_and_reruns_unchanged(tmp_path):
    src, root = tmp_path / "photos", tmp_path / "data"
    write_person(src, "ada")
    write_person(src, "bea")
    parsing = lip_parsing()
    parsing[parsing == 5] = 0
    write_person(src, "cid", parsing=parsing)
    write_person(src, "dan").pose.unlink()
    (src / "notes.txt").write_text("todo")
    report = add_persons(src, root, phase="test", resolution=RESOLUTION, parser="lip")
    layout = DatasetLayout(root, "test")
    assert report.summary() == "persons: 2 added, 0 unchanged, 3 refused"
    reasons = {problem.path.name: problem.reason for problem in report.refused}
    assert "no upper body" in reasons["cid_parsing.png"]
    assert reasons["dan.jpg"] == f"no pose file: expected {src / 'dan_keypoints.json'}"
    assert "not a photo" in reasons["notes.txt"]
    assert layout.person_names() == ["ada.jpg", "bea.jpg"]
    assert read_rgb(layout.person_image("ada")).shape == (*RESOLUTION.shape, 3)
    assert read_label(layout.label("ada")).shape == RESOLUTION.shape
    assert read_pose(layout.pose("ada"))[KEYPOINT["neck"], 2] > 0
    assert sorted(p.name for p in root.iterdir()) == [
        "test_img",
        "test_label",
        "test_pose",
    ]  # no scratch left
    mtime = layout.label("ada").stat().st_mtime_ns
    again = add_persons(src, root, phase="test", resolution=RESOLUTION, parser="lip")
    assert (len(again.added), len(again.unchanged)) == (0, 2)
    assert layout.label("ada").stat().st_mtime_ns == mtime


def test_add_persons_reads_parsing_maps_and_poses_from_their_own_folders(tmp_path):
    files = write_person(tmp_path / "photos")
    (tmp_path / "schp").mkdir()
    (tmp_path / "openpose").mkdir()
    files.parsing.rename(tmp_path / "schp" / "ada.png")
    files.pose.rename(tmp_path / "openpose" / files.pose.name)
    report = add_persons(
        tmp_path / "photos",
        tmp_path / "data",
        phase="train",
        resolution=RESOLUTION,
        parser="lip",
        parsing_dir=tmp_path / "schp",
        pose_dir=tmp_path / "openpose",
    )
    assert report.summary() == "persons: 1 added, 0 unchanged, 0 refused"


def test_a_progress_bar_only_when_asked(tmp_path, capsys, monkeypatch):
    write_person(tmp_path / "photos")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    add_persons(tmp_path / "photos", tmp_path / "a", phase="test", resolution=RESOLUTION, parser="lip")
    assert capsys.readouterr().err == ""
    add_persons(
        tmp_path / "photos", tmp_path / "b", phase="test", resolution=RESOLUTION, parser="lip", progress=True
    )
    assert "add-persons" in capsys.readouterr().err


def test_files_that_would_fail_validation_never_enter_the_dataset(tmp_path, monkeypatch):
    from tryon.data import persons

    def off_by_a_frame(keypoints, frame, resolution):
        shifted = frame_keypoints(keypoints, frame, resolution)
        shifted[:, 0] += resolution.width
        return shifted

    monkeypatch.setattr(persons, "frame_keypoints", off_by_a_frame)
    write_person(tmp_path / "photos")
    report = add_persons(
        tmp_path / "photos", tmp_path / "data", phase="test", resolution=RESOLUTION, parser="lip"
    )
    assert report.summary() == "persons: 0 added, 0 unchanged, 1 refused"
    assert "fail validation" in report.refused[0].reason and "outside" in report.refused[0].reason
    assert not [path for path in (tmp_path / "data").rglob("*") if path.is_file()]
