"""Compiling the pipeline definition (pipelines/training.py) into the YAML that kfp runs."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

PIPELINE_MODULE = "pipelines.training"
DEFINITION = Path("pipelines/training.py")
COMPILED = Path("pipelines/training.yaml")


def compile_pipeline(*, repo: Path, out: Path) -> Path:
    """Compile the training pipeline of the checkout at `repo` (which holds components/ and
    pipelines/) into `out` and return it. The output is deterministic: the same definition gives
    the same bytes, which is what the committed pipelines/training.yaml is tested against."""
    from kfp import compiler

    repo = Path(repo).resolve()
    if not (repo / DEFINITION).is_file():
        raise FileNotFoundError(
            f"{repo / DEFINITION} does not exist; run from the repository root or pass its path (--repo)"
        )
    if str(repo) not in sys.path:
        sys.path.insert(0, str(repo))
    module = importlib.import_module(PIPELINE_MODULE)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(module.training, str(out))
    return out
