"""The main job on the built-in default: synthetic data, staged training, evaluation.

It runs the same library functions as the pipeline stages, in one process, so that a newcomer's
first command ends with a report to open.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tryon.config import Params
from tryon.data.layout import DatasetLayout
from tryon.data.preview import write_preview
from tryon.data.synthetic import generate_dataset
from tryon.data.validate import validate_dataset
from tryon.eval.run import evaluate_checkpoint
from tryon.eval.summary import headline
from tryon.eval.weights import EvalWeights
from tryon.train import train
from tryon.train.run import select_stages, stage_checkpoint


class InvalidDataset(ValueError):
    """The dataset failed validation; the message is the validator's summary."""


@dataclass(frozen=True)
class DemoOutputs:
    """Where the demo wrote what a person opens first."""

    preview: Path
    checkpoint: Path
    report_html: Path
    metrics_json: Path
    tryon_grid: Path


def run_demo(*, out: Path, params: Params, log: Callable[[str], None], progress: bool = True) -> DemoOutputs:
    """Synthesise, validate and preview a dataset, train every stage on the configured budget, and
    evaluate; `log` receives one line per step. A re-run starts the training afresh."""
    started = time.perf_counter()
    resolution = params.data.resolution
    root = out / "data"
    summary = generate_dataset(
        root, n_train=params.synth.n_train, n_test=params.synth.n_test, resolution=resolution, seed=params.synth.seed
    )
    log(f"[1/5] synthetic dataset: {summary.n_train} train + {summary.n_test} test pairs at {resolution} in {root}")

    report = validate_dataset(root, resolution=resolution, max_image_pixels=params.data.max_image_pixels)
    if not report.ok:
        raise InvalidDataset("\n".join([*map(str, report.problems), report.summary()]))
    log(f"[2/5] validation: {report.summary()}")

    preview = write_preview(DatasetLayout(root, "train"), out / "preview.png")
    log(f"[3/5] preview sheet: {preview}")

    models = out / "models"
    shutil.rmtree(models, ignore_errors=True)
    checkpoint = train(
        stage="all", data_root=root, out_dir=models, model_config=params.model, config=params.train, progress=progress
    )
    log(f"[4/5] staged training ({', '.join(select_stages('all'))}): {checkpoint}")

    stats = [stage_checkpoint(models, stage).parent / "stats.jsonl" for stage in select_stages("all")]
    outcome = evaluate_checkpoint(
        checkpoint=checkpoint,
        data=root,
        out_dir=models / "eval",
        weights=EvalWeights(inception=params.eval.inception_weights),
        training_stats=[path for path in stats if path.is_file()],
    )
    log(f"[5/5] evaluation, model against the naive baseline (report: {outcome.paths.report_html}):")
    for line in headline(outcome.result.metrics):
        log(f"      {line}")
    log(f"demo finished in {time.perf_counter() - started:.0f} s")
    return DemoOutputs(
        preview=preview,
        checkpoint=checkpoint,
        report_html=outcome.paths.report_html,
        metrics_json=outcome.paths.metrics_json,
        tryon_grid=outcome.paths.grids[-1],
    )
