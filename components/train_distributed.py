"""Train every stage as one Training Operator PyTorchJob on several GPUs and nodes."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Model, Output

from components.image import BASE_IMAGE


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def train_distributed(
    dataset: Input[Dataset],
    sgm: Output[Model],
    warp: Output[Model],
    fusion: Output[Model],
    run_id: str,
    training_image: str,
    workers: int,
    gpus_per_worker: int,
    params_yaml: str,
    resolution: str,
    preset: str,
    schedule: str,
    budget_minutes: float,
) -> str:
    """Launch the PyTorchJob, wait for it, and put each stage's run folder in its model artifact."""
    from tryon.orchestration.settings import RunSettings
    from tryon.orchestration.steps import train_distributed as run

    settings = RunSettings(
        params_yaml=params_yaml,
        resolution=resolution,
        preset=preset,
        schedule=schedule,
        budget_minutes=budget_minutes,
    )
    return run(
        dataset=dataset.path,
        outputs={"sgm": sgm.path, "warp": warp.path, "fusion": fusion.path},
        settings=settings,
        run_id=run_id,
        image=training_image,
        workers=workers,
        gpus_per_worker=gpus_per_worker,
    )
