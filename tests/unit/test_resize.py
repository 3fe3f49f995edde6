"""`tryon data resize`: a whole dataset between 256x192, 512x384 and 1024x768, and what it refuses."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tryon.cli import app
from tryon.config import Resolution
from tryon.data.layout import DatasetLayout, read_label, read_mask, read_pairs, read_pose, read_rgb, write_rgb
from tryon.data.resize import InvalidDataset, resize_dataset
from tryon.data.synthetic import MANIFEST_NAME, generate_dataset
from tryon.data.validate import validate_dataset

SMALL, MEDIUM, LARGE = Resolution(256, 192), Resolution(512, 384), Resolution(1024, 768)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("resize") / "small"
    generate_dataset(root, n_train=2, n_test=2, resolution=SMALL, seed=1, workers=1)
    return root


def files(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


def test_up_to_1024x768_and_down_to_512x384_through_the_cli(small: Path, tmp_path: Path) -> None:
    large, medium = tmp_path / "large", tmp_path / "medium"
    for source, out, size in ((small, large, LARGE), (large, medium, MEDIUM)):
        result = CliRunner().invoke(
            app, ["data", "resize", str(source), "--size", str(size), "--out", str(out)]
        )
        assert result.exit_code == 0, result.output
        assert f"to {size} in {out}" in result.output
        assert validate_dataset(out, resolution=size).ok
        assert files(out) == files(small)
    assert json.loads((medium / MANIFEST_NAME).read_text())["resolution"] == "512x384"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["large", "medium"]  # no scratch folder left

    layout, resized = DatasetLayout(small, "train"), DatasetLayout(medium, "train")
    for pair in read_pairs(layout):
        before, after = read_label(layout.label(pair.person)), read_label(resized.label(pair.person))
        assert set(np.unique(after)) <= set(np.unique(before))  # nearest: no blended ids
        # each 256x192 pixel became a 2x2 block at 512x384: the labels agree almost everywhere
        assert (after[::2, ::2] == before).mean() > 0.97
        source_pose, pose = read_pose(layout.pose(pair.person)), read_pose(resized.pose(pair.person))
        present = source_pose[:, 2] > 0
        assert np.allclose(pose[present, :2], (source_pose[present, :2] + 0.5) * 2 - 0.5, atol=0.01)
        assert np.array_equal(pose[:, 2], source_pose[:, 2])
        x, y = np.round(pose[present, :2]).astype(int).T
        sx, sy = np.round(source_pose[present, :2]).astype(int).T
        assert (after[y, x] == before[sy, sx]).mean() > 0.9  # keypoints stay on the same body parts
        image = read_rgb(resized.person_image(pair.person)).astype(int)
        assert np.abs(image[::2, ::2] - read_rgb(layout.person_image(pair.person))).mean() < 12
        mask = read_mask(resized.garment_mask(pair.garment))
        assert (mask[::2, ::2] == read_mask(layout.garment_mask(pair.garment))).mean() > 0.97
    assert read_pairs(resized) == read_pairs(layout)


def test_refuses_another_aspect_ratio_an_invalid_source_and_a_used_destination(
    small: Path, tmp_path: Path
) -> None:
    with pytest.raises(InvalidDataset, match="another aspect ratio"):
        resize_dataset(small, tmp_path / "square", resolution=Resolution(256, 256))
    used = tmp_path / "used"
    used.mkdir()
    (used / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        resize_dataset(small, used, resolution=MEDIUM)
    broken = tmp_path / "broken"
    generate_dataset(broken, n_train=2, n_test=2, resolution=Resolution(64, 48), seed=0, workers=1)
    write_rgb(DatasetLayout(broken, "train").garment("000001_1.jpg"), np.zeros((32, 24, 3), np.uint8))
    result = CliRunner().invoke(
        app, ["data", "resize", str(broken), "--size", "128x96", "--out", str(tmp_path / "x")]
    )
    assert result.exit_code == 1 and "000001_1.jpg: size 32x24" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "x").exists()
