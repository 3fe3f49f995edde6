"""The pipelines: each committed YAML is a fresh compile of its definition, and the compiled
definitions have the steps, conditions, cluster settings and parameters the product needs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tryon.orchestration.compiling import PIPELINES, compile_pipeline, compiled
from tryon.orchestration.settings import DistributedTraining, PipelineArguments, RunSettings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> Path:
    return compile_pipeline(repo=REPO, out=tmp_path_factory.mktemp("compiled") / "training.yaml")


@pytest.fixture(scope="module")
def documents(fresh) -> tuple[dict, dict]:
    spec, platform = yaml.safe_load_all(fresh.read_text())
    return spec, platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_each_committed_yaml_is_a_fresh_compile(name, fresh, tmp_path):
    again = fresh if name == "training" else compile_pipeline(repo=REPO, out=tmp_path / "x.yaml", name=name)
    assert (REPO / compiled(name)).read_text() == again.read_text(), (
        f"{compiled(name)} is stale: run `tryon pipeline compile` and commit the result"
    )


def test_compiling_twice_gives_the_same_bytes(fresh, tmp_path):
    assert compile_pipeline(repo=REPO, out=tmp_path / "again.yaml").read_bytes() == fresh.read_bytes()


def test_a_checkout_without_the_definition_or_an_unknown_pipeline_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="pipelines/training.py"):
        compile_pipeline(repo=tmp_path, out=tmp_path / "x.yaml")
    with pytest.raises(ValueError, match="not one of"):
        compile_pipeline(repo=REPO, out=tmp_path / "x.yaml", name="nightly")


def test_the_parameters_are_exactly_those_the_cli_passes(documents):
    spec, _ = documents
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    assert set(parameters) == set(PipelineArguments(settings=RunSettings()).as_dict())
    assert parameters["dataset_uri"]["defaultValue"] == PipelineArguments(settings=RunSettings()).dataset_uri


def executors_of(spec: dict, component: str) -> list[str]:
    return sorted(
        name for name in spec["deploymentSpec"]["executors"] if name.startswith(f"exec-{component}")
    )


def test_every_dataset_branch_runs_the_whole_chain_and_exports_only_past_the_gate(documents):
    spec, _ = documents
    # synthesised, fetched, fetched with uploads: three copies of validate .. export
    for component in ("validate", "evaluate", "export"):
        assert len(executors_of(spec, component)) == 3, component
    assert len(executors_of(spec, "train-stage")) == 9
    gates = [
        task["triggerPolicy"]["condition"]
        for component in spec["components"].values()
        for task in component.get("dag", {}).get("tasks", {}).values()
        if task["componentRef"]["name"].startswith("comp-condition") and "triggerPolicy" in task
    ]
    assert (
        sum("evaluate" in condition and "== 'quality gate passed'" in condition for condition in gates) == 3
    )


def test_training_tasks_ask_for_a_gpu_and_others_do_not(documents):
    spec, _ = documents
    for name, executor in spec["deploymentSpec"]["executors"].items():
        accelerator = executor["container"].get("resources", {}).get("accelerator")
        if name.startswith("exec-train-stage"):
            assert accelerator["resourceType"] == "nvidia.com/gpu"
            assert accelerator["resourceCount"] == "1"
        else:
            assert accelerator is None, name


def test_cluster_steps_mount_both_claims_and_read_s3_credentials_from_the_secret(documents):
    spec, platform = documents
    for name in spec["deploymentSpec"]["executors"]:
        if name.startswith(("exec-synthesise", "exec-validate")):
            assert name not in platform
            continue
        settings = platform[name]
        assert {(m["constant"], m["mountPath"]) for m in settings["pvcMount"]} == {
            ("tryon-data", "/mnt/data"),
            ("tryon-models", "/mnt/models"),
        }
        if name.startswith("exec-train-stage"):
            (shm,) = settings["emptyDirMounts"]
            assert (shm["mountPath"], shm["medium"]) == ("/dev/shm", "Memory")
            (toleration,) = settings["tolerations"]
            assert (toleration["key"], toleration["effect"]) == ("nvidia.com/gpu", "NoSchedule")
        else:
            assert "emptyDirMounts" not in settings and "tolerations" not in settings
        (secret,) = settings["secretAsEnv"]
        assert secret["secretName"] == "tryon-s3"
        assert {pair["envVar"] for pair in secret["keyToEnv"]} == {
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
        }


def test_every_step_is_cached_runs_our_image_and_only_calls_the_package(documents):
    spec, _ = documents
    tasks = [
        task
        for component in spec["components"].values()
        for task in component.get("dag", {}).get("tasks", {}).values()
    ]
    steps = [task for task in tasks if not task["componentRef"]["name"].startswith("comp-condition")]
    assert steps and all(task["cachingOptions"]["enableCache"] for task in steps)
    images = {executor["container"]["image"] for executor in spec["deploymentSpec"]["executors"].values()}
    from components.image import BASE_IMAGE

    assert images == {BASE_IMAGE}
    for executor in spec["deploymentSpec"]["executors"].values():
        command = " ".join(executor["container"]["command"])
        assert "pip install" not in command  # the image holds the package and kfp
        assert "from tryon.orchestration" in command


@pytest.fixture(scope="module")
def distributed_spec(tmp_path_factory) -> tuple[dict, dict]:
    path = compile_pipeline(repo=REPO, out=tmp_path_factory.mktemp("d") / "d.yaml", name="distributed")
    spec, platform = yaml.safe_load_all(path.read_text())
    return spec, platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]


def test_the_distributed_pipeline_takes_the_job_size_besides_the_training_parameters(distributed_spec):
    spec, _ = distributed_spec
    arguments = PipelineArguments(
        settings=RunSettings(), distributed=DistributedTraining(training_image="x:1")
    )
    assert set(spec["root"]["inputDefinitions"]["parameters"]) == set(arguments.as_dict())


def test_the_distributed_launcher_passes_the_run_id_and_needs_no_gpu(distributed_spec):
    spec, platform = distributed_spec
    launchers = [
        name for name in spec["deploymentSpec"]["executors"] if name.startswith("exec-train-distributed")
    ]
    assert len(launchers) == 3  # one per dataset branch
    assert not [name for name in spec["deploymentSpec"]["executors"] if name.startswith("exec-train-stage")]
    for name in launchers:
        assert "accelerator" not in spec["deploymentSpec"]["executors"][name]["container"].get(
            "resources", {}
        )
        assert {m["mountPath"] for m in platform[name]["pvcMount"]} == {"/mnt/data", "/mnt/models"}
    tasks = [
        task
        for component in spec["components"].values()
        for task in component.get("dag", {}).get("tasks", {}).values()
        if task["componentRef"]["name"].startswith("comp-train-distributed")
    ]
    assert tasks and all(
        task["inputs"]["parameters"]["run_id"]["runtimeValue"]["constant"] == "{{$.pipeline_job_uuid}}"
        for task in tasks
    )
