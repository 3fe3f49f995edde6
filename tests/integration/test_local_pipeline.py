"""`tryon pipeline run --local` end to end: the compiled pipeline on kfp's local runner, reading a
tiny dataset from an S3 store (moto's server on 127.0.0.1), training a few steps per stage, and
ending with checkpoints, a report, a try-on grid and a model archive; a broken dataset stops the run
at validation with one line naming the step."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer
from PIL import Image

from tests.helpers import TINY
from tryon.data.synthetic import generate_dataset

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
TINY_PARAMS = f"""
data:
  resolution: {TINY}
model: {{base_width: 4, max_width: 16, depth: 4, disc_width: 4, tps_width: 2, tps_levels: 3, tps_hidden: 8}}
train:
  stages:
    sgm: {{max_steps: 2}}
    warp: {{max_steps: 2}}
    fusion: {{max_steps: 2}}
  batch_size: 2
  workers: 0
  log_interval: 1
  checkpoint_interval: 2
  grid_interval: 2
"""
STEPS = ("fetch", "validate", "train-stage", "train-stage", "train-stage", "evaluate", "export")
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="module")
def s3_endpoint():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("viton") / "viton"
    generate_dataset(root, n_train=4, n_test=2, resolution=TINY, seed=0, workers=1)
    return root


@pytest.fixture(scope="module")
def params(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("params") / "params.yaml"
    path.write_text(TINY_PARAMS)
    return path


def run_pipeline(*arguments: str, out: Path) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "AWS_ENDPOINT_URL"}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "tryon.cli",
            "pipeline",
            "run",
            "--local",
            "--repo",
            str(REPO),
            "--out",
            str(out),
            *arguments,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**env, **CREDENTIALS},
    )


def test_the_local_pipeline_trains_from_s3_and_writes_report_grid_and_archive(
    tmp_path, s3_endpoint, dataset, params
):
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        **{k.lower(): v for k, v in CREDENTIALS.items() if k != "AWS_DEFAULT_REGION"},
        region_name="us-east-1",
    )
    client.create_bucket(Bucket="datasets")
    for path in dataset.rglob("*"):
        if path.is_file():
            client.upload_file(str(path), "datasets", f"sets/viton/{path.relative_to(dataset)}")

    out = tmp_path / "run"
    earlier_run = out / "outputs" / "tryon-training-2026-01-01-00-00-00-000000"
    earlier_run.mkdir(parents=True)
    result = run_pipeline(
        "--params",
        str(params),
        "--dataset",
        "s3://datasets/sets/viton",
        "--s3-endpoint",
        s3_endpoint,
        "--publish-dir",
        str(tmp_path / "store"),
        out=out,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""  # the cluster-only settings are ignored without a word

    lines = result.stdout.splitlines()
    done = [line for line in lines if re.fullmatch(r"  [a-z-]+: success in [0-9.]+ s( \(.*\))?", line)]
    assert [line.split(":")[0].strip() for line in done] == list(STEPS)
    assert done[0].endswith("(fetched s3://datasets/sets/viton)")
    assert [line.rsplit("(", 1)[1] for line in done[2:5]] == [
        "stage sgm: sgm/checkpoint.pt)",
        "stage warp: warp/checkpoint.pt)",
        "stage fusion: fusion/checkpoint.pt)",
    ]
    assert done[5].endswith("(quality gate passed)")
    assert done[6].endswith("(tryon.mar)")
    assert not any("synthesise" in line or "preprocess" in line for line in lines)

    printed = {
        line.split(":", 1)[0].strip(): line.split(":", 1)[1].split()[0]
        for line in lines
        if line.startswith(("preview", "checkpoint", "report", "try-ons", "archive"))
    }
    assert Path(printed["report"]).name == "report.html" and Path(printed["report"]).is_file()
    assert Path(printed["try-ons"]).suffix == ".png"
    with Image.open(printed["try-ons"]) as grid:
        assert grid.width >= TINY.width
    checkpoints = [line.split()[1] for line in lines if line.startswith("checkpoint:")]
    assert [Path(path).parent.name for path in checkpoints] == ["sgm", "warp", "fusion"]
    assert all(Path(path).is_file() for path in checkpoints)
    archive = Path(printed["archive"])
    assert archive.name == "tryon.mar"
    with zipfile.ZipFile(archive) as mar:
        assert "MAR-INF/MANIFEST.json" in mar.namelist()
    assert (tmp_path / "store" / "tryon.mar").read_bytes() == archive.read_bytes()  # published for serving
    assert not earlier_run.exists()  # the folder keeps the last successful run
    # a stage's model holds the checkpoint it started from, linked rather than copied
    (started_from,) = Path(checkpoints[2]).parent.parent.glob("warp/checkpoint.pt")
    assert started_from.stat().st_ino == Path(checkpoints[1]).stat().st_ino
    assert len(re.findall(r"INFO - Task .* finished with status", (out / "pipeline.log").read_text())) == len(
        STEPS
    )
    # the fetched dataset is the uploaded one, byte for byte
    (fetched,) = (out / "outputs").glob("*/fetch/dataset")
    for path in dataset.rglob("*"):
        if path.is_file():
            assert (fetched / path.relative_to(dataset)).read_bytes() == path.read_bytes()


def test_a_broken_dataset_stops_at_validation_naming_the_step_and_the_file(tmp_path, dataset, params):
    broken = tmp_path / "broken"
    shutil.copytree(dataset, broken)
    label = min((broken / "train_label").iterdir())
    label.write_bytes(label.read_bytes()[:40])  # truncated PNG
    out = tmp_path / "run"
    earlier_run = out / "outputs" / "tryon-training-2026-01-01-00-00-00-000000"
    earlier_run.mkdir(parents=True)
    result = run_pipeline("--params", str(params), "--dataset", str(broken), out=out)
    assert result.returncode == 1
    (message,) = result.stderr.strip().splitlines()
    assert message.startswith("pipeline: step validate failed:")
    assert str(out / "pipeline.log") in message
    assert "  validate: failure in " in result.stdout
    assert not any(line.startswith("  train-stage") for line in result.stdout.splitlines())
    assert label.name in (out / "pipeline.log").read_text()
    assert earlier_run.is_dir()  # a failed run removes nothing
