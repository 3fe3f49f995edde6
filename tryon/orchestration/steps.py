"""The pipeline's steps as library functions: what each Kubeflow component calls, in order.

Each step reads its inputs from folders, writes its outputs into new folders (the artifacts the
orchestrator hands to the next step) and rebuilds its configuration from `RunSettings`, so a step
runs the same in a cluster pod, in kfp's local runner or in a test.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tryon.config import TRAINING_STAGES
from tryon.orchestration.cluster import DATA_MOUNT, MODELS_MOUNT
from tryon.orchestration.datasets import fetch_dataset
from tryon.orchestration.settings import RunSettings, resolve_params

UPLOAD_PHASES = ("train", "test")
UPLOAD_KINDS = ("garments", "persons")
"""An uploads folder holds PHASE/garments/ (laydown product photos) and PHASE/persons/ (NAME.jpg with
NAME_keypoints.json from OpenPose and NAME_parsing.png from a human parser) for the dataset's phases."""


PREVIEW_NAME = "preview.png"


class InvalidDataset(ValueError):
    """The dataset failed validation; the message lists every problem and the validator's summary."""


def synthesise(*, settings: RunSettings, out: Path) -> str:
    """Write the built-in synthetic dataset (the params' `synth` section, at the run's resolution)."""
    from tryon.data.synthetic import generate_dataset

    params = resolve_params(settings)
    summary = generate_dataset(
        Path(out),
        n_train=params.synth.n_train,
        n_test=params.synth.n_test,
        resolution=params.data.resolution,
        seed=params.synth.seed,
    )
    return f"{summary.n_train} train + {summary.n_test} test synthetic pairs at {summary.resolution}"


def fetch(*, uri: str, out: Path, endpoint_url: str = "") -> str:
    """Copy the dataset a URI names (local path, s3://, dvc://) into `out`."""
    fetch_dataset(uri, Path(out), endpoint_url=endpoint_url or None)
    return f"fetched {uri}"


def import_uploads(
    *,
    dataset: Path,
    uploads_uri: str,
    out: Path,
    settings: RunSettings,
    parser: str = "lip",
    endpoint_url: str = "",
) -> str:
    """Copy `dataset` to `out` and add the uploaded garments and persons (see UPLOAD_KINDS) to it.

    Garments are masked, centred and resized; persons are framed, resized, their keypoints mapped
    and their parsing maps remapped from `parser`'s labels (lip, cihp or atr). Any file that cannot
    be used fails the step, naming every refused file.
    """
    from tryon.data.garments import add_garments
    from tryon.data.persons import add_persons

    params = resolve_params(settings)
    out = Path(out)
    shutil.copytree(dataset, out)
    uploads = out.parent / f".{out.name}.uploads"
    shutil.rmtree(uploads, ignore_errors=True)
    fetch_dataset(uploads_uri, uploads, endpoint_url=endpoint_url or None)
    try:
        found = [
            (phase, kind)
            for phase in UPLOAD_PHASES
            for kind in UPLOAD_KINDS
            if (uploads / phase / kind).is_dir()
        ]
        if not found:
            expected = ", ".join(f"{phase}/{kind}/" for phase in UPLOAD_PHASES for kind in UPLOAD_KINDS)
            raise FileNotFoundError(f"uploads {uploads_uri} hold none of {expected}")
        lines = []
        for phase, kind in found:
            common = {
                "phase": phase,
                "resolution": params.data.resolution,
                "max_image_pixels": params.data.max_image_pixels,
            }
            if kind == "garments":
                report = add_garments(uploads / phase / kind, out, **common)
            else:
                report = add_persons(uploads / phase / kind, out, parser=parser, **common)
            if report.refused:
                raise InvalidDataset(
                    "\n".join([*map(str, report.refused), f"{phase}/{kind}: {report.summary()}"])
                )
            lines.append(f"{phase}: {report.summary()}")
        return "; ".join(lines)
    finally:
        shutil.rmtree(uploads, ignore_errors=True)


def validate(*, dataset: Path, settings: RunSettings, preview: Path) -> str:
    """Check the whole dataset at the run's resolution (InvalidDataset listing every problem) and
    write a preview sheet of training pairs to PREVIEW/preview.png."""
    from tryon.data.layout import DatasetLayout
    from tryon.data.preview import write_preview
    from tryon.data.validate import validate_dataset

    params = resolve_params(settings)
    report = validate_dataset(
        dataset, resolution=params.data.resolution, max_image_pixels=params.data.max_image_pixels
    )
    if not report.ok:
        raise InvalidDataset("\n".join([*map(str, report.problems), report.summary()]))
    Path(preview).mkdir(parents=True, exist_ok=True)
    write_preview(DatasetLayout(Path(dataset), "train"), Path(preview) / PREVIEW_NAME)
    return report.summary().removeprefix(f"{dataset}: ")


