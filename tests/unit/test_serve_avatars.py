"""Avatar tables: built from dataset persons and photos, the stored representation identical to the
one computed from the files, refusals with reasons, fit checks, the thumbnail sheet and the CLI."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from tests.helpers import TINY, tiny_model_config
from tryon.cli import app
from tryon.config import Resolution
from tryon.data.dataset import TryOnDataset, collate
from tryon.data.layout import DatasetLayout, Pair, read_label, read_pose, read_rgb, write_label
from tryon.labels import KEYPOINT, LIP_CLASSES, Label
from tryon.serve.avatars import (
    AvatarRefused,
    AvatarTable,
    AvatarTableError,
    UnknownAvatar,
    build_avatars,
    make_avatar,
    write_avatar_sheet,
)
from tryon.steps import represent_person

CONFIG = tiny_model_config()


@pytest.fixture(scope="module")
def table_path(tiny_dataset, tmp_path_factory):
    path = tmp_path_factory.mktemp("avatars") / "avatars.pt"
    report = build_avatars(data_root=tiny_dataset, out=path, config=CONFIG, phase="test")
    assert report.refused == () and len(report.added) == 6
    return path


def test_the_stored_representation_is_exactly_the_one_computed_from_the_files(tiny_dataset, table_path):
    table = AvatarTable.load(table_path)
    assert table.ids == tuple(f"{index:06d}_0" for index in range(1, 7))
    assert (table.resolution, table.pose_radius) == (TINY, CONFIG.pose_radius)
    for avatar_id in ("000001_0", "000004_0"):
        dataset = TryOnDataset(tiny_dataset, phase="test", resolution=TINY, pairs=[Pair(f"{avatar_id}.jpg", "000001_1.jpg")])
        batch = collate([dataset[0]])
        expected = represent_person(batch.image, batch.label, batch.keypoints, config=CONFIG)
        stored = table.person(avatar_id)
        for name, value in vars(expected).items():
            assert vars(stored)[name].dtype == value.dtype, name
            if name == "skin_colour":  # a mean: its float sum may run in another order
                torch.testing.assert_close(stored.skin_colour, value, rtol=0, atol=1e-6)
            else:
                assert torch.equal(vars(stored)[name], value), name


def test_an_unknown_avatar_and_a_table_for_another_model_are_refused(table_path):
    table = AvatarTable.load(table_path)
    with pytest.raises(UnknownAvatar, match="unknown avatar 'nobody'"):
        table.person("nobody")
    with pytest.raises(AvatarTableError, match="built at 64x48 with pose_radius 5.*128x96"):
        table.check_fits(tiny_model_config(Resolution(128, 96)), where=table_path)
    table.check_fits(CONFIG, where=table_path)


def test_broken_table_files_are_refused(tmp_path):
    with pytest.raises(AvatarTableError, match="tryon avatars add"):
        AvatarTable.load(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(AvatarTableError, match="not readable"):
        AvatarTable.load(tmp_path / "junk.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "foreign.pt")
    with pytest.raises(AvatarTableError, match="not a tryon avatar table"):
        AvatarTable.load(tmp_path / "foreign.pt")


def person_files(tiny_dataset, name="000001_0"):
    layout = DatasetLayout(tiny_dataset, "test")
    return read_rgb(layout.person_image(name)), read_label(layout.label(name)), read_pose(layout.pose(name))


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda p: {**p, "avatar_id": "bad id/"}, "avatar id 'bad id/'"),
        (lambda p: {**p, "image": p["image"][:32]}, "expected a 64x48 uint8 RGB image"),
        (lambda p: {**p, "labels": np.where(p["labels"] == Label.HAIR, 3 + 20, p["labels"]).astype(np.uint8)},
         "ids [23] outside ACGPN's table"),
        (lambda p: {**p, "labels": np.where(p["labels"] == Label.UPPER_CLOTHES, 0, p["labels"]).astype(np.uint8)},
         "no upper clothes"),
        (lambda p: {**p, "keypoints": np.where(np.arange(18)[:, None] == KEYPOINT["neck"], 0, p["keypoints"])},
         "pose lacks neck"),
        (lambda p: {**p, "keypoints": p["keypoints"] + np.array([100, 0, 0], dtype=np.float32)},
         "right_shoulder, left_shoulder inside the image"),
    ],
)
def test_a_person_that_does_not_fit_is_refused_with_the_reason(tiny_dataset, change, words):
    image, labels, keypoints = person_files(tiny_dataset)
    person = {"avatar_id": "ok", "image": image, "labels": labels, "keypoints": keypoints}
    with pytest.raises(AvatarRefused) as refused:
        make_avatar(**change(person), source="test", config=CONFIG)
    assert words in str(refused.value)


def test_an_import_refuses_bad_persons_and_adds_the_others_once(tiny_dataset, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(tiny_dataset, root)
    layout = DatasetLayout(root, "test")
    photo = layout.person_image("000002_0").read_bytes()
    layout.person_image("000002_0").write_bytes(photo[: len(photo) // 2])
    labels = read_label(layout.label("000003_0"))
    write_label(layout.label("000003_0"), np.where(labels == Label.UPPER_CLOTHES, 0, labels))
    layout.pose("000004_0").write_text(json.dumps({"people": []}))

    out = tmp_path / "avatars.pt"
    report = build_avatars(data_root=root, out=out, config=CONFIG,
                           persons=["000001_0.jpg", "000002_0.jpg", "000003_0.jpg", "000004_0.jpg", "000009_0.jpg"])
    assert report.added == ("000001_0",)
    reasons = {problem.path.name: problem.reason for problem in report.refused}
    assert "truncated" in reasons["000002_0.jpg"] and "no upper clothes" in reasons["000003_0.jpg"]
    assert "'people' is empty" in reasons["000004_0.jpg"] and "no photo" in reasons["000009_0.jpg"]

    again = build_avatars(data_root=root, out=out, config=CONFIG, persons=["000001_0.jpg"])
    assert again.added == () and "exists already; pass --replace" in again.refused[0].reason
    assert build_avatars(data_root=root, out=out, config=CONFIG, persons=["000001_0.jpg"], replace=True).added == ("000001_0",)
    with pytest.raises(AvatarTableError, match="build the avatars again"):
        build_avatars(data_root=root, out=out, config=tiny_model_config(Resolution(128, 96)))


def test_a_photo_becomes_an_avatar_through_the_person_import(tiny_dataset, tmp_path):
    layout = DatasetLayout(tiny_dataset, "test")
    photo = np.asarray(Image.open(layout.person_image("000005_0")).resize((96, 128)))
    Image.fromarray(photo).save(tmp_path / "photo.png")
    acgpn = np.asarray(Image.open(layout.label("000005_0")).resize((96, 128), Image.NEAREST))
    lip_id = {int(label): index for index, (_, label) in reversed(list(enumerate(LIP_CLASSES)))}  # first LIP class per id
    Image.fromarray(np.vectorize(lip_id.get)(acgpn).astype(np.uint8), mode="L").save(tmp_path / "parsing.png")
    keypoints = read_pose(layout.pose("000005_0")) * np.array([2, 2, 1], dtype=np.float32)
    (tmp_path / "pose.json").write_text(json.dumps({"people": [{"pose_keypoints_2d": keypoints.ravel().tolist()}]}))
    runner = CliRunner()
    table = tmp_path / "avatars.pt"
    added = runner.invoke(app, ["avatars", "add", "--avatars", str(table), "--photo", str(tmp_path / "photo.png"),
                                "--pose", str(tmp_path / "pose.json"), "--parsing", str(tmp_path / "parsing.png"),
                                "--parser", "lip", "--id", "studio-1"])
    assert added.exit_code == 0, added.output
    avatar = AvatarTable.load(table).avatars["studio-1"]
    assert avatar.photo.shape == (256, 192, 3)  # the built-in default model's resolution
    (tmp_path / "empty.json").write_text(json.dumps({"people": []}))
    refused = runner.invoke(app, ["avatars", "add", "--avatars", str(table), "--photo", str(tmp_path / "photo.png"),
                                  "--pose", str(tmp_path / "empty.json"), "--parsing", str(tmp_path / "parsing.png"),
                                  "--parser", "lip", "--id", "studio-2"])
    assert refused.exit_code == 1 and "refused" in refused.output and "empty.json" in refused.output
    assert AvatarTable.load(table).ids == ("studio-1",)


def test_the_cli_adds_lists_and_draws_the_thumbnail_sheet(tiny_dataset, table_path, tmp_path):
    runner = CliRunner()
    params = tmp_path / "params.yaml"
    params.write_text("data:\n  resolution: 64x48\n")
    table = tmp_path / "avatars.pt"
    added = runner.invoke(app, ["avatars", "add", "--avatars", str(table), "--data", str(tiny_dataset),
                                "--params", str(params), "--person", "000002_0.jpg", "--person", "000006_0.jpg"])
    assert added.exit_code == 0 and "2 added, 0 refused" in added.output, added.output
    listed = runner.invoke(app, ["avatars", "list", "--avatars", str(table), "--sheet", str(tmp_path / "sheet.png")])
    assert listed.exit_code == 0, listed.output
    assert "2 avatars at 64x48" in listed.output and "000002_0\t" in listed.output and "000006_0\t" in listed.output
    sheet = read_rgb(tmp_path / "sheet.png")
    assert sheet.shape[0] > 2 * 64 and sheet.shape[1] > 3 * 48
    neither = runner.invoke(app, ["avatars", "add", "--avatars", str(table)])
    assert neither.exit_code == 1 and "give either --data" in neither.output
    with pytest.raises(ValueError, match="empty"):
        write_avatar_sheet(AvatarTable.empty(CONFIG), tmp_path / "none.png")
