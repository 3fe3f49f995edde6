"""PyTorchJob manifests for N pods x G GPUs: torchrun's rendezvous, replicas, resources and volumes,
checked against the CRD subset kept in k8s/schemas and, for the pod template, the core/v1 schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest

from tryon.orchestration.pytorchjob import TrainingJob, manifest, torchrun_command

REPO = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((REPO / "k8s" / "schemas" / "pytorchjob.schema.json").read_text())
KUBERNETES = "1.32.0"
IMAGE = "registry.example.com/tryon:1.0"


def job(**overrides) -> TrainingJob:
    return TrainingJob(**{"name": "tryon-train", "image": IMAGE, **overrides})


def option(command: list[str], name: str) -> str:
    (value,) = [part.split("=", 1)[1] for part in command if part.startswith(f"--{name}=")]
    return value


def test_four_pods_of_two_gpus_run_torchrun_with_a_c10d_rendezvous_on_the_master():
    document = manifest(
        job(workers=4, gpus_per_worker=2, data_path="viton", out_path="runs/r1", stage="warp")
    )
    jsonschema.validate(document, SCHEMA)
    specs = document["spec"]["pytorchReplicaSpecs"]
    assert (specs["Master"]["replicas"], specs["Worker"]["replicas"]) == (1, 3)
    assert document["spec"]["nprocPerNode"] == "2"
    for replica in specs.values():
        (container,) = replica["template"]["spec"]["containers"]
        assert container["name"] == "pytorch" and container["image"] == IMAGE
        command = container["command"]
        assert command[0] == "torchrun"
        assert option(command, "nnodes") == "4"
        assert option(command, "nproc_per_node") == "2"
        assert option(command, "rdzv_backend") == "c10d"
        assert option(command, "rdzv_endpoint") == "$(PET_MASTER_ADDR):$(PET_MASTER_PORT)"
        assert option(command, "rdzv_id") == "tryon-train"
        training = command[command.index("-m") + 1 :]
        assert training[:2] == ["tryon.cli", "train"]
        assert training[training.index("--stage") + 1] == "warp"
        assert training[training.index("--data") + 1] == "/mnt/data/viton"
        assert training[training.index("--out") + 1] == "/mnt/models/runs/r1"
        assert "--resume" in training  # a restarted pod continues from the last checkpoint
        limits = container["resources"]["limits"]
        assert limits["nvidia.com/gpu"] == "2" and container["resources"]["requests"] == limits


def test_one_pod_has_a_master_only():
    document = manifest(job())
    jsonschema.validate(document, SCHEMA)
    assert list(document["spec"]["pytorchReplicaSpecs"]) == ["Master"]
    assert option(torchrun_command(job()), "nnodes") == "1"


def test_the_pod_template_is_a_valid_non_root_pod_with_both_claims():
    replica = manifest(job(workers=2))["spec"]["pytorchReplicaSpecs"]["Worker"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "worker"},
        "spec": replica["template"]["spec"],
    }
    kubernetes_validate.validate(pod, KUBERNETES, strict=True)
    spec = pod["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    claims = {
        volume["persistentVolumeClaim"]["claimName"]
        for volume in spec["volumes"]
        if "persistentVolumeClaim" in volume
    }
    assert claims == {"tryon-data", "tryon-models"}


def test_the_schema_catches_a_misspelt_field():
    document = manifest(job())
    document["spec"]["pytorchReplicaSpec"] = document["spec"].pop("pytorchReplicaSpecs")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, SCHEMA)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"name": "Tryon_Train"}, "DNS label"),
        ({"workers": 0}, "workers"),
        ({"gpus_per_worker": 0}, "gpus_per_worker"),
        ({"stage": "refine"}, "stage"),
    ],
)
def test_impossible_jobs_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        job(**overrides)


@pytest.mark.slow
def test_the_generated_command_trains_under_torchrun_as_the_operator_would_start_it(tmp_path):
    """The master pod's command, run here with two CPU processes: the kubelet's $(VAR) expansion of
    the operator's PET_MASTER_ADDR and PET_MASTER_PORT done by hand, the claims replaced by folders."""
    import socket
    import subprocess
    import sys

    from tests.helpers import TINY
    from tryon.data.synthetic import generate_dataset

    generate_dataset(
        tmp_path / "claims" / "data" / "set", n_train=4, n_test=2, resolution=TINY, seed=0, workers=1
    )
    params = tmp_path / "params.yaml"
    params.write_text(
        f"data: {{resolution: {TINY}}}\n"
        "model: {base_width: 4, max_width: 16, depth: 4, disc_width: 4, tps_width: 2, tps_levels: 3, tps_hidden: 8}\n"
        "train:\n  stages: {sgm: {max_steps: 1}, warp: {max_steps: 1}, fusion: {max_steps: 1}}\n"
        "  batch_size: 2\n  workers: 0\n  log_interval: 1\n"
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = torchrun_command(
        job(workers=1, gpus_per_worker=2, data_path="set", out_path="runs/r", params_path=str(params))
    )
    expanded = [
        part.replace("$(PET_MASTER_ADDR)", "127.0.0.1")
        .replace("$(PET_MASTER_PORT)", str(port))
        .replace("/mnt/data", str(tmp_path / "claims" / "data"))
        .replace("/mnt/models", str(tmp_path / "claims" / "models"))
        for part in command
    ]
    expanded[0] = str(Path(sys.executable).with_name("torchrun"))
    result = subprocess.run(expanded, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    run = tmp_path / "claims" / "models" / "runs" / "r"
    assert all((run / stage / "checkpoint.pt").is_file() for stage in ("sgm", "warp", "fusion"))
    assert json.loads((run / "sgm" / "options.json").read_text())["world_size"] == 2
