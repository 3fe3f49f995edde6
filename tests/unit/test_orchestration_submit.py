"""`tryon pipeline submit` hands kfp.Client the compiled package and the run's parameters (a fake
client stands in for the cluster); `tryon pipeline pytorchjob` prints a job to apply."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import kfp
import pytest
import yaml
from typer.testing import CliRunner

from tryon.cli import app
from tryon.orchestration.settings import PipelineArguments, RunSettings
from tryon.orchestration.submit import SubmitFailed, submit_run

REPO = Path(__file__).resolve().parents[2]


@dataclass
class FakeResult:
    run_id: str


class FakeClient:
    """Records what kfp.Client would have been given."""

    instances: ClassVar[list[FakeClient]] = []

    def __init__(self, **kwargs):
        self.kwargs = kwargs
        self.runs = []
        FakeClient.instances.append(self)

    def create_run_from_pipeline_package(self, pipeline_file, **kwargs):
        self.runs.append({"package": Path(pipeline_file).read_text(), **kwargs})
        return FakeResult(run_id="run-123")


class UnreachableClient:
    def __init__(self, **kwargs):
        raise ConnectionError("connection refused")


@pytest.fixture(autouse=True)
def fresh_instances():
    FakeClient.instances.clear()


def test_submit_passes_the_package_and_the_parameters(tmp_path):
    package = tmp_path / "training.yaml"
    package.write_text("pipelineInfo: {name: tryon-training}\n")
    arguments = PipelineArguments(settings=RunSettings(preset="original"), dataset_uri="s3://data/viton")
    run = submit_run(
        host="https://kfp.example.com/pipeline/",
        package=package,
        arguments=arguments,
        experiment="nightly",
        run_name="r1",
        token="secret-token",
        service_account="tryon-pipeline",
        client_factory=FakeClient,
    )
    (client,) = FakeClient.instances
    assert client.kwargs == {"host": "https://kfp.example.com/pipeline/", "existing_token": "secret-token"}
    (submitted,) = client.runs
    assert submitted["package"] == package.read_text()
    assert submitted["arguments"] == arguments.as_dict()
    assert (submitted["experiment_name"], submitted["run_name"], submitted["service_account"]) == (
        "nightly",
        "r1",
        "tryon-pipeline",
    )
    assert run.run_id == "run-123"
    assert run.url == "https://kfp.example.com/pipeline/#/runs/details/run-123"


def test_an_unreachable_endpoint_is_one_error_naming_it(tmp_path):
    with pytest.raises(SubmitFailed, match=r"https://kfp.invalid: ConnectionError: connection refused"):
        submit_run(
            host="https://kfp.invalid",
            package=tmp_path / "x.yaml",
            arguments=PipelineArguments(settings=RunSettings()),
            client_factory=UnreachableClient,
        )


def test_the_cli_compiles_the_repository_pipeline_and_submits_it(monkeypatch):
    monkeypatch.setattr(kfp, "Client", FakeClient)
    result = CliRunner().invoke(
        app,
        [
            "pipeline",
            "submit",
            "--host",
            "http://127.0.0.1:8888",
            "--repo",
            str(REPO),
            "--params",
            str(REPO / "params.yaml"),
            "--dataset",
            "dvc://data?rev=v1",
            "--budget-minutes",
            "30",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "submitted run run-123: http://127.0.0.1:8888/#/runs/details/run-123" in result.output
    (client,) = FakeClient.instances
    (submitted,) = client.runs
    assert submitted["package"] == (REPO / "pipelines" / "training.yaml").read_text()
    assert submitted["arguments"]["dataset_uri"] == "dvc://data?rev=v1"
    assert submitted["arguments"]["budget_minutes"] == 30.0
    assert submitted["arguments"]["params_yaml"] == (REPO / "params.yaml").read_text()


def test_the_cli_refuses_bad_settings_before_contacting_the_endpoint(monkeypatch):
    monkeypatch.setattr(kfp, "Client", FakeClient)
    result = CliRunner().invoke(
        app,
        ["pipeline", "submit", "--host", "http://127.0.0.1:1", "--repo", str(REPO), "--schedule", "weekly"],
    )
    assert result.exit_code == 1
    assert "schedule 'weekly' is not one of" in result.output
    assert FakeClient.instances == []


def test_the_pytorchjob_command_prints_an_applicable_manifest():
    result = CliRunner().invoke(
        app,
        [
            "pipeline",
            "pytorchjob",
            "--name",
            "big-run",
            "--image",
            "tryon:1",
            "--workers",
            "2",
            "--gpus",
            "8",
        ],
    )
    assert result.exit_code == 0, result.output
    document = yaml.safe_load(result.output)
    assert document["kind"] == "PyTorchJob"
    assert document["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] == 1
    bad = CliRunner().invoke(app, ["pipeline", "pytorchjob", "--name", "Big_Run", "--image", "tryon:1"])
    assert bad.exit_code == 1 and "DNS label" in bad.output


def test_the_distributed_pipeline_is_submitted_with_the_jobs_size(monkeypatch):
    monkeypatch.setattr(kfp, "Client", FakeClient)
    result = CliRunner().invoke(
        app,
        [
            "pipeline",
            "submit",
            "--host",
            "http://127.0.0.1:8888",
            "--repo",
            str(REPO),
            "--pipeline",
            "distributed",
            "--workers",
            "4",
            "--gpus",
            "8",
            "--dataset",
            "s3://data/viton",
        ],
    )
    assert result.exit_code == 0, result.output
    (submitted,) = FakeClient.instances[0].runs
    assert submitted["package"] == (REPO / "pipelines" / "distributed.yaml").read_text()
    assert (submitted["arguments"]["workers"], submitted["arguments"]["gpus_per_worker"]) == (4, 8)
    assert "training_image" not in submitted["arguments"]  # the pipeline's default CUDA image


def test_job_sizes_go_with_the_distributed_pipeline_only(monkeypatch):
    monkeypatch.setattr(kfp, "Client", FakeClient)
    result = CliRunner().invoke(
        app, ["pipeline", "submit", "--host", "http://127.0.0.1:1", "--repo", str(REPO), "--workers", "4"]
    )
    assert result.exit_code == 1 and "go with --pipeline distributed" in result.output
    assert FakeClient.instances == []
