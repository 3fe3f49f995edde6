"""Validate the whole dataset before any training starts."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Output

from components.image import BASE_IMAGE


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def validate(
    dataset: Input[Dataset],
    preview: Output[Artifact],
    params_yaml: str,
    resolution: str,
    preset: str,
    schedule: str,
    budget_minutes: float,
) -> str:
    """Fail listing every problem with its file; otherwise write PREVIEW/preview.png, a sheet of training pairs."""
    from tryon.orchestration.settings import RunSettings
    from tryon.orchestration.steps import validate as run

    settings = RunSettings(
        params_yaml=params_yaml,
        resolution=resolution,
        preset=preset,
        schedule=schedule,
        budget_minutes=budget_minutes,
    )
    return run(dataset=dataset.path, settings=settings, preview=preview.path)
