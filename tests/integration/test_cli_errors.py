"""Every mistake a user can make on the run commands ends in one line that names it, no traceback."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from tests.integration.test_cli_inference import write_checkpoint
from tryon.cli import app
from tryon.data.layout import DatasetLayout, read_pairs

runner = CliRunner()


def one_line_error(arguments: list[str]) -> str:
    result = runner.invoke(app, arguments)
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # handled, not a crash
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


@pytest.fixture(scope="module")
def pair(tiny_dataset):
    return read_pairs(DatasetLayout(tiny_dataset, "test"))[0]


def infer(checkpoint, data, out, pair, *extra):
    return ["infer", "--checkpoint", str(checkpoint), "--data", str(data), "--person", pair.person,
            "--garment", pair.garment, "--out", str(out), *extra]


@pytest.mark.parametrize(("stage", "finished", "expected"), [
    ("sgm", True, "is from stage sgm, not fusion"),
    ("warp", True, "is from stage warp, not fusion"),
    ("fusion", False, "stage fusion stopped at step 3 before it finished"),
])
def test_infer_and_evaluate_refuse_a_checkpoint_without_a_finished_fusion_stage(
    tiny_dataset, tmp_path, pair, stage, finished, expected
):
    checkpoint = write_checkpoint(tmp_path / "checkpoint.pt", stage=stage, finished=finished)
    message = one_line_error(infer(checkpoint, tiny_dataset, tmp_path / "o.png", pair))
    assert message.startswith("infer: ") and expected in message
    message = one_line_error(["evaluate", "--checkpoint", str(checkpoint), "--data", str(tiny_dataset),
                              "--out", str(tmp_path / "eval")])
    assert message.startswith("evaluate: ") and expected in message
    assert not (tmp_path / "o.png").exists() and not (tmp_path / "eval").exists()


def test_infer_mistakes_are_one_line(tiny_dataset, tmp_path, pair):
    checkpoint = write_checkpoint(tmp_path / "checkpoint.pt")
    assert "does not exist" in one_line_error(infer(tmp_path / "none.pt", tiny_dataset, tmp_path / "o.png", pair))
    assert "must name an image file" in one_line_error(infer(checkpoint, tiny_dataset, tmp_path / "o", pair))
    broken = tmp_path / "pairs.txt"
    broken.write_text("000001_0.jpg\n")
    message = one_line_error(["infer", "--checkpoint", str(checkpoint), "--data", str(tiny_dataset),
                              "--pairs", str(broken), "--out", str(tmp_path / "batch")])
    assert "pairs.txt:1" in message
    if not torch.cuda.is_available():
        message = one_line_error(infer(checkpoint, tiny_dataset, tmp_path / "o.png", pair, "--device", "cuda"))
        assert "CUDA is not available" in message
    assert sorted(path.name for path in tmp_path.iterdir()) == ["checkpoint.pt", "pairs.txt"]  # nothing left


def test_evaluate_refuses_an_unknown_pairs_kind(tiny_dataset, tmp_path):
    checkpoint = write_checkpoint(tmp_path / "checkpoint.pt")
    message = one_line_error(["evaluate", "--checkpoint", str(checkpoint), "--data", str(tiny_dataset),
                              "--out", str(tmp_path / "eval"), "--pairs-kind", "both"])
    assert "'both' is not one of" in message


@pytest.mark.parametrize(("params", "expected"), [
    ("train:\n  lr: fast\n", "params.yaml:train.lr: expected a number"),
    ("train:\n  batch_size: [4]\n", "params.yaml:train.batch_size: expected an integer"),
    ("train: {lr: [\n", "not valid YAML"),
])
def test_train_reports_a_bad_params_file_in_one_line(tiny_dataset, tmp_path, params, expected):
    path = tmp_path / "params.yaml"
    path.write_text(params)
    message = one_line_error(["train", "--data", str(tiny_dataset), "--out", str(tmp_path / "run"),
                              "--params", str(path), "--no-progress"])
    assert message.startswith("train: ") and expected in message
    assert not (tmp_path / "run").exists()
