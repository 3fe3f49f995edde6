"""`dvc repro` of dvc.yaml on a fresh clone of a copy of this repository, at a tiny size: the whole
pipeline runs, a second run does nothing, a changed stage param re-runs that stage and those after
it, `dvc params diff` and `dvc metrics diff` compare the runs, and every output is pushed, so that
another clone of the run pulls it and has nothing to reproduce."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tryon.versioning.commands import run_dvc, run_git

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
STAGES = ["validate", "train_sgm", "train_warp", "train_fusion", "evaluate", "export"]


def tiny_params() -> dict:
    """The project's params.yaml (every key dvc.yaml names) with a tiny data set, model and schedule."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["data"]["resolution"] = "64x48"
    params["synth"].update(n_train=2, n_test=2)
    params["model"].update(
        base_width=4, max_width=16, depth=4, disc_width=4, tps_width=2, tps_levels=3, tps_hidden=8
    )
    params["train"]["stages"] = {stage: {"max_steps": 2} for stage in ("sgm", "warp", "fusion")}
    params["train"].update(batch_size=2, workers=0, log_interval=1)
    return params


def copy_of_repository(dest: Path) -> Path:
    """The working tree's files that git would see (tracked, or new and not ignored), as a new repo."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    run_git("init", "-q", "-b", "main", repo=dest)
    run_git("config", "user.name", "Test", repo=dest)
    run_git("config", "user.email", "test@example.com", repo=dest)
    return dest


def tryon_cli(*arguments: str, cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "tryon.cli", *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def repro(clone: Path) -> list[str]:
    """Run `dvc repro` (with this environment's `tryon` on PATH) and return the stages it ran."""
    output = run_dvc("repro", repo=clone, timeout=900)
    return re.findall(r"Running stage '([^']+)'", output)


@pytest.fixture
def tool_path(monkeypatch):
    # DVC runs each stage's `tryon ...` through the shell: the one beside this Python must come first.
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def test_repro_on_a_fresh_clone(tmp_path, tool_path):
    origin = copy_of_repository(tmp_path / "origin")
    (origin / "params.yaml").write_text(yaml.safe_dump(tiny_params(), sort_keys=False))
    # The copy's data.dvc names the project's data set; pin the tiny one and share it through the
    # default remote, which .dvc/config places beside the repository (here: inside tmp_path).
    tryon_cli("data", "pin-synthetic", cwd=origin)
    run_git("add", "-A", repo=origin)
    run_git("commit", "-q", "-m", "tiny project", repo=origin)
    run_dvc("push", "-q", repo=origin)
    assert (tmp_path / "tryon-dvc-remote").is_dir()

    clone = tmp_path / "clone"
    run_git("clone", "-q", str(origin), str(clone), repo=tmp_path)
    assert "checked out by `dvc pull`" in tryon_cli("data", "fetch", cwd=clone)

    assert repro(clone) == STAGES
    for output in (
        "models/fusion/checkpoint.pt",
        "models/avatars.pt",
        "models/tryon.mar",
        "models/eval/metrics.json",
    ):
        assert (clone / output).is_file(), output
    assert repro(clone) == []

    run_git("add", "dvc.lock", repo=clone)
    run_git("commit", "-q", "-m", "first run", repo=clone)
    first = yaml.safe_load((clone / "dvc.lock").read_text())["stages"]
    params = yaml.safe_load((clone / "params.yaml").read_text())
    params["train"]["stages"]["fusion"]["max_steps"] = 3
    (clone / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert repro(clone) == ["train_fusion", "evaluate", "export"]
    second = yaml.safe_load((clone / "dvc.lock").read_text())["stages"]
    for stage in ("validate", "train_sgm", "train_warp"):
        assert second[stage] == first[stage], stage

    params_diff = json_of(run_dvc("params", "diff", "--json", repo=clone))
    assert params_diff == {"params.yaml": {"train.stages.fusion.max_steps": {"old": 2, "new": 3, "diff": 1}}}
    metrics_diff = json_of(run_dvc("metrics", "diff", "--json", "--all", repo=clone))
    assert "paired/ssim/changed" in metrics_diff["models/eval/metrics.json"]
    plots = json_of(run_dvc("plots", "show", "--json", repo=clone))
    assert not plots.get("errors")
    assert set(plots["data"]) == {
        "Layout stage losses",
        "Warp stage losses",
        "Fusion stage losses",
        "models/eval/by_difficulty.png",
    }

    # Checkpoints, evaluation and archive go to the remote with the data: another clone of the
    # committed run pulls them and has nothing to reproduce.
    run_dvc("push", "-q", repo=clone)
    assert json_of(run_dvc("status", "--cloud", "--json", repo=clone)) == {}
    run_git("commit", "-q", "-a", "-m", "second run", repo=clone)
    other = tmp_path / "other"
    run_git("clone", "-q", str(clone), str(other), repo=tmp_path)
    run_dvc("pull", "-q", repo=other)
    assert (other / "models/tryon.mar").read_bytes() == (clone / "models/tryon.mar").read_bytes()
    assert repro(other) == []


def json_of(text: str):
    import json

    return json.loads(text or "{}")
