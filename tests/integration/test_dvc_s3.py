"""DVC against a real S3 API (moto's server on 127.0.0.1): push, then pull into an empty cache and
check every file's checksum; a dataset revision read straight from the bucket."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket

import boto3
import pytest
from moto.server import ThreadedMotoServer

from tests.unit.test_dvc_repo import make_repo, read_tree
from tryon.config import Resolution, SynthConfig
from tryon.versioning import fetch_dataset
from tryon.versioning.commands import run_dvc, run_git
from tryon.versioning.dataset import pin_synthetic, read_tracked

pytestmark = pytest.mark.slow

BUCKET = "tryon-datasets"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def s3_endpoint(monkeypatch):
    """moto's S3 server on a free local port with an empty bucket; credentials only in the environment."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        server.stop()


def md5(content: bytes) -> str:
    return hashlib.md5(content, usedforsecurity=False).hexdigest()


def test_push_and_pull_through_s3_with_every_checksum_verified(tmp_path, s3_endpoint):
    repo = make_repo(tmp_path / "repo")
    run_dvc("remote", "add", "-d", "production", f"s3://{BUCKET}/dvc", repo=repo)
    # The endpoint (like any credential) goes to the git-ignored config.local, never to .dvc/config.
    run_dvc("remote", "modify", "--local", "production", "endpointurl", s3_endpoint, repo=repo)
    pin_synthetic(repo, synth=SynthConfig(n_train=2, n_test=2, seed=1), resolution=Resolution(32, 32))
    run_git("add", "data.dvc", ".gitignore", ".dvc/config", repo=repo)
    run_git("commit", "-q", "-m", "data", repo=repo)
    assert s3_endpoint not in run_git("show", "HEAD:.dvc/config", repo=repo)
    assert "config.local" in (repo / ".dvc" / ".gitignore").read_text()
    original = read_tree(repo / "data")

    run_dvc("push", "-q", repo=repo)
    stored = boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(Bucket=BUCKET, Prefix="dvc/")
    # Every distinct content once, and the folder's manifest.
    assert stored["KeyCount"] == len({md5(content) for content in original.values()}) + 1

    shutil.rmtree(repo / "data")
    shutil.rmtree(repo / ".dvc" / "cache")
    run_dvc("pull", "-q", repo=repo)
    pulled = read_tree(repo / "data")
    assert pulled.keys() == original.keys()
    tracked = read_tracked(repo / "data.dvc")
    digest = tracked.md5.removesuffix(".dir")
    manifest = json.loads((repo / ".dvc/cache/files/md5" / digest[:2] / f"{digest[2:]}.dir").read_text())
    assert {entry["relpath"]: entry["md5"] for entry in manifest} == {
        name: md5(content) for name, content in original.items()
    }
    assert {name: md5(content) for name, content in pulled.items()} == {
        name: md5(content) for name, content in original.items()
    }

    shutil.rmtree(repo / ".dvc" / "cache")
    fetched = fetch_dataset(repo=str(repo), rev="main", path="data", dest=tmp_path / "fetched")
    assert read_tree(fetched) == original
