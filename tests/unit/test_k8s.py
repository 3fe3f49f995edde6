"""k8s/: every kustomization renders with `kubectl kustomize`; core kinds pass kubernetes-validate in
strict mode; the PyTorchJob passes the CRD subset in k8s/schemas; and the settings the product relies
on (non-root, read-only root, the gateway as the only inference entry, token auth with keys that
outlive the pod and probes that work with it, management API on 127.0.0.1 only, Secrets by name
only) hold in every overlay."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from components.image import BASE_IMAGE
from tryon.orchestration.cluster import DATA_CLAIM, MODELS_CLAIM, PIPELINE_SERVICE_ACCOUNT, S3_SECRET
from tryon.orchestration.pytorchjob import TrainingJob, manifest

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"
KUBERNETES = "1.32.0"
OVERLAYS = ("overlays/dev", "overlays/gpu")
KUSTOMIZATIONS = (*OVERLAYS, "base", "training")
STOREFRONT_KEYS_SECRET = "tryon-serve-keys"  # k8s/README.md says how to create it
SCHEMAS = {"PyTorchJob": json.loads((K8S / "schemas" / "pytorchjob.schema.json").read_text())}
KUBECTL = shutil.which("kubectl")

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl (with kustomize) is not installed")


def render(kustomization: str) -> list[dict]:
    result = subprocess.run(
        [KUBECTL, "kustomize", str(K8S / kustomization)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [document for document in yaml.safe_load_all(result.stdout) if document]


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict]]:
    return {kustomization: render(kustomization) for kustomization in KUSTOMIZATIONS}


def one(documents: list[dict], kind: str, name: str | None = None) -> dict:
    (found,) = [d for d in documents if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    return found


def containers(documents: list[dict]) -> dict[str, dict]:
    """The serving pod's containers by name."""
    pod = one(documents, "Deployment")["spec"]["template"]["spec"]
    return {container["name"]: container for container in pod["containers"]}


def torchserve_properties(documents: list[dict]) -> dict[str, str]:
    return dict(
        line.split("=", 1)
        for line in one(documents, "ConfigMap")["data"]["config.properties"].splitlines()
        if line and not line.startswith("#")
    )


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_every_object_is_valid_for_its_schema(rendered, kustomization):
    documents = rendered[kustomization]
    assert documents
    for document in documents:
        if document["kind"] in SCHEMAS:
            jsonschema.validate(document, SCHEMAS[document["kind"]])
        else:
            kubernetes_validate.validate(document, KUBERNETES, strict=True)


