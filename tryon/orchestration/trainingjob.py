"""Launching a PyTorchJob from a pipeline step and following it to its end.

The step creates the job through the Kubernetes API (the pod's service account, `tryon-pipeline`,
may create and watch PyTorchJobs) and polls its conditions: the Training Operator sets `Succeeded`
or `Failed` when the job ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tryon.orchestration.pytorchjob import API_VERSION, TrainingJob, manifest

GROUP, VERSION = API_VERSION.split("/")
PLURAL = "pytorchjobs"


class TrainingJobFailed(RuntimeError):
    """The job failed or did not end in time; the message names it and says why."""


def in_cluster_api() -> Any:
    """The Kubernetes custom-objects API with the pod's own service account."""
    from kubernetes import client, config

    config.load_incluster_config()
    return client.CustomObjectsApi()


SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def pod_namespace() -> str:
    """The namespace this pod runs in, from its service account's files."""
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip()
    except OSError as error:
        raise TrainingJobFailed(
            f"cannot tell this pod's namespace ({error}); a training job is launched from a pod in the cluster"
        ) from None


def run_training_job(
    *,
    job: TrainingJob,
    namespace: str,
    api: Any,  # kubernetes.client.CustomObjectsApi or an object with its two methods used here
    poll_seconds: float = 30.0,
    timeout_seconds: float | None = None,  # None: wait as long as the job runs
    log: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> str:
    """Create the PyTorchJob and wait for it; return its final condition's message.

    Raises TrainingJobFailed when the operator marks it Failed or when `timeout_seconds` pass first.
    """
    body = manifest(job)
    body["metadata"]["namespace"] = namespace
    api.create_namespaced_custom_object(
        group=GROUP, version=VERSION, namespace=namespace, plural=PLURAL, body=body
    )
    log(f"PyTorchJob {namespace}/{job.name}: {job.workers} pod(s) x {job.gpus_per_worker} GPU(s) created")
    started = clock()
    seen = None
    while True:
        current = api.get_namespaced_custom_object(
            group=GROUP, version=VERSION, namespace=namespace, plural=PLURAL, name=job.name
        )
        condition = latest_condition(current)
        if condition and condition.get("type") != seen:
            seen = condition.get("type")
            log(f"PyTorchJob {job.name}: {seen} {condition.get('message', '')}".rstrip())
        if condition and condition.get("type") == "Succeeded":
            return condition.get("message", "")
        if condition and condition.get("type") == "Failed":
            raise TrainingJobFailed(
                f"PyTorchJob {namespace}/{job.name} failed: {condition.get('message', 'no message')}; "
                f"see `kubectl -n {namespace} logs -l training.kubeflow.org/job-name={job.name}`"
            )
        if timeout_seconds is not None and clock() - started > timeout_seconds:
            raise TrainingJobFailed(
                f"PyTorchJob {namespace}/{job.name} did not end within {timeout_seconds:.0f} s "
                f"(last condition: {seen or 'none'}); it is left running for inspection"
            )
        sleep(poll_seconds)


def latest_condition(job: dict) -> dict | None:
    """The job's newest condition whose status is True (the operator appends them in order)."""
    conditions = [c for c in job.get("status", {}).get("conditions", []) if c.get("status") == "True"]
    return conditions[-1] if conditions else None
