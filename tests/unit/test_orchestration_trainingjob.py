"""Launching the PyTorchJob from a pipeline step: the job created through the Kubernetes API, its
conditions followed to the end, and the distributed training step staging data and settings on the
claims and collecting the stages' run folders (a fake API plays the Training Operator)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from tryon.config import load_params
from tryon.orchestration.pytorchjob import TrainingJob
from tryon.orchestration.settings import RunSettings, resolve_params
from tryon.orchestration.steps import RUNS_FOLDER, train_distributed
from tryon.orchestration.trainingjob import TrainingJobFailed, run_training_job

REPO = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((REPO / "k8s" / "schemas" / "pytorchjob.schema.json").read_text())


class FakeOperator:
    """Answers `get` with the next status of `states`, the last one for ever; `on_create` plays the job."""

    def __init__(self, states: list[str], on_create=None, message: str = ""):
        self.states = list(states)
        self.message = message
        self.on_create = on_create
        self.created: list[dict] = []

    def create_namespaced_custom_object(self, *, group, version, namespace, plural, body):
        assert (group, version, plural) == ("kubeflow.org", "v1", "pytorchjobs")
        assert body["metadata"]["namespace"] == namespace
        self.created.append(body)
        if self.on_create:
            self.on_create(body)

    def get_namespaced_custom_object(self, *, group, version, namespace, plural, name):
        assert name == self.created[-1]["metadata"]["name"]
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        conditions = [{"type": "Created", "status": "True"}]
        if state != "Created":
            conditions.append({"type": state, "status": "True", "message": self.message})
        return {"status": {"conditions": conditions}}


def job() -> TrainingJob:
    return TrainingJob(name="tryon-run-1", image="tryon:cuda", workers=2, gpus_per_worker=4)


def test_the_job_is_created_and_followed_until_it_succeeds():
    api = FakeOperator(
        ["Created", "Running", "Running", "Succeeded"],
        message="PyTorchJob tryon-run-1 is successfully completed.",
    )
    lines, sleeps = [], []
    message = run_training_job(
        job=job(), namespace="tryon", api=api, log=lines.append, sleep=sleeps.append, poll_seconds=7
    )
    (body,) = api.created
    jsonschema.validate(body, SCHEMA)
    assert body["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] == 1
    assert message == "PyTorchJob tryon-run-1 is successfully completed."
    assert sleeps == [7, 7, 7]
    assert [line.split(":")[1].split()[0] for line in lines] == ["2", "Created", "Running", "Succeeded"]


def test_a_failed_job_fails_the_step_saying_where_its_logs_are():
    api = FakeOperator(["Running", "Failed"], message="pod tryon-run-1-worker-0 OOMKilled")
    with pytest.raises(
        TrainingJobFailed, match=r"tryon/tryon-run-1 failed: pod tryon-run-1-worker-0 OOMKilled.*kubectl"
    ):
        run_training_job(job=job(), namespace="tryon", api=api, log=lambda line: None, sleep=lambda s: None)


def test_a_job_that_does_not_end_in_time_fails_the_step():
    now = iter(range(0, 10_000, 60))
    api = FakeOperator(["Running"])
    with pytest.raises(TrainingJobFailed, match="did not end within 300 s"):
        run_training_job(
            job=job(),
            namespace="tryon",
            api=api,
            timeout_seconds=300,
            log=lambda line: None,
            sleep=lambda s: None,
            clock=lambda: next(now),
        )


def test_params_text_is_what_the_steps_resolve(tmp_path):
    settings = RunSettings(
        params_yaml=(REPO / "params.yaml").read_text(),
        resolution="256x192",
        schedule="params",
        budget_minutes=30,
    )
    from tryon.orchestration.settings import params_text

    path = tmp_path / "params.yaml"
    path.write_text(params_text(settings))
    assert load_params(path) == resolve_params(settings)
    full = RunSettings(schedule="full", preset="original")
    path.write_text(params_text(full))
    assert load_params(path) == resolve_params(full)


def test_the_distributed_step_stages_the_run_and_collects_every_stage(tmp_path, tiny_dataset):
    data_root, models_root = tmp_path / "data-claim", tmp_path / "models-claim"
    settings = RunSettings(resolution="64x48", budget_minutes=10)

    def train_on_the_claims(body):
        (container,) = body["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"]
        command = container["command"]
        data = command[command.index("--data") + 1].replace("/mnt/data", str(data_root))
        out = Path(command[command.index("--out") + 1].replace("/mnt/models", str(models_root)))
        params = Path(command[command.index("--params") + 1].replace("/mnt/models", str(models_root)))
        assert (Path(data) / "train_pairs.txt").is_file()
        assert load_params(params) == resolve_params(settings)
        for stage in ("sgm", "warp", "fusion"):
            (out / stage).mkdir(parents=True)
            (out / stage / "checkpoint.pt").write_bytes(stage.encode())
            (out / stage / "stats.jsonl").write_text("{}\n")

    api = FakeOperator(["Succeeded"], on_create=train_on_the_claims)
    outputs = {stage: tmp_path / "artifacts" / stage for stage in ("sgm", "warp", "fusion")}
    summary = train_distributed(
        dataset=tiny_dataset,
        outputs=outputs,
        settings=settings,
        run_id="8f3c-Run",
        image="tryon:cuda",
        workers=2,
        gpus_per_worker=4,
        data_root=data_root,
        models_root=models_root,
        namespace="tryon",
        api=api,
        poll_seconds=0,
    )
    (body,) = api.created
    assert body["metadata"]["name"] == "tryon-8f3c-run"
    assert summary.startswith("2 x 4 GPUs")
    for stage, folder in outputs.items():
        assert (folder / stage / "checkpoint.pt").read_bytes() == stage.encode()
    assert (data_root / RUNS_FOLDER / "8f3c-Run" / "dataset" / "train_pairs.txt").is_file()


def test_a_job_that_ends_without_a_stage_fails_the_step(tmp_path, tiny_dataset):
    api = FakeOperator(["Succeeded"])
    with pytest.raises(FileNotFoundError, match="without stage sgm's checkpoint"):
        train_distributed(
            dataset=tiny_dataset,
            outputs={},
            settings=RunSettings(resolution="64x48"),
            run_id="r2",
            image="tryon:cuda",
            workers=1,
            gpus_per_worker=1,
            data_root=tmp_path / "d",
            models_root=tmp_path / "m",
            namespace="tryon",
            api=api,
            poll_seconds=0,
        )
