"""Compiling the pipeline definitions (pipelines/*.py) into the YAML that kfp runs."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

PIPELINES = {
    "training": "pipelines.training",  # one GPU task per stage; also runs locally
    "distributed": "pipelines.distributed",  # the stages as one PyTorchJob on N pods x G GPUs
}
"""Pipeline name -> module; the module's function of the same name is the pipeline."""


def definition(name: str) -> Path:
    """The definition's file, relative to the repository: pipelines/NAME.py."""
    return Path(*PIPELINES[name].split(".")).with_suffix(".py")


def compiled(name: str) -> Path:
    """The committed compiled YAML, relative to the repository: pipelines/NAME.yaml."""
    return definition(name).with_suffix(".yaml")


def compile_pipeline(*, repo: Path, out: Path, name: str = "training") -> Path:
    """Compile pipeline `name` of the checkout at `repo` (which holds components/ and pipelines/)
    into `out` and return it. The output is deterministic: the same definition gives the same bytes,
    which is what the committed pipelines/NAME.yaml is tested against."""
    from kfp import compiler

    if name not in PIPELINES:
        raise ValueError(f"pipeline {name!r} is not one of {sorted(PIPELINES)}")
    repo = Path(repo).resolve()
    if not (repo / definition(name)).is_file():
        raise FileNotFoundError(
            f"{repo / definition(name)} does not exist; run from the repository root or pass its path (--repo)"
        )
    if str(repo) not in sys.path:
        sys.path.insert(0, str(repo))
    module = importlib.import_module(PIPELINES[name])
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(getattr(module, name), str(out))
    return out