def test_strict_validation_catches_a_misspelt_field(rendered):
    deployment = one(rendered["overlays/dev"], "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFilesytem"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_server_runs_non_root_on_a_read_only_root_with_writable_empty_dirs(rendered, overlay):
    pod = one(rendered[overlay], "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert pod["automountServiceAccountToken"] is False
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    served = containers(rendered[overlay])
    assert set(served) == {"torchserve", "gateway"}
    for container in served.values():
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        assert container["resources"]["requests"] and container["resources"]["limits"]
    torchserve = served["torchserve"]
    writable = {m["mountPath"] for m in torchserve["volumeMounts"] if not m.get("readOnly")}
    assert writable == {"/tmp", "/var/log/torchserve", "/var/run/torchserve"}
    for mount in torchserve["volumeMounts"]:
        if mount["mountPath"] in writable:
            assert "emptyDir" in volumes[mount["name"]]
    assert all(mount.get("readOnly") for mount in served["gateway"]["volumeMounts"])
    assert torchserve["workingDir"] == "/var/run/torchserve"  # where TorchServe writes its key file
    assert volumes["models"]["persistentVolumeClaim"]["claimName"] == "tryon-models"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_gateway_is_the_only_inference_entry_and_the_probes_work_with_token_auth(rendered, overlay):
    documents = rendered[overlay]
    properties = torchserve_properties(documents)
    served = containers(documents)
    torchserve, gateway = served["torchserve"], served["gateway"]
    assert properties["disable_token_authorization"] == "false"
    # TorchServe's default key expiry (60 min) would fail the readiness probe an hour after the start.
    assert float(properties["token_expiration_min"]) >= 365 * 24 * 60
    # TorchServe's inference API is reachable inside the pod only, where the gateway forwards to it.
    assert properties["inference_address"].startswith("http://127.0.0.1:")
    assert gateway["command"][:3] == ["python", "-m", "tryon.serve.gateway"]
    assert option(gateway["command"], "--upstream") == properties["inference_address"]
    service_ports = {port["name"]: port for port in one(documents, "Service")["spec"]["ports"]}
    gateway_ports = {port["name"]: port["containerPort"] for port in gateway["ports"]}
    assert service_ports["inference"]["targetPort"] == "inference"
    assert option(gateway["command"], "--listen") == f"0.0.0.0:{gateway_ports['inference']}"
    assert "inference" not in {port["name"] for port in torchserve["ports"]}
    assert int(properties["inference_address"].rsplit(":", 1)[1]) not in {p["port"] for p in service_ports.values()}
    # The gateway reads TorchServe's key file from the shared folder and the storefront keys from a Secret.
    volumes = {volume["name"]: volume for volume in one(documents, "Deployment")["spec"]["template"]["spec"]["volumes"]}
    mounts = {mount["mountPath"]: mount["name"] for mount in gateway["volumeMounts"]}
    assert option(gateway["command"], "--key-file") == f"{torchserve['workingDir']}/key_file.json"
    assert mounts[torchserve["workingDir"]] == "workdir"
    keys = Path(option(gateway["command"], "--client-keys"))
    assert volumes[mounts[str(keys.parent)]]["secret"]["secretName"] == STOREFRONT_KEYS_SECRET
    assert gateway["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "inference"}
    assert "readinessProbe" not in torchserve  # the gateway's /healthz asks TorchServe's /ping
    torchserve_ports = {port["name"]: port["containerPort"] for port in torchserve["ports"]}
    for probe in ("livenessProbe", "startupProbe"):
        assert torchserve[probe]["httpGet"] == {"path": "/metrics", "port": "metrics"}  # needs no key
    assert properties["metrics_address"].endswith(f":{torchserve_ports['metrics']}")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_management_api_and_model_urls_stay_inside_the_pod(rendered, overlay):
    documents = rendered[overlay]
    properties = torchserve_properties(documents)
    assert properties["management_address"].startswith("http://127.0.0.1:")
    assert properties["grpc_inference_address"] == properties["grpc_management_address"] == "127.0.0.1"
    assert properties["enable_model_api"] == "false"
    assert properties["allowed_urls"].startswith(f"file://{properties['model_store']}/")
    assert properties["metrics_mode"] == "prometheus"
    service_ports = {port["port"] for port in one(documents, "Service")["spec"]["ports"]}
    assert int(properties["management_address"].rsplit(":", 1)[1]) not in service_ports


def test_the_gpu_overlay_asks_for_gpus_and_the_dev_overlay_does_not(rendered):
    for overlay, gpus in (("overlays/gpu", "1"), ("overlays/dev", None)):
        served = containers(rendered[overlay])
        assert served["torchserve"]["resources"]["limits"].get("nvidia.com/gpu") == gpus
        assert "nvidia.com/gpu" not in served["gateway"]["resources"]["limits"]
    assert one(rendered["overlays/gpu"], "Deployment")["metadata"]["namespace"] == "tryon"


def test_secrets_are_referenced_by_name_and_never_committed(rendered):
    for documents in rendered.values():
        assert not [d for d in documents if d["kind"] == "Secret"]
    role = one(rendered["base"], "Role", "tryon-pipeline")
    (secrets,) = [rule for rule in role["rules"] if "secrets" in rule["resources"]]
    assert secrets["resourceNames"] == [S3_SECRET] and secrets["verbs"] == ["get"]
    binding = one(rendered["base"], "RoleBinding")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": PIPELINE_SERVICE_ACCOUNT}]


def test_the_claims_are_the_ones_the_pipeline_mounts(rendered):
    claims = {d["metadata"]["name"] for d in rendered["base"] if d["kind"] == "PersistentVolumeClaim"}
    assert claims == {DATA_CLAIM, MODELS_CLAIM}


def test_the_committed_training_job_is_what_the_generator_writes(rendered):
    committed = yaml.safe_load((K8S / "training" / "pytorchjob.yaml").read_text())
    generated = manifest(
        TrainingJob(
            name="tryon-train",
            image=f"{BASE_IMAGE}-cuda",
            workers=2,
            gpus_per_worker=4,
            data_path="data",
            out_path="runs/train",
        )
    )
    assert committed == generated
    job = one(rendered["training"], "PyTorchJob")
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "master"}}
    pod["spec"] = job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]
    kubernetes_validate.validate(pod, KUBERNETES, strict=True)


def test_every_image_is_the_components_image(rendered):
    for kustomization, documents in rendered.items():
        for document in documents:
            spec = document.get("spec", {})
            templates = [spec.get("template", {})] + [
                r["template"] for r in spec.get("pytorchReplicaSpecs", {}).values()
            ]
            for template in templates:
                for container in template.get("spec", {}).get("containers", []):
                    assert container["image"].startswith(BASE_IMAGE), (kustomization, container["image"])


def test_the_cluster_config_keeps_the_local_templates_keys_and_serving_limits():
    def keys(text: str) -> dict[str, str]:
        return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))

    from tryon.serve.local import MAX_REQUEST_BYTES
    from tryon.serve.requests import ServeLimits

    template = keys((REPO / "serving" / "config.properties").read_text())
    cluster = keys((K8S / "base" / "torchserve" / "config.properties").read_text())
    # The local server appends its registration (load_models, models) to the template.
    assert set(cluster) == set(template) | {"load_models", "models"}
    for fixed in ("enable_model_api", "metrics_mode", "install_py_dep_per_model"):
        assert cluster[fixed] == template[fixed], fixed
    # TorchServe answers oversized bodies itself; ours must be refused first, with our JSON message.
    assert int(cluster["max_request_size"]) == MAX_REQUEST_BYTES > ServeLimits().max_body_bytes
