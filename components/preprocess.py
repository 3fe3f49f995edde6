"""Preprocess raw garment and person uploads into the dataset layout."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Output

from components.image import BASE_IMAGE


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def preprocess(
    source: Input[Dataset],
    dataset: Output[Dataset],
    uploads_uri: str,
    uploads_parser: str,
    s3_endpoint_url: str,
    params_yaml: str,
    resolution: str,
    preset: str,
    schedule: str,
    budget_minutes: float,
) -> str:
    """The source dataset with the uploads of `uploads_uri` (PHASE/garments/, PHASE/persons/) added."""
    from tryon.orchestration.settings import RunSettings
    from tryon.orchestration.steps import import_uploads

    settings = RunSettings(
        params_yaml=params_yaml,
        resolution=resolution,
        preset=preset,
        schedule=schedule,
        budget_minutes=budget_minutes,
    )
    return import_uploads(
        dataset=source.path,
        uploads_uri=uploads_uri,
        out=dataset.path,
        settings=settings,
        parser=uploads_parser,
        endpoint_url=s3_endpoint_url,
    )
