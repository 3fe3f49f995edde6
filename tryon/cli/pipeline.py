"""`tryon pipeline ...` (compile, run --local, submit, pytorchjob) and `tryon demo`, the main job.

`tryon demo` is `tryon pipeline run --local` with the built-in synthetic dataset and params.yaml:
one code path for the main job and the pipeline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tryon.cli.app import app, fail

pipeline_app = typer.Typer(
    help="Compile the Kubeflow training pipeline, run it on this machine, or submit it to a cluster.",
    no_args_is_help=True,
)
app.add_typer(pipeline_app, name="pipeline")

RepoOption = Annotated[
    Path,
    typer.Option("--repo", help="Repository checkout holding pipelines/ and components/.", file_okay=False),
]
DatasetOption = Annotated[
    str,
    typer.Option(
        "--dataset", help="`synthetic`, a local folder, s3://BUCKET/PREFIX or dvc://PATH?rev=REV[&repo=URL]."
    ),
]
UploadsParserOption = Annotated[
    str,
    typer.Option(
        "--uploads-parser", help="Human parser of the uploaded persons' parsing maps: lip, cihp or atr."
    ),
]
UploadsOption = Annotated[
    str,
    typer.Option(
        "--uploads",
        help="Folder or URI of uploads to add to the dataset: PHASE/garments/ and PHASE/persons/ (photo, pose, parsing).",
    ),
]
ParamsFileOption = Annotated[
    Path | None,
    typer.Option(
        "--params",
        help="params.yaml whose text the steps use; built-in defaults when omitted.",
        dir_okay=False,
    ),
]
ResolutionOption = Annotated[str, typer.Option("--resolution", help="HxW overriding data.resolution.")]
PresetOption = Annotated[
    str, typer.Option("--preset", help="Model preset overriding model.preset: default or original.")
]
ScheduleOption = Annotated[
    str, typer.Option("--schedule", help="params (the params' stages) or full (ACGPN's full recipe).")
]
BudgetOption = Annotated[
    float,
    typer.Option(
        "--budget-minutes", min=0.0, help="Total training minutes shared by the stages; 0 keeps theirs."
    ),
]
BaselineOption = Annotated[
    str,
    typer.Option(
        "--baseline-metrics", help="metrics.json the quality gate compares with (a path the steps can read)."
    ),
]
PublishOption = Annotated[
    str,
    typer.Option("--publish-dir", help="Folder the export also writes tryon.mar to, e.g. /mnt/models/store."),
]
EndpointOption = Annotated[
    str,
    typer.Option(
        "--s3-endpoint", help="S3-compatible endpoint for s3:// URIs; AWS_ENDPOINT_URL or AWS when empty."
    ),
]


def _arguments(
    *,
    params: Path | None,
    dataset: str,
    uploads: str,
    uploads_parser: str = "lip",
    resolution: str,
    preset: str,
    schedule: str,
    budget_minutes: float,
    baseline_metrics: str,
    s3_endpoint: str,
    publish_dir: str = "",
):
    from tryon.orchestration.settings import PipelineArguments, RunSettings, resolve_params

    if params is not None and not params.is_file():
        raise fail(f"--params {params}: no such file")
    try:
        settings = RunSettings(
            params_yaml=params.read_text() if params else "",
            resolution=resolution,
            preset=preset,
            schedule=schedule,
            budget_minutes=budget_minutes,
        )
        resolve_params(settings)  # refuse bad settings here, not in the first step
    except (TypeError, ValueError) as error:
        raise fail(f"pipeline: {error}") from None
    try:
        return PipelineArguments(
            settings=settings,
            dataset_uri=dataset,
            uploads_uri=uploads,
            uploads_parser=uploads_parser,
            baseline_metrics=baseline_metrics,
            s3_endpoint_url=s3_endpoint,
            publish_dir=publish_dir,
        )
    except ValueError as error:
        raise fail(f"pipeline: {error}") from None


def _compile(repo: Path, out: Path, name: str = "training") -> Path:
    from tryon.orchestration.compiling import compile_pipeline

    try:
        return compile_pipeline(repo=repo, out=out, name=name)
    except (FileNotFoundError, ImportError, ValueError) as error:
        raise fail(f"pipeline: {error}") from None


@pipeline_app.command("compile")
def compile_command(repo: RepoOption = Path(".")) -> None:
    """Compile every pipeline (pipelines/NAME.py) into pipelines/NAME.yaml, which kfp runs (commit
    them: the tests compare them with a fresh compile)."""
    from tryon.orchestration.compiling import PIPELINES, compiled

    for name in PIPELINES:
        typer.echo(f"compiled: {_compile(repo, Path(repo) / compiled(name), name)}")


@pipeline_app.command("run")
def run_command(
    local: Annotated[
        bool, typer.Option("--local", help="Run on this machine with kfp's local runner.")
    ] = False,
    out: Annotated[
        Path, typer.Option("--out", help="Run folder: pipeline.yaml, pipeline.log, outputs/.")
    ] = Path("runs/pipeline"),
    params: ParamsFileOption = Path("params.yaml"),
    dataset: DatasetOption = "synthetic",
    uploads: UploadsOption = "",
    uploads_parser: UploadsParserOption = "lip",
    resolution: ResolutionOption = "",
    preset: PresetOption = "",
    schedule: ScheduleOption = "params",
    budget_minutes: BudgetOption = 0.0,
    baseline_metrics: BaselineOption = "",
    s3_endpoint: EndpointOption = "",
    publish_dir: PublishOption = "",
    repo: RepoOption = Path("."),
) -> None:
    """Compile the training pipeline and run it here (--local); `submit` sends it to a cluster."""
    if not local:
        raise fail(
            "pipeline run: only --local runs here; use `tryon pipeline submit --host URL` for a cluster"
        )
    arguments = _arguments(
        params=params,
        dataset=dataset,
        uploads=uploads,
        uploads_parser=uploads_parser,
        resolution=resolution,
        preset=preset,
        schedule=schedule,
        budget_minutes=budget_minutes,
        baseline_metrics=baseline_metrics,
        s3_endpoint=s3_endpoint,
        publish_dir=publish_dir,
    )
    run_local(out=out, arguments=arguments, repo=repo)


@app.command("demo")
def demo_command(
    out: Annotated[Path, typer.Option("--out", help="Run folder for the pipeline's outputs.")] = Path(
        "runs/demo"
    ),
    params: Annotated[
        Path,
        typer.Option(
            "--params", help="params.yaml with a demo-sized training budget.", exists=True, dir_okay=False
        ),
    ] = Path("params.yaml"),
    repo: RepoOption = Path("."),
) -> None:
    """The main job: `tryon pipeline run --local` on the built-in synthetic dataset and params.yaml."""
    arguments = _arguments(
        params=params,
        dataset="synthetic",
        uploads="",
        resolution="",
        preset="",
        schedule="params",
        budget_minutes=0.0,
        baseline_metrics="",
        s3_endpoint="",
    )
    run_local(out=out, arguments=arguments, repo=repo)


def run_local(*, out: Path, arguments, repo: Path) -> None:
    """Compile into OUT/pipeline.yaml, run it with kfp's local runner, and say where everything is."""
    import json
    import time

    from tryon.eval.summary import headline
    from tryon.orchestration.local import LocalRunFailed, run_pipeline_locally

    started = time.perf_counter()
    pipeline = _compile(repo, Path(out) / "pipeline.yaml")
    typer.echo(
        f"pipeline {pipeline} on this machine (kfp local runner); step output in {Path(out) / 'pipeline.log'}"
    )
    try:
        outputs = run_pipeline_locally(pipeline=pipeline, arguments=arguments, out=out, log=typer.echo)
    except LocalRunFailed as error:
        raise fail(f"pipeline: {error}") from None
    typer.echo(f"finished in {time.perf_counter() - started:.0f} s")
    typer.echo(f"preview:     {outputs.preview}")
    for stage, checkpoint in outputs.checkpoints.items():
        typer.echo(f"checkpoint:  {checkpoint} ({stage})")
    metrics = json.loads((outputs.report_html.parent / "metrics.json").read_text())
    for line in headline(metrics):
        typer.echo(f"  {line}")
    typer.echo(f"report:      {outputs.report_html}")
    typer.echo(f"try-ons:     {outputs.tryon_grid}")
    if outputs.model_archive is None:
        typer.echo("archive:     not written: the quality gate failed (see the report and pipeline.log)")
    else:
        typer.echo(f"archive:     {outputs.model_archive}")


