"""Train one ACGPN stage; a stage after the first starts from the previous stage's model."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Model, Output

from components.image import BASE_IMAGE


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def train_stage(
    stage: str,
    dataset: Input[Dataset],
    model: Output[Model],
    params_yaml: str,
    resolution: str,
    preset: str,
    schedule: str,
    budget_minutes: float,
    previous: Input[Model] = None,
) -> str:
    """Train `stage` (sgm, warp or fusion) into the model artifact (STAGE/checkpoint.pt and its logs)."""
    from tryon.orchestration.settings import RunSettings
    from tryon.orchestration.steps import train_stage as run

    settings = RunSettings(
        params_yaml=params_yaml,
        resolution=resolution,
        preset=preset,
        schedule=schedule,
        budget_minutes=budget_minutes,
    )
    checkpoint = run(
        stage=stage,
        dataset=dataset.path,
        previous=previous.path if previous else None,
        out=model.path,
        settings=settings,
    )
    return f"stage {stage}: {checkpoint.parent.name}/{checkpoint.name}"
