"""The training pipeline on several GPUs and nodes: as pipelines/training.py, with the three stages
trained by one Kubeflow Training Operator PyTorchJob (torchrun, N pods x G GPUs) that a step
launches and follows. It runs on a cluster only (`tryon pipeline submit --pipeline distributed`).
"""

from kfp import dsl

from components import train_distributed
from components.image import BASE_IMAGE
from pipelines.common import checked, each_dataset, on_cluster, release
from tryon.config import TRAINING_STAGES
from tryon.orchestration.settings import SYNTHETIC_DATASET

PIPELINE_NAME = "tryon-training-distributed"
CUDA_IMAGE = f"{BASE_IMAGE}-cuda"


@dsl.pipeline(
    name=PIPELINE_NAME,
    description="ACGPN virtual try-on trained by a PyTorchJob on N pods x G GPUs: data, training, evaluation, archive.",
)
def distributed(
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
    workers: int = 2,
    gpus_per_worker: int = 4,
    training_image: str = CUDA_IMAGE,
) -> None:
    """Train and release a try-on model on `workers` pods of `gpus_per_worker` GPUs (the training
    job's image is `training_image`); the other parameters are those of pipelines/training.py."""
    settings = {
        "params_yaml": params_yaml,
        "resolution": resolution,
        "preset": preset,
        "schedule": schedule,
        "budget_minutes": budget_minutes,
    }

    def chain(dataset) -> None:
        launcher = train_distributed(
            dataset=dataset,
            run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
            training_image=training_image,
            workers=workers,
            gpus_per_worker=gpus_per_worker,
            **settings,
        ).after(checked(dataset, settings))
        # The launcher needs no GPU: the job's pods have them.
        trained = on_cluster(launcher)
        models = {stage: trained.outputs[stage] for stage in TRAINING_STAGES}
        release(dataset, models, settings, baseline_metrics, publish_dir)

    each_dataset(
        dataset_uri=dataset_uri,
        uploads_uri=uploads_uri,
        uploads_parser=uploads_parser,
        s3_endpoint_url=s3_endpoint_url,
        settings=settings,
        chain=chain,
    )