@pipeline_app.command("submit")
def submit_command(
    host: Annotated[
        str, typer.Option("--host", help="KFP API endpoint, e.g. https://kubeflow.example.com/pipeline.")
    ],
    experiment: Annotated[
        str, typer.Option("--experiment", help="KFP experiment to file the run under.")
    ] = "tryon",
    run_name: Annotated[
        str | None, typer.Option("--run-name", help="Name of the run; KFP picks one when omitted.")
    ] = None,
    namespace: Annotated[
        str | None, typer.Option("--namespace", help="Kubeflow profile namespace (multi-user clusters).")
    ] = None,
    token: Annotated[
        str | None,
        typer.Option("--token", envvar="KF_PIPELINES_TOKEN", help="Bearer token for the endpoint."),
    ] = None,
    service_account: Annotated[
        str | None,
        typer.Option(
            "--service-account",
            help="Service account of the run's pods; tryon-pipeline (k8s/base RBAC) by default.",
        ),
    ] = None,
    params: ParamsFileOption = Path("params.yaml"),
    dataset: DatasetOption = "synthetic",
    uploads: UploadsOption = "",
    uploads_parser: UploadsParserOption = "lip",
    resolution: ResolutionOption = "",
    preset: PresetOption = "",
    schedule: ScheduleOption = "params",
    budget_minutes: BudgetOption = 0.0,
    baseline_metrics: BaselineOption = "",
    s3_endpoint: EndpointOption = "",
    publish_dir: PublishOption = "",
    pipeline: Annotated[
        str,
        typer.Option(
            "--pipeline",
            help="training (one GPU task per stage) or distributed (one PyTorchJob for all stages).",
        ),
    ] = "training",
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="distributed: pods of the PyTorchJob (default 2).")
    ] = None,
    gpus: Annotated[
        int | None, typer.Option("--gpus", min=1, help="distributed: GPUs per pod (default 4).")
    ] = None,
    training_image: Annotated[
        str, typer.Option("--training-image", help="distributed: the CUDA image of the job's pods.")
    ] = "",
    repo: RepoOption = Path("."),
) -> None:
    """Compile a pipeline and start a run of it on a Kubeflow Pipelines endpoint."""
    import dataclasses
    import tempfile

    from tryon.orchestration.cluster import PIPELINE_SERVICE_ACCOUNT
    from tryon.orchestration.settings import DistributedTraining
    from tryon.orchestration.submit import SubmitFailed, submit_run

    if pipeline != "distributed" and (workers or gpus or training_image):
        raise fail("pipeline submit: --workers, --gpus and --training-image go with --pipeline distributed")

    arguments = _arguments(
        params=params,
        dataset=dataset,
        uploads=uploads,
        uploads_parser=uploads_parser,
        resolution=resolution,
        preset=preset,
        schedule=schedule,
        budget_minutes=budget_minutes,
        baseline_metrics=baseline_metrics,
        s3_endpoint=s3_endpoint,
        publish_dir=publish_dir,
    )
    if pipeline == "distributed":
        defaults = DistributedTraining()
        try:
            distributed = DistributedTraining(
                workers=workers or defaults.workers,
                gpus_per_worker=gpus or defaults.gpus_per_worker,
                training_image=training_image,
            )
        except ValueError as error:
            raise fail(f"pipeline submit: {error}") from None
        arguments = dataclasses.replace(arguments, distributed=distributed)
    with tempfile.TemporaryDirectory(prefix="tryon-pipeline-") as scratch:
        package = _compile(repo, Path(scratch) / f"{pipeline}.yaml", pipeline)
        try:
            run = submit_run(
                host=host,
                package=package,
                arguments=arguments,
                experiment=experiment,
                run_name=run_name,
                namespace=namespace,
                token=token,
                service_account=service_account or PIPELINE_SERVICE_ACCOUNT,
            )
        except SubmitFailed as error:
            raise fail(f"pipeline submit: {error}") from None
    typer.echo(f"submitted run {run.run_id}: {run.url}")


