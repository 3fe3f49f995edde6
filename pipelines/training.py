"""The training pipeline: dataset, validate, train sgm, warp and fusion (one GPU task each),
evaluate, and export when the quality gate passes.

The same definition runs on a Kubeflow cluster (GPU pods, PVCs, S3 credentials from a Secret) and
on one machine with kfp's local runner (`tryon pipeline run --local`), which ignores the cluster
settings. pipelines/distributed.py trains on several GPUs and nodes instead.

Compile with `tryon pipeline compile`; the compiled YAML beside this file is checked against a
fresh compile by the tests.
"""

from kfp import dsl

from components import train_stage
from pipelines.common import checked, each_dataset, on_cluster, release
from tryon.config import TRAINING_STAGES
from tryon.orchestration.settings import SYNTHETIC_DATASET

PIPELINE_NAME = "tryon-training"


def _train_and_release(dataset, settings: dict, baseline_metrics, publish_dir) -> None:
    """Validate, train the three stages one after the other, evaluate, and export past the gate."""
    validation = checked(dataset, settings)
    models = {}
    previous = {}
    for stage in TRAINING_STAGES:
        task = train_stage(stage=stage, dataset=dataset, **previous, **settings).after(validation)
        models[stage] = on_cluster(task, gpu=True).outputs["model"]
        previous = {"previous": models[stage]}
    release(dataset, models, settings, baseline_metrics, publish_dir)


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
    each_dataset(
        dataset_uri=dataset_uri,
        uploads_uri=uploads_uri,
        uploads_parser=uploads_parser,
        s3_endpoint_url=s3_endpoint_url,
        settings=settings,
        chain=lambda dataset: _train_and_release(dataset, settings, baseline_metrics, publish_dir),
    )
