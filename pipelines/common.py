"""What the training pipelines share: the cluster settings of a task, the dataset branches, and the
evaluation with the export behind the quality gate.

kfp's local runner cannot pass an artifact out of one of several exclusive branches (`dsl.OneOf`),
so each way of getting the dataset (synthesised, fetched, fetched and preprocessed) gets its own
branch holding the whole chain; only one of them runs.
"""

from collections.abc import Callable

from kfp import dsl, kubernetes

from components import evaluate, export, fetch, preprocess, synthesise, validate
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

SHM_SIZE = "8Gi"
GPUS_PER_TRAINING_TASK = 1  # more GPUs or nodes: pipelines/distributed.py


def on_cluster(task: dsl.PipelineTask, *, gpu: bool = False) -> dsl.PipelineTask:
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


def each_dataset(
    *,
    dataset_uri,
    uploads_uri,
    uploads_parser,
    s3_endpoint_url,
    settings: dict,
    chain: Callable[[object], None],  # builds the rest of the pipeline on the dataset artifact
) -> None:
    """Get the dataset (synthesise it, or fetch it and add uploads when given) and run `chain` on it."""
    with dsl.If(dataset_uri == SYNTHETIC_DATASET, name="synthetic-dataset"):
        chain(synthesise(**settings).outputs["dataset"])
    with dsl.Else(name="fetched-dataset"):
        fetched = on_cluster(fetch(uri=dataset_uri, s3_endpoint_url=s3_endpoint_url)).outputs["dataset"]
        with dsl.If(uploads_uri == "", name="as-fetched"):
            chain(fetched)
        with dsl.Else(name="with-uploads"):
            prepared = preprocess(
                source=fetched,
                uploads_uri=uploads_uri,
                uploads_parser=uploads_parser,
                s3_endpoint_url=s3_endpoint_url,
                **settings,
            )
            chain(on_cluster(prepared).outputs["dataset"])


def checked(dataset, settings: dict) -> dsl.PipelineTask:
    """The validation every training waits for."""
    return validate(dataset=dataset, **settings)


def release(dataset, models: dict, settings: dict, baseline_metrics, publish_dir) -> None:
    """Evaluate the stages' models and export the archive when the quality gate passed."""
    scored = on_cluster(evaluate(dataset=dataset, **models, baseline_metrics=baseline_metrics, **settings))
    with dsl.If(scored.outputs["Output"] == GATE_PASSED, name="quality-gate-passed"):
        on_cluster(
            export(dataset=dataset, model=models[TRAINING_STAGES[-1]], publish_dir=publish_dir, **settings)
        )
