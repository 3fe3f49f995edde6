"""Evaluate a checkpoint on a dataset split: the library side of `tryon evaluate`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from tryon.data.dataset import TryOnBatch, TryOnDataset, collate
from tryon.data.layout import DatasetLayout
from tryon.eval.evaluator import EvalResult, Evaluator
from tryon.eval.gate import GateResult, OutdatedReference, compare_to_baseline
from tryon.eval.records import EvalBatch
from tryon.eval.regions import changed_radius, changed_region, unpaired_changed_region
from tryon.eval.report import ReportPaths, write_report
from tryon.eval.weights import EvalWeights
from tryon.pipeline import TryOnPipeline

STRATA_SUFFIXES = ("/easy", "/medium", "/hard")

KEPT_PHOTO = {
    True: "yes (model.keep_photo): outside its repainted region the try-on is the photo, pixel for pixel, "
    "so whole-frame scores are inflated by copied pixels",
    False: "no (model.keep_photo false): G3 renders the whole frame, as ACGPN does",
}


@dataclass(frozen=True)
class EvaluationOutcome:
    result: EvalResult
    paths: ReportPaths


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
    dataset = TryOnDataset(
        data, phase=phase, resolution=pipeline.config.resolution, with_unpaired=with_unpaired
    )
    if len(dataset) == 0:
        raise ValueError(f"{data}: the {phase} split has no pairs to evaluate")
    evaluator = Evaluator(weights=weights, device=device)
    for batch in DataLoader(dataset, batch_size=batch_size, collate_fn=collate):
        evaluator.add(evaluation_batch(pipeline, batch.to(device)))
    result = evaluator.result()
    config = pipeline.config
    keep_photo = getattr(config, "keep_photo", True)  # settings written before it existed kept the photo
    details = {
        "checkpoint": str(checkpoint),
        "data": f"{data} ({phase} split, {len(dataset)} pairs, {'with' if with_unpaired else 'no'} unpaired ground truth)",
        "model": f"preset {config.preset} at {config.resolution}, EMA weights",
        "changed region": (
            "old garment and arms from the parsing map (unpaired: also where the ground truth differs from "
            f"the photo), grown by {changed_radius(config, config.resolution.height)} px, the model's arm-hole "
            f"growth (model.arm_hole_dilation {config.arm_hole_dilation} at 256x192)"
        ),
        "kept photo": KEPT_PHOTO[keep_photo],
    }
    paths = write_report(
        result, out_dir=out_dir, training_stats=training_stats, details=details, keep_photo=keep_photo
    )
    return EvaluationOutcome(result=result, paths=paths)


def evaluation_batch(pipeline: TryOnPipeline, batch: TryOnBatch) -> EvalBatch:
    """Try each person's own garment on (paired) and, where present, the unpaired garment.

    From the pipeline's outputs it takes the try-on images, G1's own layout
    (`output.layout.labels`, before composition), G2's worn-garment logits and the warped garment;
    the changed regions come from the batch's ground truth and the model's arm-hole dilation.
    """
    radius = changed_radius(pipeline.config, batch.image.shape[-2])
    person = pipeline.represent(batch.image, batch.label, batch.keypoints)
    paired = pipeline(person, batch.garment, batch.garment_mask)
    unpaired = {}
    if batch.unpaired_garment is not None:
        output = pipeline(person, batch.unpaired_garment, batch.unpaired_garment_mask)
        unpaired = {
            "unpaired_tryon": output.image,
            "unpaired_garment": batch.unpaired_garment,
            "unpaired_garment_mask": batch.unpaired_garment_mask,
        }
        if batch.unpaired_target is not None:
            unpaired["unpaired_target"] = batch.unpaired_target
            unpaired["unpaired_changed_region"] = unpaired_changed_region(
                batch.label, batch.image, batch.unpaired_target, radius=radius
            )
    return EvalBatch(
        names=batch.names,
        person=batch.image,
        garment=batch.garment,
        garment_mask=batch.garment_mask,
        target=batch.image,
        tryon=paired.image,
        layout=paired.layout.labels[:, 0],
        label=batch.label,
        warped_garment=paired.warp.refined_garment,
        warped_mask=paired.warp.warped_mask,
        worn_mask=person.worn_garment,
        keypoints=batch.keypoints,
        changed_region=changed_region(batch.label, radius=radius),
        predicted_worn_mask=paired.layout.garment_logits.sigmoid(),
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
    """The quality gate against a previous metrics.json; raises ValueError (OutdatedReference for
    one written before the region keys) when it cannot be compared with."""
    try:
        reference = json.loads(Path(baseline).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"baseline metrics {baseline} are not readable JSON ({error})") from error
    try:
        return compare_to_baseline(
            gate_metrics(metrics), gate_metrics(reference), max_regression=max_regression
        )
    except OutdatedReference as error:
        raise OutdatedReference(f"{baseline}: {error}") from None
