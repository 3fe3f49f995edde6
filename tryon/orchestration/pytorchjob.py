"""Multi-GPU, multi-node training as a Kubeflow Training Operator PyTorchJob (kubeflow.org/v1).

The job runs `torchrun` in every pod: one Master and N - 1 Workers of G GPUs each. The operator
gives each pod PET_MASTER_ADDR and PET_MASTER_PORT; torchrun meets the others through a c10d
rendezvous on the Master (the job's name is the rendezvous id), so node ranks need not be assigned
by hand and a restarted pod rejoins. `tryon train` under torchrun is the DDP training of
tryon.train: every process calls it, rank 0 writes the run folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tryon.config import TRAINING_STAGES
from tryon.orchestration.cluster import (
    DATA_CLAIM,
    DATA_MOUNT,
    GPU_RESOURCE,
    MODELS_CLAIM,
    MODELS_MOUNT,
    PIPELINE_SERVICE_ACCOUNT,
)

API_VERSION = "kubeflow.org/v1"
CONTAINER_NAME = "pytorch"  # the operator finds the training container by this name
# The kubelet expands $(VAR) from the environment the operator gives each pod.
RENDEZVOUS_ENDPOINT = "$(PET_MASTER_ADDR):$(PET_MASTER_PORT)"
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


@dataclass(frozen=True)
class TrainingJob:
    """What a distributed training run needs; `manifest` turns it into a PyTorchJob."""

    name: str  # the job's name and rendezvous id: a DNS label
    image: str  # the tryon image (Dockerfile)
    workers: int = 1  # pods (nodes), the Master included
    gpus_per_worker: int = 1  # processes per pod, one per GPU
    data_path: str = "data"  # dataset root under the data PVC
    out_path: str = "runs/train"  # run folder under the models PVC
    stage: str = "all"  # sgm, warp, fusion or all
    params_path: str = "/opt/tryon/params.yaml"  # params.yaml inside the image (or a mounted ConfigMap)
    data_claim: str = DATA_CLAIM
    models_claim: str = MODELS_CLAIM
    service_account: str = PIPELINE_SERVICE_ACCOUNT
    cpu: str = "8"  # per pod
    memory: str = "32Gi"  # per pod
    shm_size: str = "8Gi"  # /dev/shm for DataLoader workers and NCCL
    namespace: str | None = None
    labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not DNS_LABEL.fullmatch(self.name):
            raise ValueError(f"job name {self.name!r} must be a DNS label: lowercase letters, digits and '-'")
        if self.workers < 1:
            raise ValueError(f"workers={self.workers} must be at least 1")
        if self.stage not in (*TRAINING_STAGES, "all"):
            raise ValueError(f"stage {self.stage!r} is not one of {(*TRAINING_STAGES, 'all')}")
        if self.gpus_per_worker < 1:
            raise ValueError(f"gpus_per_worker={self.gpus_per_worker} must be at least 1")

    @property
    def world_size(self) -> int:
        return self.workers * self.gpus_per_worker


def torchrun_command(job: TrainingJob) -> list[str]:
    """The command of every pod: torchrun with the c10d rendezvous, then `tryon train`."""
    return [
        "torchrun",
        f"--nnodes={job.workers}",
        f"--nproc_per_node={job.gpus_per_worker}",
        "--rdzv_backend=c10d",
        f"--rdzv_endpoint={RENDEZVOUS_ENDPOINT}",
        f"--rdzv_id={job.name}",
        "--max_restarts=3",
        "-m",
        "tryon.cli",
        "train",
        "--stage",
        job.stage,
        "--data",
        f"{DATA_MOUNT}/{job.data_path}",
        "--out",
        f"{MODELS_MOUNT}/{job.out_path}",
        "--params",
        job.params_path,
        "--resume",
        "--no-progress",
    ]


def manifest(job: TrainingJob) -> dict[str, Any]:
    """The PyTorchJob as a dict, ready for `yaml.safe_dump` and `kubectl apply -f -`."""
    replicas = {"Master": _replica(job, 1)}
    if job.workers > 1:
        replicas["Worker"] = _replica(job, job.workers - 1)
    metadata: dict[str, Any] = {
        "name": job.name,
        "labels": {"app.kubernetes.io/name": "tryon-train", **job.labels},
    }
    if job.namespace:
        metadata["namespace"] = job.namespace
    return {
        "apiVersion": API_VERSION,
        "kind": "PyTorchJob",
        "metadata": metadata,
        "spec": {
            "nprocPerNode": str(job.gpus_per_worker),
            "runPolicy": {"cleanPodPolicy": "None", "backoffLimit": 3},
            "pytorchReplicaSpecs": replicas,
        },
    }


def _replica(job: TrainingJob, count: int) -> dict[str, Any]:
    resources = {"cpu": job.cpu, "memory": job.memory, GPU_RESOURCE: str(job.gpus_per_worker)}
    container = {
        "name": CONTAINER_NAME,
        "image": job.image,
        "command": torchrun_command(job),
        "resources": {"requests": dict(resources), "limits": dict(resources)},
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [
            {"name": "data", "mountPath": DATA_MOUNT, "readOnly": True},
            {"name": "models", "mountPath": MODELS_MOUNT},
            {"name": "shm", "mountPath": "/dev/shm"},
        ],
    }
    return {
        "replicas": count,
        "restartPolicy": "OnFailure",
        "template": {
            "spec": {
                "serviceAccountName": job.service_account,
                "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "fsGroup": 1000},
                "containers": [container],
                "volumes": [
                    {
                        "name": "data",
                        "persistentVolumeClaim": {"claimName": job.data_claim, "readOnly": True},
                    },
                    {"name": "models", "persistentVolumeClaim": {"claimName": job.models_claim}},
                    {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": job.shm_size}},
                ],
            }
        },
    }
