"""Submitting the compiled pipeline to a Kubeflow Pipelines endpoint with kfp.Client."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tryon.orchestration.settings import PipelineArguments


class SubmitFailed(RuntimeError):
    """The endpoint could not be reached or refused the run; the message says which and where."""


@dataclass(frozen=True)
class SubmittedRun:
    run_id: str
    url: str  # the run's page in the KFP UI


def submit_run(
    *,
    host: str,  # KFP API endpoint
    package: Path,  # compiled pipeline YAML
    arguments: PipelineArguments,
    experiment: str = "tryon",
    run_name: str | None = None,
    namespace: str | None = None,  # Kubeflow profile namespace on multi-user clusters
    token: str | None = None,  # bearer token; None: kfp.Client's own discovery (in-cluster, kubeconfig)
    service_account: str | None = None,  # Kubernetes service account of the run's pods (k8s/ RBAC)
    client_factory: Callable[..., Any] | None = None,  # kfp.Client by default
) -> SubmittedRun:
    """Start a run of `package` with `arguments` under `experiment` and return its id and page."""
    import kfp

    factory = client_factory or kfp.Client
    try:
        client = factory(host=host, existing_token=token, **({"namespace": namespace} if namespace else {}))
        result = client.create_run_from_pipeline_package(
            str(package),
            arguments=arguments.as_dict(),
            run_name=run_name,
            experiment_name=experiment,
            namespace=namespace,
            service_account=service_account,
        )
    except Exception as error:  # kfp raises API, connection and auth errors of several libraries
        raise SubmitFailed(f"{host}: {type(error).__name__}: {error}") from error
    return SubmittedRun(run_id=result.run_id, url=f"{host.rstrip('/')}/#/runs/details/{result.run_id}")
