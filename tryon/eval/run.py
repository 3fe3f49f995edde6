"""Evaluate a checkpoint on a dataset split: the library side of `tryon evaluate`."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from tryon.config import ModelConfig
from tryon.data.dataset import TryOnBatch, TryOnDataset, collate, image_to_tensor
from tryon.data.layout import DatasetLayout, Pair, read_pairs, read_rgb, read_unpaired
from tryon.eval.evaluator import EvalResult, Evaluator
from tryon.eval.gate import GateResult, OutdatedReference, compare_to_baseline
from tryon.eval.pairs import classify_pairs
from tryon.eval.records import EvalBatch
from tryon.eval.regions import changed_radius, changed_region, unpaired_changed_region
from tryon.eval.report import ReportPaths, write_report
from tryon.eval.weights import EvalWeights
from tryon.inference import load_trained_pipeline
from tryon.nets import TryOnGenerators
from tryon.pipeline import TryOnPipeline
from tryon.progress import progress_bar
from tryon.steps import PersonRepresentation

STRATA_SUFFIXES = ("/easy", "/medium", "/hard")

KEPT_PHOTO = {
    True: "yes (model.keep_photo): outside its repainted region the try-on is the photo, pixel for pixel, "
    "so whole-frame scores are inflated by copied pixels",
    False: "no (model.keep_photo false): G3 renders the whole frame, as ACGPN does",
}


INFERENCE_ONLY_SETTINGS = ("tps_fit_steps", "tps_fit_lr", "tps_fit_constraint", "tps_fit_height")
"""ModelConfig fields that only the inference pipeline reads (the TPS fit to the target mask):
a checkpoint may be evaluated with other values than it was trained with, and nothing else."""


def with_inference_settings(config: ModelConfig, settings: Mapping[str, Any]) -> ModelConfig:
    """`config` with `settings` (ModelConfig field -> value) applied; a field that training also
    reads is refused, since the checkpoint's weights were trained with its value."""
    known = {field.name for field in dataclasses.fields(ModelConfig)}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ValueError(
            f"model settings {unknown} are not ModelConfig fields; the inference-only ones are "
            f"{list(INFERENCE_ONLY_SETTINGS)}"
        )
    trained = sorted(set(settings) - set(INFERENCE_ONLY_SETTINGS))
    if trained:
        raise ValueError(
            f"model settings {trained} shape what the checkpoint was trained with and cannot be changed "
            f"for its evaluation; only {list(INFERENCE_ONLY_SETTINGS)} can"
        )
    return dataclasses.replace(config, **settings)


def pipeline_with_inference_settings(pipeline: TryOnPipeline, settings: Mapping[str, Any]) -> TryOnPipeline:
    """The pipeline's weights in networks built with `settings` applied to its model config
    (`with_inference_settings`); the pipeline itself unchanged when there are none."""
    if not settings:
        return pipeline
    config = with_inference_settings(pipeline.config, settings)
    generators = TryOnGenerators.from_config(config)
    generators.load_state_dict(pipeline.generators.state_dict())
    return TryOnPipeline(generators.to(pipeline.device), config, precision=pipeline.precision.name)


@dataclass(frozen=True)
class EvaluationOutcome:
    result: EvalResult
    paths: ReportPaths


