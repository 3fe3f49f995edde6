"""Checkpoints: state dicts plus the model config as JSON, written atomically, loaded weights-only.

A checkpoint is one file so that a crash can never leave weights and config out of step: it is
written to a temporary file beside the target, flushed to disk, then renamed over the target.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from tryon.atomic import atomic_path
from tryon.config import ModelConfig

CHECKPOINT_FORMAT = 1

RAW_STATE = "generators"
"""Key of the generator weights in a checkpoint's state."""
EMA_STATE = "generators_ema"
"""Key of the exponential moving average of the generator weights: what is evaluated and served."""
DISCRIMINATOR_STATE = "discriminators"
"""Key of the discriminator weights (training checkpoints only)."""


FINAL_STAGE = "fusion"
"""The stage whose checkpoint holds every generator a try-on needs."""


class CheckpointMismatchError(ValueError):
    """A checkpoint built for another resolution or network size than the one configured."""


class UnfinishedCheckpointError(ValueError):
    """A checkpoint from another stage than the final one, or from a stage stopped before its end."""


@dataclass(frozen=True)
class Checkpoint:
    """What a checkpoint file holds: the model config and named state dicts (and other tensors/values)."""

    model_config: ModelConfig
    state: dict[str, Any]


def save_checkpoint(path: Path, *, model_config: ModelConfig, state: dict[str, Any]) -> Path:
    """Write `state` (state dicts, counters, RNG states) with the config, atomically; returns `path`."""
    path = Path(path)
    payload = {"format": CHECKPOINT_FORMAT, "model_config": json.dumps(model_config.to_dict()), "state": state}
    with atomic_path(path, durable=True) as tmp:
        torch.save(payload, tmp)
    return path


def load_checkpoint(
    path: Path,
    *,
    expect: ModelConfig | None = None,
    map_location: str | torch.device = "cpu",
    mmap: bool = False,
) -> Checkpoint:
    """Load a checkpoint with `weights_only=True`.

    With `mmap`, the file is memory-mapped and its tensors are read only when touched: reading a
    checkpoint's counters and flags then costs milliseconds, whatever the size of its weights.

    With `expect`, a checkpoint whose model config differs in any field (resolution, preset, widths,
    pose and composition settings) is refused with a message that names both values, instead of
    failing later with a tensor shape error or silently composing differently from training.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist; train one with `tryon train` first")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except Exception as error:  # torch raises several unrelated types for corrupt files
        raise ValueError(f"checkpoint {path} is not readable ({type(error).__name__}: {error})") from error
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"checkpoint {path} is not a tryon checkpoint of format {CHECKPOINT_FORMAT}")
    config = ModelConfig.from_dict(json.loads(payload["model_config"]))
    if expect is not None:
        _check_compatible(path, found=config, expected=expect)
    return Checkpoint(model_config=config, state=payload["state"])


def _check_compatible(path: Path, *, found: ModelConfig, expected: ModelConfig) -> None:
    found_values, expected_values = found.to_dict(), expected.to_dict()
    differences = [
        f"{name} {found_values[name]} (configured: {expected_values[name]})"
        for name in expected_values
        if found_values.get(name) != expected_values[name]
    ]
    if differences:
        raise CheckpointMismatchError(
            f"checkpoint {path} was built for another model: " + ", ".join(differences)
            + "; use a matching --size/--preset or a checkpoint trained for this configuration"
        )


def require_finished(checkpoint: Checkpoint, *, path: Path, stage: str = FINAL_STAGE) -> None:
    """Refuse a checkpoint that is not the end of `stage` (the fusion stage unless told otherwise).

    Inference, evaluation and export need every generator trained: a checkpoint of an earlier stage
    holds an untrained G3, and one of an interrupted stage holds a half-trained one.
    """
    found = checkpoint.state.get("stage")
    if found != stage:
        raise UnfinishedCheckpointError(
            f"checkpoint {path} is from stage {found or 'unknown'}, not {stage}: a try-on needs the {stage} "
            f"stage trained; run `tryon train --stage {stage}` and use models/{stage}/checkpoint.pt"
        )
    if not checkpoint.state.get("finished", False):
        raise UnfinishedCheckpointError(
            f"checkpoint {path}: stage {stage} stopped at step {checkpoint.state.get('step', '?')} before it "
            f"finished; continue it with `tryon train --stage {stage} --resume`"
        )


def require_finished_file(path: Path, *, stage: str = FINAL_STAGE) -> None:
    """`require_finished` on a checkpoint file, before anything loads its weights: the file is
    memory-mapped and only its small values are read. Raises FileNotFoundError or ValueError for a
    missing or unreadable file, UnfinishedCheckpointError for another stage or an unfinished one."""
    require_finished(load_checkpoint(path, mmap=True), path=Path(path), stage=stage)
