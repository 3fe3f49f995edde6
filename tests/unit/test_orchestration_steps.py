"""The pipeline's steps as library functions: uploads added to a copy of the dataset, validation with
its preview, and the refusals a step makes before any work."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.helpers import TINY
from tests.unit.test_persons import write_person
from tryon.data.layout import DatasetLayout
from tryon.orchestration.settings import RunSettings
from tryon.orchestration.steps import InvalidDataset, import_uploads, train_stage, validate

SETTINGS = RunSettings(resolution=str(TINY))


def files(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in root.rglob("*") if path.is_file()}


def uploads_with_a_garment_and_a_person(tmp_path: Path, dataset: Path) -> Path:
    uploads = tmp_path / "uploads"
    (uploads / "test" / "garments").mkdir(parents=True)
    garment = min((dataset / "test_color").iterdir())
    shutil.copyfile(garment, uploads / "test" / "garments" / "new-shirt.jpg")
    write_person(uploads / "test" / "persons", "ada")
    return uploads


def test_uploads_are_added_to_a_copy_of_the_dataset(tmp_path, tiny_dataset):
    before = files(tiny_dataset)
    uploads = uploads_with_a_garment_and_a_person(tmp_path, tiny_dataset)
    out = tmp_path / "prepared"
    summary = import_uploads(
        dataset=tiny_dataset, uploads_uri=str(uploads), out=out, settings=SETTINGS, parser="lip"
    )
    assert (
        summary
        == "test: garments: 1 added, 0 unchanged, 0 refused; test: persons: 1 added, 0 unchanged, 0 refused"
    )
    layout = DatasetLayout(out, "test")
    assert layout.garment("new-shirt").is_file() and layout.garment_mask("new-shirt").is_file()
    assert "ada.jpg" in layout.person_names()
    assert files(tiny_dataset) == before  # the input artifact is never changed
    added = set(files(out)) - set(before)
    assert {Path(path).parent.name for path in added} == {
        "test_color",
        "test_edge",
        "test_img",
        "test_label",
        "test_pose",
    }
    assert not list(tmp_path.glob(".prepared*"))  # the fetched uploads are cleaned up


def test_an_unusable_upload_fails_the_step_naming_the_file(tmp_path, tiny_dataset):
    uploads = uploads_with_a_garment_and_a_person(tmp_path, tiny_dataset)
    (uploads / "test" / "garments" / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(InvalidDataset, match="broken.jpg"):
        import_uploads(
            dataset=tiny_dataset, uploads_uri=str(uploads), out=tmp_path / "out", settings=SETTINGS
        )


def test_uploads_without_known_folders_are_refused(tmp_path, tiny_dataset):
    (tmp_path / "uploads" / "shirts").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="train/garments/"):
        import_uploads(
            dataset=tiny_dataset,
            uploads_uri=str(tmp_path / "uploads"),
            out=tmp_path / "out",
            settings=SETTINGS,
        )


def test_validation_writes_a_preview_and_lists_every_problem(tmp_path, tiny_dataset):
    summary = validate(dataset=tiny_dataset, settings=SETTINGS, preview=tmp_path / "preview")
    assert summary.startswith("valid, train 8 pairs")
    assert (tmp_path / "preview" / "preview.png").stat().st_size > 0
    broken = tmp_path / "broken"
    shutil.copytree(tiny_dataset, broken)
    label = min((broken / "train_label").iterdir())
    label.write_bytes(label.read_bytes()[:40])
    with pytest.raises(InvalidDataset, match=label.name):
        validate(dataset=broken, settings=SETTINGS, preview=tmp_path / "preview2")
    assert not (tmp_path / "preview2").exists()


def test_a_later_stage_needs_the_previous_stages_run(tmp_path, tiny_dataset):
    with pytest.raises(ValueError, match="starts from stage sgm"):
        train_stage(
            stage="warp", dataset=tiny_dataset, previous=None, out=tmp_path / "warp", settings=SETTINGS
        )
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="stage sgm's checkpoint is missing"):
        train_stage(
            stage="warp",
            dataset=tiny_dataset,
            previous=tmp_path / "empty",
            out=tmp_path / "warp",
            settings=SETTINGS,
        )
    with pytest.raises(ValueError, match="not one of"):
        train_stage(
            stage="refine", dataset=tiny_dataset, previous=None, out=tmp_path / "x", settings=SETTINGS
        )
