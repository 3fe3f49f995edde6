"""The training pipeline: dataset, validate, train sgm, warp and fusion, evaluate, and export when the
quality gate passes.

The same definition runs on a Kubeflow cluster (GPU pods, PVCs, S3 credentials from a Secret) and
on one machine with kfp's local runner (`tryon pipeline run --local`), which ignores the cluster
settings. kfp's local runner cannot pass an artifact out of one of several exclusive branches
(`dsl.OneOf`), so each way of getting the dataset (synthesised, fetched, fetched and preprocessed)
has its own branch holding the whole training chain; only one of them runs.

Compile with `tryon pipeline compile`; the compiled YAML beside this file is checked against a
fresh compile by the tests.
"""

from kfp import dsl, kubernetes

from components import evaluate, export, fetch, preprocess, synthesise, train_stage, validate
from tryon.config import TRAINING_STAGES
from tryon.orchestration.cluster import (
    DATA_CLAIM,
    DATA_MOUNT,
    GPU_RESOURCE,
    MODELS_CLAIM,
    MODELS_MOUNT,
    S3_KEYS,
    S3_SECRET,
)
from tryon.orchestration.settings import SYNTHETIC_DATASET
from tryon.orchestration.steps import GATE_PASSED

PIPELINE_NAME = "tryon-training"
SHM_SIZE = "8Gi"
GPUS_PER_TRAINING_TASK = 1  # more GPUs or nodes: the PyTorchJob of k8s/ (tryon pipeline pytorchjob)


def _on_cluster(task: dsl.PipelineTask, *, gpu: bool = False) -> dsl.PipelineTask:
    """Mount the data and models PVCs, read S3 credentials from the Secret, and for training ask for
    a GPU (tolerating GPU nodes' taint) with a shared-memory volume; kfp's local runner ignores all of it."""
    kubernetes.mount_pvc(task, pvc_name=DATA_CLAIM, mount_path=DATA_MOUNT)
    kubernetes.mount_pvc(task, pvc_name=MODELS_CLAIM, mount_path=MODELS_MOUNT)
    # Optional: a cluster that keeps its data on the PVC or synthesises it needs no S3 credentials.
    kubernetes.use_secret_as_env(
        task, secret_name=S3_SECRET, secret_key_to_env={key: key for key in S3_KEYS}, optional=True
    )
    if gpu:
        task.set_accelerator_type(GPU_RESOURCE).set_accelerator_limit(GPUS_PER_TRAINING_TASK)
        kubernetes.add_toleration(task, key=GPU_RESOURCE, operator="Exists", effect="NoSchedule")
        # DataLoader workers pass batches through shared memory; a container's default is 64 MiB.
        kubernetes.empty_dir_mount(
            task, volume_name="shm", mount_path="/dev/shm", medium="Memory", size_limit=SHM_SIZE
        )
    return task


def _train_and_release(dataset, settings: dict, baseline_metrics: str, publish_dir: str) -> None:
    """Validate, train the three stages, evaluate, and export when the gate passed."""
    checked = validate(dataset=dataset, **settings)
    models = {}
    previous = {}
    for stage in TRAINING_STAGES:
        task = train_stage(stage=stage, dataset=dataset, **previous, **settings).after(checked)
        models[stage] = _on_cluster(task, gpu=True).outputs["model"]
        previous = {"previous": models[stage]}
    scored = _on_cluster(evaluate(dataset=dataset, **models, baseline_metrics=baseline_metrics, **settings))
    with dsl.If(scored.outputs["Output"] == GATE_PASSED, name="quality-gate-passed"):
        _on_cluster(
            export(dataset=dataset, model=models[TRAINING_STAGES[-1]], publish_dir=publish_dir, **settings)
        )


@dsl.pipeline(
    name=PIPELINE_NAME, description="ACGPN virtual try-on: data, staged training, evaluation, model archive."
)
def training(
    dataset_uri: str = SYNTHETIC_DATASET,
    uploads_uri: str = "",
    uploads_parser: str = "lip",
    params_yaml: str = "",
    resolution: str = "",
    preset: str = "",
    schedule: str = "params",
    budget_minutes: float = 0.0,
    baseline_metrics: str = "",
    s3_endpoint_url: str = "",
    publish_dir: str = "",
) -> None:
    """Train and release a try-on model.

    dataset_uri: `synthetic`, a local path (e.g. /mnt/data/viton on the data PVC), s3://BUCKET/PREFIX
    or dvc://PATH?rev=REV&repo=URL. uploads_uri: a folder (same forms) of uploads to add to a fetched
    dataset: PHASE/garments/ photos and PHASE/persons/ photos with their OpenPose JSON and parsing
    maps from the human parser `uploads_parser` (lip, cihp or atr); empty for none. params_yaml: the text of a params.yaml;
    empty for the built-in defaults. resolution (HxW) and preset override the params. schedule:
    `params` (the params' stages) or `full` (ACGPN's full recipe). budget_minutes: total training
    time shared by the stages; 0 keeps their own budgets. baseline_metrics: a metrics.json the
    quality gate compares with; empty checks that every metric is present and finite.
    s3_endpoint_url: an S3-compatible store's endpoint; empty uses AWS_ENDPOINT_URL or AWS.
    publish_dir: where the export also puts tryon.mar, e.g. /mnt/models/store, the model store
    TorchServe serves from (k8s/); empty for the run's artifacts only.
    """
    settings = {
        "params_yaml": params_yaml,
        "resolution": resolution,
        "preset": preset,
        "schedule": schedule,
        "budget_minutes": budget_minutes,
    }
    with dsl.If(dataset_uri == SYNTHETIC_DATASET, name="synthetic-dataset"):
        _train_and_release(synthesise(**settings).outputs["dataset"], settings, baseline_metrics, publish_dir)
    with dsl.Else(name="fetched-dataset"):
        fetched = _on_cluster(fetch(uri=dataset_uri, s3_endpoint_url=s3_endpoint_url)).outputs["dataset"]
        with dsl.If(uploads_uri == "", name="as-fetched"):
            _train_and_release(fetched, settings, baseline_metrics, publish_dir)
        with dsl.Else(name="with-uploads"):
            prepared = preprocess(
                source=fetched,
                uploads_uri=uploads_uri,
                uploads_parser=uploads_parser,
                s3_endpoint_url=s3_endpoint_url,
                **settings,
            )
            _train_and_release(
                _on_cluster(prepared).outputs["dataset"], settings, baseline_metrics, publish_dir
            )