@pipeline_app.command("pytorchjob")
def pytorchjob_command(
    name: Annotated[str, typer.Option("--name", help="Job name (a DNS label); also the rendezvous id.")],
    image: Annotated[str, typer.Option("--image", help="The tryon image.")],
    workers: Annotated[int, typer.Option("--workers", min=1, help="Pods (nodes), the master included.")] = 1,
    gpus: Annotated[int, typer.Option("--gpus", min=1, help="GPUs per pod; one training process each.")] = 1,
    data: Annotated[str, typer.Option("--data", help="Dataset root on the data PVC.")] = "data",
    out: Annotated[str, typer.Option("--out", help="Run folder on the models PVC.")] = "runs/train",
    stage: Annotated[str, typer.Option("--stage", help="sgm, warp, fusion or all.")] = "all",
    namespace: Annotated[str | None, typer.Option("--namespace", help="Namespace of the job.")] = None,
) -> None:
    """Print a Training Operator PyTorchJob (torchrun, N pods x G GPUs) for `kubectl apply -f -`."""
    import yaml

    from tryon.orchestration.pytorchjob import TrainingJob, manifest

    try:
        job = TrainingJob(
            name=name,
            image=image,
            workers=workers,
            gpus_per_worker=gpus,
            data_path=data,
            out_path=out,
            stage=stage,
            namespace=namespace,
        )
    except ValueError as error:
        raise fail(f"pipeline pytorchjob: {error}") from None
    typer.echo(yaml.safe_dump(manifest(job), sort_keys=False), nl=False)
