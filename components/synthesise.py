"""Synthesise the built-in dataset: the local default's data."""

from kfp import dsl
from kfp.dsl import Dataset, Output

from components.image import BASE_IMAGE


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def synthesise(
    dataset: Output[Dataset],
    params_yaml: str,
    resolution: str,
    preset: str,
    schedule: str,
    budget_minutes: float,
) -> str:
    """Write the synthetic dataset of the params' `synth` section at the run's resolution."""
    from tryon.orchestration.settings import RunSettings
    from tryon.orchestration.steps import synthesise as run

    settings = RunSettings(
        params_yaml=params_yaml,
        resolution=resolution,
        preset=preset,
        schedule=schedule,
        budget_minutes=budget_minutes,
    )
    return run(settings=settings, out=dataset.path)
