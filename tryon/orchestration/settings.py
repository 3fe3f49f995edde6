"""A pipeline run's settings: params.yaml's text plus the overrides a run is started with.

A pipeline passes plain strings and numbers between its steps; every step rebuilds the same
`Params` from them with `resolve_params`, so the settings are written once, in the run's parameters.
"""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from tryon.config import TRAINING_STAGES, Params, Resolution, StageConfig, TrainConfig, load_params

SCHEDULES = ("params", "full")
"""`params`: the stages of the params text (demo-sized in params.yaml); `full`: ACGPN's full recipe."""


@dataclass(frozen=True)
class RunSettings:
    """What a run is configured with, as the pipeline's parameters carry it."""

    params_yaml: str = ""  # the text of a params.yaml; empty: the built-in defaults
    resolution: str = ""  # HxW overriding data.resolution; empty: the params' own
    preset: str = ""  # model preset overriding model.preset; empty: the params' own
    schedule: str = "params"  # one of SCHEDULES
    budget_minutes: float = 0.0  # total training wall clock, shared by the stages; 0: the stages' own budgets

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule {self.schedule!r} is not one of {SCHEDULES}")
        if self.budget_minutes < 0:
            raise ValueError(
                f"budget_minutes={self.budget_minutes} must be >= 0 (0 keeps the stages' budgets)"
            )
        if self.resolution:
            Resolution.parse(self.resolution)


def resolve_params(settings: RunSettings) -> Params:
    """The Params a step runs with: the params text, its overrides applied, validated by tryon.config."""
    with tempfile.TemporaryDirectory(prefix="tryon-params-") as scratch:
        path = Path(scratch) / "params.yaml"
        path.write_text(yaml.safe_dump(_overridden(settings)))
        params = load_params(path)
    stages = params.train.stages if settings.schedule == "params" else TrainConfig().stages
    if settings.budget_minutes:
        stages = share_budget(stages, settings.budget_minutes)
    return dataclasses.replace(params, train=dataclasses.replace(params.train, stages=stages))


def params_text(settings: RunSettings) -> str:
    """A params.yaml that `load_params` reads as `resolve_params(settings)`: for a process that takes
    a file, such as `tryon train` in a training job's pods. The stages are written out in full."""
    document = _overridden(settings)
    stages = resolve_params(settings).train.stages
    document.setdefault("train", {})["stages"] = {
        name: dataclasses.asdict(stage) for name, stage in stages.items()
    }
    return yaml.safe_dump(document, sort_keys=False)


def _overridden(settings: RunSettings) -> dict:
    raw = yaml.safe_load(settings.params_yaml) if settings.params_yaml.strip() else {}
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise TypeError("params_yaml is not a mapping of sections; pass the text of a params.yaml")
    if settings.resolution:
        raw.setdefault("data", {})["resolution"] = settings.resolution
    if settings.preset:
        raw.setdefault("model", {})["preset"] = settings.preset
    return raw


def share_budget(stages: dict[str, StageConfig], total_minutes: float) -> dict[str, StageConfig]:
    """Split a total training budget over the stages in proportion to their own budgets (equally
    when a stage has none), so a shorter run keeps the schedule's balance between stages."""
    own = [stages[name].budget_minutes for name in TRAINING_STAGES]
    weights = own if all(own) else [1.0] * len(TRAINING_STAGES)
    return {
        name: dataclasses.replace(stages[name], budget_minutes=total_minutes * weight / sum(weights))
        for name, weight in zip(TRAINING_STAGES, weights, strict=True)
    }


SYNTHETIC_DATASET = "synthetic"
"""The dataset URI of the built-in synthetic dataset (pipelines/training.py branches on it)."""


@dataclass(frozen=True)
class DistributedTraining:
    """The distributed pipeline's own parameters: the PyTorchJob's size and image."""

    workers: int = 2  # pods, one of them the master
    gpus_per_worker: int = 4
    training_image: str = ""  # the CUDA image; empty: the pipeline's default

    def __post_init__(self) -> None:
        if self.workers < 1 or self.gpus_per_worker < 1:
            raise ValueError(
                f"workers={self.workers} and gpus_per_worker={self.gpus_per_worker} must be at least 1"
            )


@dataclass(frozen=True)
class PipelineArguments:
    """The training pipeline's parameters, as `tryon pipeline run` and `submit` pass them."""

    settings: RunSettings
    dataset_uri: str = (
        SYNTHETIC_DATASET  # `synthetic`, a local path, s3://BUCKET/PREFIX or dvc://PATH?rev=REV
    )
    uploads_uri: str = ""  # PHASE/garments/ and PHASE/persons/ uploads to add to a fetched dataset
    uploads_parser: str = "lip"  # human parser of the uploaded persons' parsing maps: lip, cihp or atr
    baseline_metrics: str = ""  # metrics.json the quality gate compares with
    s3_endpoint_url: str = ""  # S3-compatible endpoint; empty: AWS_ENDPOINT_URL or AWS
    publish_dir: str = ""  # where the export also puts tryon.mar (the serving model store)
    distributed: DistributedTraining | None = None  # set for pipelines/distributed.py only

    def __post_init__(self) -> None:
        from tryon.labels import PARSERS

        if self.uploads_parser not in PARSERS:
            raise ValueError(f"uploads_parser {self.uploads_parser!r} is not one of {list(PARSERS)}")

    def as_dict(self) -> dict[str, str | float]:
        """The pipeline's parameters by name."""
        values = dataclasses.asdict(self)
        distributed = values.pop("distributed") or {}
        if not distributed.get("training_image"):
            distributed.pop("training_image", None)
        return {**values.pop("settings"), **values, **distributed}
