"""Kubeflow Pipelines components: one per pipeline step, each a thin call into `tryon.orchestration.steps`."""

from components.evaluate import evaluate
from components.export import export
from components.fetch import fetch
from components.preprocess import preprocess
from components.synthesise import synthesise
from components.train import train_stage
from components.train_distributed import train_distributed
from components.validate import validate

__all__ = [
    "evaluate",
    "export",
    "fetch",
    "preprocess",
    "synthesise",
    "train_distributed",
    "train_stage",
    "validate",
]
