"""The Dockerfile: hadolint passes; with no Docker engine here, every path it copies must exist and
reach the build context, and every program the image's users start must be provided by what it
installs (the entrypoint, torchrun for the PyTorchJob, torchserve and the probe for the Deployment)."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import subprocess
import sys
import tomllib
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
HADOLINT = Path(sys.executable).parent / "hadolint"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def dockerignore_excludes(path: str) -> bool:
    """Whether .dockerignore keeps `path` (relative to the repository) out of the build context."""
    excluded = False
    for pattern in (REPO / ".dockerignore").read_text().splitlines():
        pattern = pattern.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negated = pattern.startswith("!")
        pattern = pattern.removeprefix("!").rstrip("/")
        parts = Path(path).parts
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(prefix, pattern) for prefix in prefixes):
            excluded = not negated
    return excluded


def test_hadolint_passes():
    result = subprocess.run(
        [str(HADOLINT), str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_copied_path_exists_and_reaches_the_build_context():
    copies = [arguments for keyword, arguments in instructions() if keyword == "COPY"]
    local = [shlex.split(arguments) for arguments in copies if not arguments.startswith("--from")]
    assert local
    for *sources, _destination in local:
        for source in sources:
            assert (REPO / source).exists(), f"COPY {source}: no such path in the repository"
            assert not dockerignore_excludes(source), f"COPY {source}: excluded by .dockerignore"
            for path in (REPO / source).rglob("*") if (REPO / source).is_dir() else []:
                relative = str(path.relative_to(REPO))
                if path.suffix == ".py":
                    assert not dockerignore_excludes(relative), f"{relative} would be left out of the image"


def test_the_build_context_leaves_out_local_state():
    for path in (
        ".venv/bin/python",
        "runs/demo/pipeline.log",
        "data/train_img/a.jpg",
        ".git/HEAD",
        "tests/conftest.py",
    ):
        assert dockerignore_excludes(path), path


def test_multi_stage_with_a_torch_variant_argument_and_a_non_root_user():
    found = instructions()
    stages = [arguments for keyword, arguments in found if keyword == "FROM"]
    assert len(stages) >= 2
    assert any(arguments.startswith("TORCH_VARIANT=cpu") for keyword, arguments in found if keyword == "ARG")
    (torch_install,) = [
        a for k, a in found if k == "RUN" and "download.pytorch.org/whl/${TORCH_VARIANT}" in a
    ]
    assert '"torch==${TORCH_VERSION}"' in torch_install
    pins = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    (torch_pin,) = [pin for pin in pins if pin.startswith("torch==")]
    assert f"TORCH_VERSION={torch_pin.removeprefix('torch==')}" in [a for k, a in found if k == "ARG"]
    users = [arguments for keyword, arguments in found if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    (install,) = [a for k, a in found if k == "RUN" and 'pip install ".[' in a]
    assert all(extra in install for extra in ("serve", "pipeline", "dvc"))


def console_scripts() -> set[str]:
    return {entry.name for entry in entry_points(group="console_scripts")}


def test_every_program_the_image_starts_is_installed_by_it():
    found = instructions()
    (entrypoint,) = [json.loads(arguments) for keyword, arguments in found if keyword == "ENTRYPOINT"]
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert entrypoint[0] in project["scripts"]
    # what k8s/ starts in this image
    deployment = yaml.safe_load((REPO / "k8s" / "base" / "deployment.yaml").read_text())
    served = {container["name"]: container for container in deployment["spec"]["template"]["spec"]["containers"]}
    job = yaml.safe_load((REPO / "k8s" / "training" / "pytorchjob.yaml").read_text())
    (trainer,) = job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"]
    programs = {served["torchserve"]["command"][0], trainer["command"][0]}
    assert programs == {"torchserve", "torchrun"}
    assert programs <= console_scripts()  # provided by torchserve (serve extra) and torch
    assert "torchserve==" in " ".join(project["optional-dependencies"]["serve"])
    gateway = served["gateway"]["command"]
    assert gateway[:2] == ["python", "-m"]
    assert (REPO / Path(*gateway[2].split("."))).with_suffix(".py").is_file()
    assert trainer["command"][trainer["command"].index("-m") + 1] == "tryon.cli"
    # files the serving configuration reads from the image
    config = (REPO / "k8s" / "base" / "torchserve" / "config.properties").read_text()
    (metrics,) = re.findall(r"^metrics_config=(.+)$", config, re.MULTILINE)
    workdir = [arguments for keyword, arguments in found if keyword == "WORKDIR"][-1]
    assert metrics.startswith(f"{workdir}/serving/")
    assert (REPO / "serving" / Path(metrics).name).is_file()


@pytest.mark.parametrize("path", ["tryon/cli/__init__.py", "serving/metrics.yaml", "params.yaml"])
def test_what_the_image_needs_is_in_the_build_context(path):
    assert not dockerignore_excludes(path)