class UnpairedGroundTruth(Dataset):
    """Samples of unpaired pairs that the synthetic data has ground truth for: each sample of
    `dataset` with `unpaired_target`, the person wearing the pair's garment ({phase}_unpaired_gt/)."""

    def __init__(self, dataset: TryOnDataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict:
        sample = self.dataset[index]
        path = self.dataset.layout.unpaired_gt(self.dataset.pairs[index].person)
        image = read_rgb(path)
        if image.shape[:2] != self.dataset.resolution.shape:
            raise ValueError(
                f"{path}: size {image.shape[0]}x{image.shape[1]} differs from the model's {self.dataset.resolution}"
            )
        sample["unpaired_target"] = image_to_tensor(image)
        return sample


def with_ground_truth(layout: DatasetLayout, pairs: tuple[Pair, ...]) -> tuple[list[Pair], list[Pair]]:
    """Unpaired pairs split into those the synthetic ground truth shows ({phase}_unpaired.txt names
    the pair and its image exists) and the others."""
    truth = set(read_unpaired(layout))
    shown = [pair for pair in pairs if pair in truth and layout.unpaired_gt(pair.person).is_file()]
    return shown, [pair for pair in pairs if pair not in set(shown)]


def evaluate_checkpoint(
    *,
    checkpoint: Path,  # the fusion stage's finished checkpoint; its EMA generator weights are evaluated
    data: Path,  # dataset root
    out_dir: Path,  # where metrics.json, report.html, grids, figures and curves go
    weights: EvalWeights,  # local files of the pretrained metric networks
    phase: str = "test",  # dataset split
    batch_size: int = 8,
    device: str | torch.device | None = None,  # None: CUDA when available (`tryon.device.resolve_device`)
    training_stats: Sequence[Path] = (),  # the trainer's stats.jsonl files, for the loss curves
    seed: int = 0,  # seed of the generators' noise, so a re-run gives the same numbers
    pairs_kind: str = "auto",  # auto, paired or unpaired: whether each pair's garment is the person's own
    progress: bool = False,  # a progress bar over the pairs (only ever on a terminal)
    inference_settings: Mapping[str, Any] | None = None,  # ModelConfig fields evaluated with other
    # values than the checkpoint's, among INFERENCE_ONLY_SETTINGS (e.g. {"tps_fit_steps": 0})
) -> EvaluationOutcome:
    """Run the try-on over a split and score it, model and naive baseline alike, then write the report.

    Pairs whose garment is the one the person wears (`tryon.eval.pairs`) get the paired metrics,
    against the photo, and on synthetic data also a try-on of another garment against its ground
    truth. Pairs with another garment get the metrics that need no ground truth (FID/KID, against
    photos of other persons), and the unpaired image metrics where the synthetic data shows the
    person wearing it. A checkpoint whose fusion stage is missing or unfinished is refused.
    """
    settings = dict(inference_settings or {})
    pipeline = pipeline_with_inference_settings(load_trained_pipeline(checkpoint, device=device), settings)
    device = pipeline.device
    layout = DatasetLayout(Path(data), phase)
    kinds = classify_pairs(layout, read_pairs(layout), kind=pairs_kind)
    if not kinds.paired and not kinds.unpaired:
        raise ValueError(f"{data}: the {phase} split has no pairs to evaluate")
    resolution = pipeline.config.resolution
    with_unpaired = layout.unpaired_file.exists()
    shown, unshown = with_ground_truth(layout, kinds.unpaired)
    streams: list[tuple[Dataset, Callable[[TryOnPipeline, TryOnBatch], EvalBatch]]] = []
    if kinds.paired:
        paired = TryOnDataset(
            data, phase=phase, resolution=resolution, with_unpaired=with_unpaired, pairs=list(kinds.paired)
        )
        streams.append((paired, evaluation_batch))
    if shown:
        streams.append(
            (
                UnpairedGroundTruth(TryOnDataset(data, phase=phase, resolution=resolution, pairs=shown)),
                unpaired_evaluation_batch,
            )
        )
    if unshown:
        streams.append(
            (TryOnDataset(data, phase=phase, resolution=resolution, pairs=unshown), unpaired_evaluation_batch)
        )
    torch.manual_seed(seed)
    evaluator = Evaluator(weights=weights, device=device)
    total = len(kinds.paired) + len(kinds.unpaired)
    with progress_bar(total=total, desc="evaluate", unit="pair", enabled=progress) as bar:
        for dataset, scored in streams:
            for batch in DataLoader(dataset, batch_size=batch_size, collate_fn=collate):
                evaluator.add(scored(pipeline, batch.to(device)))
                bar.update(len(batch))
    result = evaluator.result()
    config = pipeline.config
    keep_photo = getattr(config, "keep_photo", True)  # settings written before it existed kept the photo
    details = {
        "checkpoint": str(checkpoint),
        "data": f"{data} ({phase} split, {total} pairs, {'with' if with_unpaired else 'no'} unpaired ground truth)",
        "pairs": (
            f"{len(kinds.paired)} paired (the garment the person wears: paired metrics against the photo), "
            f"{len(kinds.unpaired)} unpaired (another garment: {len(shown)} with synthetic ground truth, "
            f"{len(unshown)} scored only by metrics that need none); decided by {kinds.decided_by}"
        ),
        "model": f"preset {config.preset} at {config.resolution}, EMA weights"
        + "".join(f", {name}={value} (not the checkpoint's)" for name, value in settings.items()),
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


def _unpaired_fields(
    pipeline: TryOnPipeline,
    person: PersonRepresentation,
    batch: TryOnBatch,
    *,
    garment: Tensor,
    garment_mask: Tensor,
    radius: int,
) -> dict[str, Tensor]:
    """The EvalBatch fields of a try-on of `garment` (another than the person's), with the batch's
    unpaired ground truth and its changed region where it has one."""
    output = pipeline(person, garment, garment_mask)
    fields = {
        "unpaired_tryon": output.image,
        "unpaired_garment": garment,
        "unpaired_garment_mask": garment_mask,
    }
    if batch.unpaired_target is not None:
        fields["unpaired_target"] = batch.unpaired_target
        fields["unpaired_changed_region"] = unpaired_changed_region(
            batch.label, batch.image, batch.unpaired_target, radius=radius
        )
    return fields


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
        unpaired = _unpaired_fields(
            pipeline,
            person,
            batch,
            garment=batch.unpaired_garment,
            garment_mask=batch.unpaired_garment_mask,
            radius=radius,
        )
    return EvalBatch(
        names=batch.names,
        garment_names=batch.garment_names,
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


def unpaired_evaluation_batch(pipeline: TryOnPipeline, batch: TryOnBatch) -> EvalBatch:
    """A batch of unpaired pairs: `batch.garment` is not the one the person wears, so the try-on is
    an unpaired one (judged against `batch.unpaired_target` where the synthetic data has it) and
    nothing is judged against the photo: no paired try-on, layout or warp is scored."""
    radius = changed_radius(pipeline.config, batch.image.shape[-2])
    person = pipeline.represent(batch.image, batch.label, batch.keypoints)
    return EvalBatch(
        names=batch.names,
        garment_names=batch.garment_names,
        person=batch.image,
        label=batch.label,
        worn_mask=person.worn_garment,
        keypoints=batch.keypoints,
        changed_region=changed_region(batch.label, radius=radius),
        **_unpaired_fields(
            pipeline, person, batch, garment=batch.garment, garment_mask=batch.garment_mask, radius=radius
        ),
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
