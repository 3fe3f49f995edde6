"""Evaluate the trained model against the naive baseline and run the quality gate."""

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Metrics, Model, Output

from components.image import BASE_IMAGE


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def evaluate(
    dataset: Input[Dataset],
    sgm: Input[Model],
    warp: Input[Model],
    fusion: Input[Model],
    metrics: Output[Metrics],
    report: Output[HTML],
    evaluation: Output[Artifact],
    baseline_metrics: str,
    params_yaml: str,
    resolution: str,
    preset: str,
    schedule: str,
    budget_minutes: float,
) -> str:
    """Write the report (metrics.json, report.html, grids); return the gate's verdict (GATE_PASSED or
    GATE_FAILED of tryon.orchestration.steps), on which the pipeline decides to export."""
    import shutil

    from tryon.orchestration.settings import RunSettings
    from tryon.orchestration.steps import evaluate as run

    settings = RunSettings(
        params_yaml=params_yaml,
        resolution=resolution,
        preset=preset,
        schedule=schedule,
        budget_minutes=budget_minutes,
    )
    result = run(
        dataset=dataset.path,
        stages=[sgm.path, warp.path, fusion.path],
        out=evaluation.path,
        settings=settings,
        baseline_metrics=baseline_metrics,
    )
    for key, value in result.metrics.items():
        metrics.log_metric(key, value)
    shutil.copyfile(result.report_html, report.path)
    print("\n".join(result.summary))
    return result.verdict
