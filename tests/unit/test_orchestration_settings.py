"""Run settings: params text plus overrides give the Params every step rebuilds; budgets are shared."""

from __future__ import annotations

from pathlib import Path

import pytest

from tryon.config import Resolution, StageConfig, TrainConfig, load_params
from tryon.orchestration.settings import PipelineArguments, RunSettings, resolve_params, share_budget

REPO = Path(__file__).resolve().parents[2]


def test_the_repository_params_resolve_to_what_load_params_reads():
    text = (REPO / "params.yaml").read_text()
    assert resolve_params(RunSettings(params_yaml=text)) == load_params(REPO / "params.yaml")


def test_empty_params_are_the_built_in_defaults():
    params = resolve_params(RunSettings())
    assert params.train.stages == TrainConfig().stages
    assert params.data.resolution == Resolution(256, 192)


def test_resolution_and_preset_override_the_params_everywhere():
    text = (REPO / "params.yaml").read_text()
    params = resolve_params(RunSettings(params_yaml=text, resolution="256x192", preset="original"))
    assert params.data.resolution == params.model.resolution == Resolution(256, 192)
    assert (params.model.preset, params.model.base_width) == ("original", 64)
    assert params.model.tps_grid == load_params(REPO / "params.yaml").model.tps_grid  # other keys kept


def test_the_full_schedule_is_acgpns_recipe_whatever_the_params_say():
    text = (REPO / "params.yaml").read_text()
    assert resolve_params(RunSettings(params_yaml=text, schedule="full")).train.stages == TrainConfig().stages


def test_a_total_budget_is_shared_in_proportion_to_the_stages_own_budgets():
    stages = {
        "sgm": StageConfig(max_steps=10, budget_minutes=4.5),
        "warp": StageConfig(max_steps=10, budget_minutes=3),
        "fusion": StageConfig(max_steps=10, budget_minutes=4.5),
    }
    shared = share_budget(stages, 6.0)
    assert [shared[name].budget_minutes for name in ("sgm", "warp", "fusion")] == pytest.approx(
        [2.25, 1.5, 2.25]
    )
    assert all(shared[name].max_steps == 10 for name in shared)
    equal = share_budget(TrainConfig().stages, 3.0)
    assert [stage.budget_minutes for stage in equal.values()] == pytest.approx([1.0, 1.0, 1.0])


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"schedule": "weekly"}, "schedule"),
        ({"budget_minutes": -1.0}, "budget_minutes"),
        ({"resolution": "256by192"}, "HxW"),
        ({"resolution": "100x100"}, "multiple of 16"),
    ],
)
def test_bad_settings_are_refused_naming_the_setting(settings, message):
    with pytest.raises(ValueError, match=message):
        RunSettings(**settings)


def test_bad_params_text_is_refused_by_the_config_loader():
    with pytest.raises(ValueError, match="unknown keys"):
        resolve_params(RunSettings(params_yaml="train:\n  learning_rate: 1\n"))
    with pytest.raises(TypeError, match="mapping of sections"):
        resolve_params(RunSettings(params_yaml="- a list\n"))
    with pytest.raises(ValueError, match="preset"):
        resolve_params(RunSettings(preset="huge"))


def test_pipeline_arguments_are_the_pipelines_parameters_by_name():
    arguments = PipelineArguments(settings=RunSettings(resolution="128x96"), dataset_uri="s3://b/p")
    assert arguments.as_dict() == {
        "params_yaml": "",
        "resolution": "128x96",
        "preset": "",
        "schedule": "params",
        "budget_minutes": 0.0,
        "dataset_uri": "s3://b/p",
        "uploads_uri": "",
        "uploads_parser": "lip",
        "baseline_metrics": "",
        "s3_endpoint_url": "",
        "publish_dir": "",
    }


def test_an_unknown_parser_of_uploaded_persons_is_refused():
    with pytest.raises(ValueError, match="uploads_parser 'schp' is not one of"):
        PipelineArguments(settings=RunSettings(), uploads_parser="schp")
