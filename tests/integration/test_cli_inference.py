"""`tryon infer` and `tryon evaluate` end to end on a tiny synthetic dataset."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tests.helpers import tiny_model_config
from tryon.checkpoint import EMA_STATE, RAW_STATE, save_checkpoint
from tryon.cli import app
from tryon.data.layout import DatasetLayout, read_pairs, read_rgb
from tryon.nets import TryOnGenerators

runner = CliRunner()


def write_checkpoint(path, *, seed: int = 0, damage: float = 0.0, stage: str = "fusion", finished: bool = True):
    """A checkpoint of untrained generators marked as the end of `stage` (the finished fusion stage a
    try-on needs, by default); `damage` adds noise to G3's weights (a worse model)."""
    torch.manual_seed(seed)
    generators = TryOnGenerators.from_config(tiny_model_config())
    with torch.no_grad():
        for parameter in generators.g3.parameters():
            parameter.add_(torch.randn_like(parameter) * damage)
    state = generators.state_dict()
    return save_checkpoint(
        path,
        model_config=tiny_model_config(),
        state={RAW_STATE: state, EMA_STATE: state, "stage": stage, "finished": finished, "step": 3},
    )


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_checkpoint(tmp_path_factory.mktemp("ckpt") / "checkpoint.pt")


def test_infer_refuses_without_a_checkpoint(tiny_dataset, tmp_path):
    result = runner.invoke(app, ["infer", "--data", str(tiny_dataset), "--person", "000001_0.jpg",
                                 "--garment", "000002_1.jpg", "--out", str(tmp_path / "o.png")])
    assert result.exit_code == 1
    assert "--checkpoint is required" in result.output
    assert not (tmp_path / "o.png").exists()


def test_infer_one_pair_writes_the_try_on_image(tiny_dataset, checkpoint, tmp_path):
    pair = read_pairs(DatasetLayout(tiny_dataset, "test"))[0]
    out = tmp_path / "nested" / "tryon.png"
    result = runner.invoke(app, ["infer", "--checkpoint", str(checkpoint), "--data", str(tiny_dataset),
                                 "--person", pair.person, "--garment", pair.garment, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert read_rgb(out).shape == (64, 48, 3)
    assert [p.name for p in out.parent.iterdir()] == ["tryon.png"]


def test_infer_batch_over_a_pairs_file_writes_one_image_per_pair(tiny_dataset, checkpoint, tmp_path):
    layout = DatasetLayout(tiny_dataset, "test")
    result = runner.invoke(app, ["infer", "--checkpoint", str(checkpoint), "--data", str(tiny_dataset),
                                 "--pairs", str(layout.pairs_file), "--out", str(tmp_path / "out"), "--batch-size", "4"])
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert len(written) == len(read_pairs(layout)) == 6
    assert all(np.asarray(read_rgb(tmp_path / "out" / name)).shape == (64, 48, 3) for name in written)


def test_infer_names_missing_input_files(tiny_dataset, checkpoint, tmp_path):
    result = runner.invoke(app, ["infer", "--checkpoint", str(checkpoint), "--data", str(tiny_dataset),
                                 "--person", "000001_0.jpg", "--garment", "nope.jpg", "--out", str(tmp_path / "o.png")])
    assert result.exit_code == 1
    assert "test_color/nope.jpg" in result.output


def test_evaluate_writes_the_report_and_the_gate_catches_a_worse_checkpoint(tiny_dataset, checkpoint, tmp_path):
    good = runner.invoke(app, ["evaluate", "--checkpoint", str(checkpoint), "--data", str(tiny_dataset),
                               "--out", str(tmp_path / "good")])
    assert good.exit_code == 0, good.output
    metrics = json.loads((tmp_path / "good" / "metrics.json").read_text())
    for key in ("paired/ssim/changed", "paired/psnr/full", "paired/l1/changed", "unpaired/ssim/changed", "layout/miou",
                "layout/iou/arms", "warp/iou", "baseline/unpaired/ssim/changed", "paired/ssim/changed/easy"):
        assert np.isfinite(metrics[key]), key
    assert "weights not found" in good.output  # FID/KID without the Inception file
    assert (tmp_path / "good" / "report.html").stat().st_size > 0

    same = runner.invoke(app, ["evaluate", "--checkpoint", str(checkpoint), "--data", str(tiny_dataset),
                               "--out", str(tmp_path / "same"), "--baseline", str(tmp_path / "good" / "metrics.json")])
    assert same.exit_code == 0, same.output
    assert "quality gate passed" in same.output

    worse = write_checkpoint(tmp_path / "worse.pt", damage=0.5)
    gated = runner.invoke(app, ["evaluate", "--checkpoint", str(worse), "--data", str(tiny_dataset),
                                "--out", str(tmp_path / "worse"), "--baseline", str(tmp_path / "good" / "metrics.json"),
                                "--max-regression", "0.01"])
    assert gated.exit_code == 1
    assert "FAILED" in gated.output and "regressed paired/" in gated.output