def train_stage(
    *, stage: str, dataset: Path, previous: Path | None, out: Path, settings: RunSettings
) -> Path:
    """Train one stage into the run folder `out` (OUT/{stage}/checkpoint.pt and its logs).

    A stage after the first starts from the previous stage's run folder `previous`; its checkpoint
    is linked (or copied) to OUT/{previous stage}/ so that `out` alone holds what the stage started
    from.
    """
    from tryon.train import stage_checkpoint, train

    if stage not in TRAINING_STAGES:
        raise ValueError(f"stage {stage!r} is not one of {TRAINING_STAGES}")
    index = TRAINING_STAGES.index(stage)
    out = Path(out)
    if index and previous is None:
        raise ValueError(f"stage {stage} starts from stage {TRAINING_STAGES[index - 1]}; pass its run folder")
    if index:
        earlier = TRAINING_STAGES[index - 1]
        source = stage_checkpoint(Path(previous), earlier)
        if not source.is_file():
            raise FileNotFoundError(f"{source}: stage {earlier}'s checkpoint is missing from {previous}")
        target = stage_checkpoint(out, earlier)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:  # a checkpoint is hundreds of MB; on one file system a link costs nothing
            os.link(source, target)
        except OSError:
            shutil.copy2(source, target)
    params = resolve_params(settings)
    return train(
        stage=stage,
        data_root=Path(dataset),
        out_dir=out,
        model_config=params.model,
        config=params.train,
        progress=False,
    )


RUNS_FOLDER = "pipeline-runs"
"""Folder on both claims where a distributed training step stages a run's dataset, settings and
training output (RUNS_FOLDER/RUN_ID/...), for the training job's pods to reach."""


def train_distributed(
    *,
    dataset: Path,
    outputs: dict[str, Path],  # stage -> model artifact folder, as train_stage writes them
    settings: RunSettings,
    run_id: str,  # unique per pipeline run; names the job and its folders
    image: str,  # the CUDA image for the job's pods
    workers: int,
    gpus_per_worker: int,
    data_root: Path = Path(DATA_MOUNT),  # where this step sees the data claim
    models_root: Path = Path(MODELS_MOUNT),  # where this step sees the models claim
    namespace: str | None = None,  # None: this pod's namespace
    api: object | None = None,  # Kubernetes custom-objects API; None: the pod's service account
    poll_seconds: float = 30.0,
) -> str:
    """Train every stage as one PyTorchJob (torchrun, `workers` pods x `gpus_per_worker` GPUs) and
    copy each stage's run folder into its model artifact.

    The dataset and the resolved params are staged on the claims the job's pods mount (the job
    mounts them at the same paths as this step); the job writes RUNS_FOLDER/RUN_ID/train there.
    """
    from tryon.orchestration import trainingjob
    from tryon.orchestration.pytorchjob import DNS_LABEL, TrainingJob
    from tryon.orchestration.settings import params_text

    name = f"tryon-{run_id}".lower()[:63].rstrip("-")
    if not DNS_LABEL.fullmatch(name):
        raise ValueError(f"run id {run_id!r} does not make a job name (a DNS label): {name!r}")
    staged_data = Path(data_root) / RUNS_FOLDER / run_id / "dataset"
    run_dir = Path(models_root) / RUNS_FOLDER / run_id
    if not staged_data.exists():  # a retried step reuses what an earlier attempt staged
        shutil.copytree(dataset, staged_data)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "params.yaml").write_text(params_text(settings))
    job = TrainingJob(
        name=name,
        image=image,
        workers=workers,
        gpus_per_worker=gpus_per_worker,
        data_path=f"{RUNS_FOLDER}/{run_id}/dataset",
        out_path=f"{RUNS_FOLDER}/{run_id}/train",
        params_path=f"{MODELS_MOUNT}/{RUNS_FOLDER}/{run_id}/params.yaml",
    )
    message = trainingjob.run_training_job(
        job=job,
        namespace=namespace or trainingjob.pod_namespace(),
        api=api if api is not None else trainingjob.in_cluster_api(),
        poll_seconds=poll_seconds,
    )
    for stage in TRAINING_STAGES:
        source = run_dir / "train" / stage
        if not (source / "checkpoint.pt").is_file():
            raise FileNotFoundError(f"{source}: the training job ended without stage {stage}'s checkpoint")
        shutil.copytree(source, Path(outputs[stage]) / stage)
    return f"{workers} x {gpus_per_worker} GPUs: {message or 'succeeded'}"


