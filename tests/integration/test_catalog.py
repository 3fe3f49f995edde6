"""`tryon render-catalog`: every avatar x garment x colour rendered once, an index of what is on
disk, refused garments named, and a run interrupted mid-way resumed without redoing finished images."""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tests.helpers import tiny_model_config
from tryon.checkpoint import EMA_STATE, RAW_STATE, save_checkpoint
from tryon.cli import app
from tryon.data.layout import DatasetLayout, read_rgb
from tryon.inference import load_trained_pipeline
from tryon.nets import TryOnGenerators
from tryon.serve import catalog
from tryon.serve.avatars import AvatarTable, build_avatars
from tryon.serve.service import TryOnService

pytestmark = pytest.mark.slow

runner = CliRunner()


@pytest.fixture(scope="module")
def inputs(tiny_dataset, tmp_path_factory):
    folder = tmp_path_factory.mktemp("catalog_inputs")
    config = tiny_model_config()
    torch.manual_seed(0)
    state = TryOnGenerators.from_config(config).state_dict()
    checkpoint = save_checkpoint(folder / "checkpoint.pt", model_config=config,
                                 state={RAW_STATE: state, EMA_STATE: state, "stage": "fusion", "finished": True})
    build_avatars(data_root=tiny_dataset, out=folder / "avatars.pt", config=config, persons=["000001_0.jpg", "000002_0.jpg"])
    garments = folder / "garments"
    garments.mkdir()
    layout = DatasetLayout(tiny_dataset, "test")
    for name in ("000003_1", "000004_1"):
        shutil.copyfile(layout.garment(name), garments / f"{name}.jpg")
    (garments / "blank.png").write_bytes(b"not an image")
    colours = folder / "colours.txt"
    colours.write_text("original\nnavy #1f2f5f\n\n#c03030\n")
    return checkpoint, folder / "avatars.pt", garments, colours


def render(inputs, out, *extra):
    checkpoint, avatars, garments, colours = inputs
    return runner.invoke(app, ["render-catalog", "--checkpoint", str(checkpoint), "--avatars", str(avatars),
                               "--garments", str(garments), "--out", str(out), "--colors", str(colours),
                               "--batch-size", "4", "--no-progress", *extra])


def index_rows(out):
    with open(out / "index.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_every_combination_is_rendered_once_and_indexed(inputs, tmp_path):
    result = render(inputs, tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "12 rendered, 0 already there, 1 garments refused" in result.output
    assert "blank.png: not an image" in result.output
    rows = index_rows(tmp_path / "out")
    combinations = {(row["avatar"], row["garment"], row["colour"]) for row in rows}
    assert len(rows) == len(combinations) == 2 * 2 * 3
    assert {row["colour"] for row in rows} == {"original", "navy", "c03030"}
    for row in rows:
        assert read_rgb(tmp_path / "out" / row["file"]).shape == (64, 48, 3)
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == sorted([row["file"] for row in rows] + ["index.csv"])
    same = read_rgb(tmp_path / "out" / "000001_0__000003_1__navy.png")
    other = read_rgb(tmp_path / "out" / "000001_0__000003_1__c03030.png")
    assert not np.array_equal(same, other)


def test_an_interrupted_run_resumes_where_it_stopped(inputs, tmp_path, monkeypatch):
    out = tmp_path / "out"
    calls = {"n": 0}
    original = TryOnService.try_on

    def failing_second_batch(self, people, garments):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(self, people, garments)

    monkeypatch.setattr(TryOnService, "try_on", failing_second_batch)
    with pytest.raises(KeyboardInterrupt):
        checkpoint, avatars, garments, colours = inputs
        catalog.render_catalog(pipeline=load_trained_pipeline(checkpoint, device="cpu"), avatars=AvatarTable.load(avatars),
                               garments_dir=garments, out_dir=out, colours=catalog.read_colours(colours), batch_size=4)
    first = index_rows(out)
    assert len(first) == 4  # the first batch, complete on disk; nothing of the second
    stamps = {row["file"]: (out / row["file"]).stat().st_mtime_ns for row in first}
    monkeypatch.setattr(TryOnService, "try_on", original)

    resumed = render(inputs, out)
    assert resumed.exit_code == 0, resumed.output
    assert "8 rendered, 4 already there" in resumed.output
    assert len(index_rows(out)) == 12
    assert all((out / name).stat().st_mtime_ns == stamp for name, stamp in stamps.items())
    again = render(inputs, out)
    assert "0 rendered, 12 already there" in again.output


def test_a_malformed_colours_file_is_refused_with_its_line(inputs, tmp_path):
    checkpoint, avatars, garments, _ = inputs
    colours = tmp_path / "colours.txt"
    colours.write_text("navy #1f2f5f\nred\n")
    result = render((checkpoint, avatars, garments, colours), tmp_path / "out")
    assert result.exit_code == 1 and "colours.txt:2" in result.output and "malformed colour 'red'" in result.output
