"""Evaluate a checkpoint on a dataset split: the library side of `tryon evaluate`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from tryon.data.dataset import TryOnBatch, TryOnDataset, collate
from tryon.data.layout import DatasetLayout
from tryon.eval.evaluator import EvalResult, Evaluator
from tryon.eval.gate import GateResult, compare_to_baseline
from tryon.eval.records import EvalBatch
from tryon.eval.report import ReportPaths, write_report
from tryon.eval.weights import EvalWeights
from tryon.labels import ARM_LABELS, Label
from tryon.ops.composition import region_mask
from tryon.ops.morphology import dilate
from tryon.pipeline import TryOnPipeline

CHANGE_THRESHOLD = 0.1
"""Per-channel difference in [-1, 1] above which a ground-truth pixel counts as changed (JPEG noise
stays well below it)."""

STRATA_SUFFIXES = ("/easy", "/medium", "/hard")


@dataclass(frozen=True)
class EvaluationOutcome:
    result: EvalResult
    paths: ReportPaths


def unpaired_region(batch: TryOnBatch) -> Tensor:
    """Where an unpaired try-on may differ from the person: the old garment and arms, and every
    pixel where the synthetic ground truth differs from the person photo. It does not depend on
    the model's prediction, so the model and the naive baseline are judged on the same pixels."""
    changed = ((batch.unpaired_target - batch.image).abs().amax(dim=1, keepdim=True) > CHANGE_THRESHOLD).float()
    garment_and_arms = region_mask(batch.label, (Label.UPPER_CLOTHES, *ARM_LABELS))
    return torch.maximum(dilate(changed, 1), garment_and_arms)


def evaluate_checkpoint(
    *,
    checkpoint: Path,  # training checkpoint; its EMA generator weights are evaluated
    data: Path,  # dataset root
    out_dir: Path,  # where metrics.json, report.html, grids, figures and curves go
    weights: EvalWeights,  # local files of the pretrained metric networks
    phase: str = "test",  # dataset split
    batch_size: int = 8,
    device: str = "cpu",
    training_stats: Sequence[Path] = (),  # the trainer's stats.jsonl files, for the loss curves
    seed: int = 0,  # seed of the generators' noise, so a re-run gives the same numbers
) -> EvaluationOutcome:
    """Run the try-on over a split (paired, and unpaired where the data has ground truth for it),
    compute every registered metric for the model and the naive baseline, and write the report."""
    torch.manual_seed(seed)
    pipeline = TryOnPipeline.from_checkpoint(checkpoint, device=device)
    with_unpaired = DatasetLayout(Path(data), phase).unpaired_file.exists()
    dataset = TryOnDataset(data, phase=phase, resolution=pipeline.config.resolution, with_unpaired=with_unpaired)
    if len(dataset) == 0:
        raise ValueError(f"{data}: the {phase} split has no pairs to evaluate")
    evaluator = Evaluator(weights=weights, device=device)
    for batch in DataLoader(dataset, batch_size=batch_size, collate_fn=collate):
        evaluator.add(evaluation_batch(pipeline, batch.to(device)))
    result = evaluator.result()
    details = {
        "checkpoint": str(checkpoint),
        "data": f"{data} ({phase} split, {len(dataset)} pairs, {'with' if with_unpaired else 'no'} unpaired ground truth)",
        "model": f"preset {pipeline.config.preset} at {pipeline.config.resolution}, EMA weights",
    }
    paths = write_report(result, out_dir=out_dir, training_stats=training_stats, details=details)
    return EvaluationOutcome(result=result, paths=paths)


def evaluation_batch(pipeline: TryOnPipeline, batch: TryOnBatch) -> EvalBatch:
    """Try each person's own garment on (paired) and, where present, the unpaired garment."""
    person = pipeline.represent(batch.image, batch.label, batch.keypoints)
    paired = pipeline(person, batch.garment, batch.garment_mask)
    unpaired = {}
    if batch.unpaired_garment is not None:
        output = pipeline(person, batch.unpaired_garment, batch.unpaired_garment_mask)
        unpaired = {
            "unpaired_tryon": output.image,
            "unpaired_garment": batch.unpaired_garment,
            "unpaired_garment_mask": batch.unpaired_garment_mask,
            "unpaired_target": batch.unpaired_target,
            "unpaired_region": unpaired_region(batch),
        }
    return EvalBatch(
        names=batch.names,
        person=batch.image,
        garment=batch.garment,
        garment_mask=batch.garment_mask,
        target=batch.image,
        tryon=paired.image,
        layout=paired.composed_labels[:, 0],
        label=batch.label,
        warped_garment=paired.warp.refined_garment,
        warped_mask=paired.warp.warped_mask,
        worn_mask=person.worn_garment,
        keypoints=batch.keypoints,
        **unpaired,
    )


def gate_metrics(metrics: dict[str, float]) -> dict[str, float]:
    """The overall metrics the quality gate compares: per-difficulty and per-class values are in
    the report, but on a test set of tens of samples they move too much to block a release."""
    return {
        key: value
        for key, value in metrics.items()
        if not key.endswith(STRATA_SUFFIXES) and not key.startswith("layout/iou/")
    }


def check_against_baseline(metrics: dict[str, float], baseline: Path, *, max_regression: float) -> GateResult:
    """The quality gate against a previous metrics.json."""
    try:
        reference = json.loads(Path(baseline).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"baseline metrics {baseline} are not readable JSON ({error})") from error
    return compare_to_baseline(gate_metrics(metrics), gate_metrics(reference), max_regression=max_regression)
