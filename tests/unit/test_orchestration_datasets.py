"""Dataset URIs: parsing each form, and fetching local folders, S3 prefixes (moto's server on
127.0.0.1) and DVC revisions into a new folder."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from tryon.orchestration.datasets import (
    DvcSource,
    LocalSource,
    S3Source,
    fetch_dataset,
    parse_dataset_uri,
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_credentials(monkeypatch):
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


def bucket_with(endpoint: str, name: str, objects: dict[str, bytes]):
    client = boto3.client("s3", endpoint_url=endpoint)
    client.create_bucket(Bucket=name)
    for key, body in objects.items():
        client.put_object(Bucket=name, Key=key, Body=body)
    return client


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("data", LocalSource(Path("data"))),
        ("/mnt/data/viton", LocalSource(Path("/mnt/data/viton"))),
        ("s3://bucket/sets/viton/", S3Source("bucket", "sets/viton")),
        ("s3://bucket", S3Source("bucket", "")),
        ("dvc://data?rev=v1.2", DvcSource(path="data", rev="v1.2", repo=".")),
        (
            "dvc://sets/viton?rev=a1b2c3&repo=https://git.example.com/tryon.git",
            DvcSource(path="sets/viton", rev="a1b2c3", repo="https://git.example.com/tryon.git"),
        ),
    ],
)
def test_each_uri_form_names_its_source(uri, expected):
    assert parse_dataset_uri(uri) == expected


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("", "empty"),
        ("s3://", "names no bucket"),
        ("dvc://data", "names no revision"),
        ("dvc://?rev=v1", "names no path"),
        ("dvc://data?rev=v1&rev=v2", "gives rev 2 times"),
        ("dvc://data?rev=v1&branch=x", "unknown query keys"),
        ("gs://bucket/data", "scheme gs:// is not supported"),
    ],
)
def test_malformed_uris_are_refused_saying_what_is_expected(uri, message):
    with pytest.raises(ValueError, match=message):
        parse_dataset_uri(uri)


def test_a_local_folder_is_copied_and_the_destination_must_be_new(tmp_path):
    source = tmp_path / "source"
    (source / "train_img").mkdir(parents=True)
    (source / "train_img" / "a.jpg").write_bytes(b"jpeg")
    dest = fetch_dataset(str(source), tmp_path / "dest")
    assert (dest / "train_img" / "a.jpg").read_bytes() == b"jpeg"
    with pytest.raises(FileExistsError, match="new folder"):
        fetch_dataset(str(source), dest)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        fetch_dataset(str(tmp_path / "missing"), tmp_path / "other")
    assert not (tmp_path / "other").exists()


def test_an_s3_prefix_is_downloaded_below_the_prefix_only(tmp_path, s3_endpoint, s3_credentials):
    bucket_with(
        s3_endpoint,
        "datasets",
        {
            "viton/train_img/a.jpg": b"a",
            "viton/train_pairs.txt": b"a.jpg b.jpg\n",
            "viton/train_label/": b"",  # a folder marker
            "viton-old/train_img/x.jpg": b"x",  # shares the prefix's characters, not its folder
        },
    )
    dest = fetch_dataset("s3://datasets/viton", tmp_path / "data", endpoint_url=s3_endpoint)
    files = sorted(str(path.relative_to(dest)) for path in dest.rglob("*") if path.is_file())
    assert files == ["train_img/a.jpg", "train_pairs.txt"]
    assert (dest / "train_pairs.txt").read_bytes() == b"a.jpg b.jpg\n"


def test_the_endpoint_comes_from_the_environment(tmp_path, s3_endpoint, s3_credentials, monkeypatch):
    bucket_with(s3_endpoint, "from-env", {"set/file.txt": b"1"})
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    dest = fetch_dataset("s3://from-env/set", tmp_path / "data")
    assert (dest / "file.txt").read_bytes() == b"1"


def test_s3_errors_name_the_uri_and_leave_nothing_behind(tmp_path, s3_endpoint, s3_credentials):
    bucket_with(s3_endpoint, "empty", {"other/file.txt": b"1"})
    with pytest.raises(FileNotFoundError, match=r"s3://empty/viton.*no objects"):
        fetch_dataset("s3://empty/viton", tmp_path / "a", endpoint_url=s3_endpoint)
    with pytest.raises(RuntimeError, match=r"s3://no-such-bucket/viton.*NoSuchBucket"):
        fetch_dataset("s3://no-such-bucket/viton", tmp_path / "b", endpoint_url=s3_endpoint)
    assert sorted(path.name for path in tmp_path.iterdir()) == []


def test_keys_that_would_escape_the_dataset_folder_are_refused(tmp_path, s3_endpoint, s3_credentials):
    bucket_with(s3_endpoint, "hostile", {"set/../../escape.txt": b"x"})
    with pytest.raises(ValueError, match="outside the dataset folder"):
        fetch_dataset("s3://hostile/set", tmp_path / "data", endpoint_url=s3_endpoint)
    assert not (tmp_path.parent / "escape.txt").exists()


def test_dvc_uris_call_the_versioning_fetch_with_repo_rev_and_path(tmp_path, monkeypatch):
    import tryon.versioning

    calls = []

    def fake_fetch(*, repo, rev, path, dest):
        calls.append((repo, rev, path))
        Path(dest).mkdir()
        (Path(dest) / "train_pairs.txt").write_text("a.jpg b.jpg\n")
        return dest

    monkeypatch.setattr(tryon.versioning, "fetch_dataset", fake_fetch)
    dest = fetch_dataset("dvc://data?rev=v2&repo=/srv/tryon", tmp_path / "data")
    assert calls == [("/srv/tryon", "v2", "data")]
    assert (dest / "train_pairs.txt").is_file()


def test_without_the_versioning_module_dvc_uris_say_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tryon.versioning", None)
    with pytest.raises(RuntimeError, match=r"tryon.versioning.fetch_dataset.*dvc extra"):
        fetch_dataset("dvc://data?rev=v1", tmp_path / "data")
