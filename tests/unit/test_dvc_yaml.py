"""dvc.yaml against the code and params.yaml: each stage's code deps, params and place in the order."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import yaml

from tryon.config import TRAINING_STAGES
from tryon.versioning.stages import check_stage_deps

REPO = Path(__file__).resolve().parents[2]
STAGES = ("validate", "train_sgm", "train_warp", "train_fusion", "evaluate", "export")


@pytest.fixture(scope="module")
def dvc_yaml() -> dict:
    return yaml.safe_load((REPO / "dvc.yaml").read_text())


def test_stages_are_the_pipeline_steps_in_order(dvc_yaml):
    stages = dvc_yaml["stages"]
    assert tuple(stages) == STAGES
    for earlier, later in itertools.pairwise(STAGES[1:-1]):
        assert set(stages[earlier]["outs"]) <= set(stages[later]["deps"]), f"{later} must follow {earlier}"
    assert "models/validation.txt" in stages["train_sgm"]["deps"]
    assert {"models/fusion", "models/eval"} <= set(stages["export"]["deps"])


def test_dvc_yaml_lists_each_stage_imports_as_deps():
    reports = check_stage_deps(REPO / "dvc.yaml")
    assert {report.stage for report in reports} == set(STAGES)
    problems = [
        f"{r.stage}: missing {list(r.missing)}, not imported {list(r.extra)}; list instead: {list(r.expected)}"
        for r in reports
        if not r.ok
    ]
    assert not problems, "\n".join(problems)


def test_train_stages_list_their_own_schedule_and_every_shared_train_key(dvc_yaml):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    shared = {f"train.{key}" for key in params["train"] if key != "stages"}
    for stage in TRAINING_STAGES:
        listed = set(dvc_yaml["stages"][f"train_{stage}"]["params"])
        others = {f"train.stages.{other}" for other in TRAINING_STAGES if other != stage}
        assert f"train.stages.{stage}" in listed
        assert not listed & (others | {"train", "train.stages"}), (
            f"train_{stage} would re-run for other stages"
        )
        assert shared <= listed, f"train_{stage} misses {sorted(shared - listed)}"
        assert {"model", "data.resolution"} <= listed


def test_metrics_and_plots_name_what_evaluate_writes(dvc_yaml):
    assert dvc_yaml["metrics"] == ["models/eval/metrics.json"]
    plotted = set()
    for entry in dvc_yaml["plots"]:
        if isinstance(entry, str):
            plotted.add(entry)
        else:
            (definition,) = entry.values()
            plotted |= set(definition["y"])
    assert plotted == {f"models/eval/curves/{stage}.csv" for stage in TRAINING_STAGES} | {
        "models/eval/by_difficulty.png"
    }
    assert "models/eval" in dvc_yaml["stages"]["evaluate"]["outs"]