GATE_PASSED = "quality gate passed"
GATE_FAILED = "quality gate failed"
"""The evaluation step's verdict: the pipeline exports the model archive only on GATE_PASSED."""


@dataclass(frozen=True)
class EvaluationStep:
    """What the evaluation step found and wrote."""

    metrics: dict[
        str, float
    ]  # the overall metrics the gate compares (finite ones), for the orchestrator's UI
    gate_passed: bool
    summary: list[str]  # model against the naive baseline, then the gate's verdict and failures
    report_html: Path
    tryon_grid: Path

    @property
    def verdict(self) -> str:
        return GATE_PASSED if self.gate_passed else GATE_FAILED


def evaluate(
    *, dataset: Path, stages: Sequence[Path], out: Path, settings: RunSettings, baseline_metrics: str = ""
) -> EvaluationStep:
    """Evaluate the last stage's EMA weights on the test split, write the report into `out`, and run
    the quality gate.

    `stages` are the run folders of sgm, warp and fusion (their stats make the loss curves). With
    `baseline_metrics` (a metrics.json path) the gate fails on any metric that regressed by more
    than eval.max_regression; without it, on any compared metric that is missing or not finite.
    """
    from tryon.eval.run import check_against_baseline, evaluate_checkpoint, gate_metrics
    from tryon.eval.summary import headline
    from tryon.eval.weights import EvalWeights
    from tryon.train import stage_checkpoint

    if len(stages) != len(TRAINING_STAGES):
        raise ValueError(f"evaluate needs the run folders of {TRAINING_STAGES}, got {len(stages)}")
    params = resolve_params(settings)
    checkpoint = stage_checkpoint(Path(stages[-1]), TRAINING_STAGES[-1])
    stats = [
        stage_checkpoint(Path(folder), name).parent / "stats.jsonl"
        for folder, name in zip(stages, TRAINING_STAGES, strict=True)
    ]
    outcome = evaluate_checkpoint(
        checkpoint=checkpoint,
        data=Path(dataset),
        out_dir=Path(out),
        weights=EvalWeights(inception=params.eval.inception_weights),
        training_stats=[path for path in stats if path.is_file()],
    )
    metrics = outcome.result.metrics
    compared = gate_metrics(metrics)
    if baseline_metrics:
        gate = check_against_baseline(
            metrics, Path(baseline_metrics), max_regression=params.eval.max_regression
        )
    else:
        from tryon.eval.gate import compare_to_baseline

        gate = compare_to_baseline(compared, compared, max_regression=0.0)
    return EvaluationStep(
        metrics={key: float(value) for key, value in compared.items() if math.isfinite(value)},
        gate_passed=gate.passed,
        summary=[*headline(metrics), gate.summary()],
        report_html=outcome.paths.report_html,
        tryon_grid=outcome.paths.grids[-1],
    )


ARCHIVE_NAME = "tryon.mar"
"""The archive's file name in the export step's folder; TorchServe serves it as model `tryon`."""


def export(*, dataset: Path, model: Path, out: Path, settings: RunSettings, publish_dir: str = "") -> Path:
    """Make every test person of the dataset an avatar and write the model archive of the last
    stage's checkpoint to OUT/tryon.mar; with `publish_dir` (e.g. the model store on the models
    claim, which TorchServe serves from), also replace PUBLISH_DIR/tryon.mar atomically."""
    try:
        from tryon.serve.avatars import build_avatars
        from tryon.serve.export import export_archive
    except ImportError as error:
        raise RuntimeError(
            f"exporting a model archive needs tryon.serve ({error}); install the package with its serve extra"
        ) from error
    from tryon.atomic import atomic_path
    from tryon.checkpoint import load_checkpoint
    from tryon.train import stage_checkpoint

    params = resolve_params(settings)
    checkpoint = stage_checkpoint(Path(model), TRAINING_STAGES[-1])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    avatars = out / "avatars.pt"
    build_avatars(
        data_root=Path(dataset),
        out=avatars,
        config=load_checkpoint(checkpoint, mmap=True).model_config,
        max_image_pixels=params.data.max_image_pixels,
    )
    archive = export_archive(checkpoint=checkpoint, avatars=avatars, out=out / ARCHIVE_NAME)
    if publish_dir:
        with atomic_path(Path(publish_dir) / ARCHIVE_NAME) as staged:
            shutil.copyfile(archive, staged)
    return archive
