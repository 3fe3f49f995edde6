"""Export the model archive (.mar) for TorchServe, with the dataset's test people as avatars."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Model, Output

from components.image import BASE_IMAGE


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def export(
    dataset: Input[Dataset],
    model: Input[Model],
    archive: Output[Model],
    params_yaml: str,
    resolution: str,
    preset: str,
    schedule: str,
    budget_minutes: float,
    publish_dir: str,
) -> str:
    """Write ARCHIVE/tryon.mar from the fusion stage's model artifact, and PUBLISH_DIR/tryon.mar if given."""
    from tryon.orchestration.settings import RunSettings
    from tryon.orchestration.steps import export as run

    settings = RunSettings(
        params_yaml=params_yaml,
        resolution=resolution,
        preset=preset,
        schedule=schedule,
        budget_minutes=budget_minutes,
    )
    return run(
        dataset=dataset.path, model=model.path, out=archive.path, settings=settings, publish_dir=publish_dir
    ).name
