"""Fetch the dataset a URI names: a local path (e.g. on the data PVC), s3:// or dvc://."""

from kfp import dsl
from kfp.dsl import Dataset, Output

from components.image import BASE_IMAGE


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def fetch(dataset: Output[Dataset], uri: str, s3_endpoint_url: str) -> str:
    """Copy the dataset at `uri` into the step's dataset artifact."""
    from tryon.orchestration.steps import fetch as run

    return run(uri=uri, out=dataset.path, endpoint_url=s3_endpoint_url)
