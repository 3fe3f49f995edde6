"""Dataset URIs of the pipeline: where a run's dataset comes from, and fetching it into a folder.

Three forms are understood:

- a local path (`data`, `/mnt/data/viton`): a folder in the ACGPN/VITON layout, e.g. on the data PVC;
- `s3://BUCKET/PREFIX`: every object under the prefix, read with boto3 from any S3-compatible store
  (AWS, MinIO, Ceph); the endpoint is `endpoint_url`, else the `AWS_ENDPOINT_URL` environment
  variable, else AWS; credentials come from the usual boto3 sources (environment, profile, role);
- `dvc://PATH?rev=REV&repo=URL`: PATH of a DVC-versioned repository at git revision REV (a tag, a
  branch or a commit); `repo` (a git URL or a local path) defaults to the repository of the working
  folder.

The synthetic default is not a URI of this module: the pipeline synthesises it in its own step.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import parse_qs, urlsplit

ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL"


@dataclass(frozen=True)
class LocalSource:
    """A folder on a file system the step can read."""

    path: Path


@dataclass(frozen=True)
class S3Source:
    """Every object under `prefix` in `bucket` of an S3-compatible store."""

    bucket: str
    prefix: str  # no leading slash; empty for the whole bucket


@dataclass(frozen=True)
class DvcSource:
    """`path` of a DVC repository at a git revision."""

    path: str
    rev: str  # a tag, a branch or a commit
    repo: str = "."  # a git URL or a local path


DatasetSource = LocalSource | S3Source | DvcSource


def parse_dataset_uri(uri: str) -> DatasetSource:
    """The source a dataset URI names; ValueError saying which form is expected when it is malformed."""
    uri = uri.strip()
    if not uri:
        raise ValueError("dataset URI is empty; give a local path, s3://BUCKET/PREFIX or dvc://PATH?rev=REV")
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if scheme == "s3":
        parts = urlsplit(uri)
        if not parts.netloc:
            raise ValueError(f"dataset URI {uri!r} names no bucket; expected s3://BUCKET/PREFIX")
        return S3Source(bucket=parts.netloc, prefix=parts.path.strip("/"))
    if scheme == "dvc":
        parts = urlsplit(uri)
        path = (parts.netloc + parts.path).strip("/")
        if not path:
            raise ValueError(f"dataset URI {uri!r} names no path; expected dvc://PATH?rev=REV&repo=URL")
        query = parse_qs(parts.query)
        unknown = sorted(set(query) - {"rev", "repo"})
        if unknown:
            raise ValueError(f"dataset URI {uri!r}: unknown query keys {unknown}; expected rev and repo")
        rev = _single(query, "rev", uri)
        if rev is None:
            raise ValueError(f"dataset URI {uri!r} names no revision; add ?rev=TAG (or a branch or a commit)")
        return DvcSource(path=path, rev=rev, repo=_single(query, "repo", uri) or ".")
    if scheme:
        raise ValueError(
            f"dataset URI {uri!r}: scheme {scheme}:// is not supported; use a local path, s3:// or dvc://"
        )
    return LocalSource(Path(uri))


def fetch_dataset(uri: str, dest: Path, *, endpoint_url: str | None = None) -> Path:
    """Copy the dataset `uri` names into the new folder `dest` and return it.

    `dest` must not exist; the files are staged beside it and moved into place at the end, so an
    interrupted fetch leaves no half dataset behind. `endpoint_url` overrides `AWS_ENDPOINT_URL`
    for s3:// URIs.
    """
    dest = Path(dest)
    if dest.exists():
        raise FileExistsError(f"{dest} already exists; fetch a dataset into a new folder")
    dest.parent.mkdir(parents=True, exist_ok=True)
    source = parse_dataset_uri(uri)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{dest.name}.") as scratch:
        staged = Path(scratch) / "dataset"
        if isinstance(source, LocalSource):
            _copy_local(source.path, staged)
        elif isinstance(source, S3Source):
            download_s3_prefix(source, staged, endpoint_url=endpoint_url)
        else:
            _fetch_dvc(source, staged)
        os.replace(staged, dest)
    return dest


def download_s3_prefix(source: S3Source, dest: Path, *, endpoint_url: str | None = None) -> list[Path]:
    """Download every object under `source` into `dest`, keeping the key's path below the prefix."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    endpoint = endpoint_url or os.environ.get(ENDPOINT_VARIABLE) or None
    where = f"s3://{source.bucket}/{source.prefix}" + (f" at {endpoint}" if endpoint else "")
    client = boto3.client("s3", endpoint_url=endpoint)
    prefix = f"{source.prefix}/" if source.prefix else ""
    written: list[Path] = []
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=source.bucket, Prefix=prefix):
            for entry in page.get("Contents", []):
                key = entry["Key"]
                if key.endswith("/"):  # a folder marker some tools write
                    continue
                target = dest / _relative_key(key, prefix, where)
                target.parent.mkdir(parents=True, exist_ok=True)
                client.download_file(source.bucket, key, str(target))
                written.append(target)
    except (BotoCoreError, ClientError) as error:
        raise RuntimeError(
            f"{where}: {error}; check the bucket name, the credentials (AWS_ACCESS_KEY_ID, "
            f"AWS_SECRET_ACCESS_KEY) and the endpoint ({ENDPOINT_VARIABLE})"
        ) from error
    if not written:
        raise FileNotFoundError(
            f"{where}: no objects under this prefix; upload the dataset folder there first"
        )
    return written


def _relative_key(key: str, prefix: str, where: str) -> PurePosixPath:
    relative = PurePosixPath(key[len(prefix) :])
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        raise ValueError(f"{where}: object key {key!r} would be written outside the dataset folder")
    return relative


def _copy_local(path: Path, dest: Path) -> None:
    if not path.is_dir():
        raise FileNotFoundError(
            f"dataset folder {path} does not exist; give a folder in the ACGPN/VITON layout"
        )
    shutil.copytree(path, dest)


def _fetch_dvc(source: DvcSource, dest: Path) -> None:
    try:
        from tryon.versioning import fetch_dataset as fetch_versioned
    except ImportError as error:
        raise RuntimeError(
            f"dvc:// dataset URIs need tryon.versioning.fetch_dataset, which this installation lacks ({error}); "
            "install the package with its dvc extra (pip install 'tryon[dvc]') from a version that provides it"
        ) from error
    fetch_versioned(repo=source.repo, rev=source.rev, path=source.path, dest=dest)


def _single(query: dict[str, list[str]], key: str, uri: str) -> str | None:
    values = query.get(key)
    if not values:
        return None
    if len(values) > 1:
        raise ValueError(f"dataset URI {uri!r} gives {key} {len(values)} times; give it once")
    return values[0]
