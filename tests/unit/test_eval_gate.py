import json
import math

import pytest

from tryon.eval.gate import OutdatedReference, compare_to_baseline
from tryon.eval.run import check_against_baseline

REFERENCE = {
    "paired/ssim/changed": 0.80,
    "paired/ssim/changed/hard": 0.70,
    "paired/ssim/full": 0.95,
    "paired/l1/changed": 0.050,
    "layout/miou": 0.60,
    "baseline/paired/ssim/changed": 0.50,
    "count/all": 16.0,
}


def test_equal_metrics_pass():
    result = compare_to_baseline(dict(REFERENCE), REFERENCE, max_regression=0.0)
    assert result.passed
    assert set(result.compared) == {
        "paired/ssim/changed",
        "paired/ssim/changed/hard",
        "paired/ssim/full",
        "paired/l1/changed",
        "layout/miou",
    }
    assert set(result.ignored) == {"baseline/paired/ssim/changed", "count/all"}


def test_better_metrics_pass_in_either_direction():
    better = {**REFERENCE, "paired/ssim/changed": 0.9, "paired/l1/changed": 0.01, "layout/miou": 0.7}
    assert compare_to_baseline(better, REFERENCE, max_regression=0.0).passed


def test_a_worse_metric_fails_and_is_named_with_its_values():
    worse = {**REFERENCE, "paired/ssim/changed/hard": 0.60}
    result = compare_to_baseline(worse, REFERENCE, max_regression=0.05)
    assert not result.passed
    [regression] = result.regressions
    assert (regression.key, regression.old, regression.new) == ("paired/ssim/changed/hard", 0.70, 0.60)
    assert regression.relative_change == pytest.approx(1 / 7)
    assert "regressed paired/ssim/changed/hard" in result.summary()


def test_lower_is_better_for_l1():
    key = "paired/l1/changed"
    assert not compare_to_baseline({**REFERENCE, key: 0.06}, REFERENCE, max_regression=0.1).passed
    assert compare_to_baseline({**REFERENCE, key: 0.054}, REFERENCE, max_regression=0.1).passed
    assert compare_to_baseline({**REFERENCE, key: 0.03}, REFERENCE, max_regression=0.0).passed


def test_max_regression_is_relative():
    # 0.80 -> 0.77 is 3.75% worse: allowed at 5%, not at 2%.
    current = {**REFERENCE, "paired/ssim/changed": 0.77}
    assert compare_to_baseline(current, REFERENCE, max_regression=0.05).passed
    assert not compare_to_baseline(current, REFERENCE, max_regression=0.02).passed


def test_a_metric_missing_from_the_new_run_fails_and_is_named():
    current = dict(REFERENCE)
    del current["layout/miou"]
    result = compare_to_baseline(current, REFERENCE, max_regression=0.5)
    assert not result.passed and result.missing == ("layout/miou",)
    assert "missing from the new run: layout/miou" in result.summary()


def test_a_new_metric_without_a_reference_is_listed_not_compared():
    result = compare_to_baseline({**REFERENCE, "unpaired/fid": 30.0}, REFERENCE, max_regression=0.0)
    assert result.passed and result.unreferenced == ("unpaired/fid",)
    assert "unpaired/fid" in result.summary()


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_metric_that_is_not_finite_fails_and_is_named(value):
    result = compare_to_baseline({**REFERENCE, "paired/ssim/full": value}, REFERENCE, max_regression=0.5)
    assert not result.passed and result.not_finite == ("paired/ssim/full",)
    assert "not finite in the new run: paired/ssim/full" in result.summary()


@pytest.mark.parametrize("old_key", ["paired/ssim", "unpaired/l1/hard"])
def test_a_reference_written_before_the_region_keys_is_refused(old_key):
    reference = {"layout/miou": 0.6, old_key: 0.8}
    with pytest.raises(OutdatedReference, match=rf"predate region keys \({old_key}\)"):
        compare_to_baseline(dict(REFERENCE), reference, max_regression=0.1)


def test_the_gate_on_a_file_refuses_an_old_reference_naming_it(tmp_path):
    reference = tmp_path / "metrics.json"
    reference.write_text(json.dumps({"paired/ssim": 0.8, "paired/ssim/hard": 0.7, "layout/miou": 0.6}))
    with pytest.raises(OutdatedReference, match=rf"{reference}: the reference metrics predate region keys"):
        check_against_baseline(dict(REFERENCE), reference, max_regression=0.1)


def test_the_gate_on_a_file_compares_overall_metrics_only(tmp_path):
    reference = tmp_path / "metrics.json"
    reference.write_text(json.dumps({**REFERENCE, "layout/iou/arms": 0.5}))
    current = {**REFERENCE, "paired/ssim/changed/hard": 0.1, "layout/iou/arms": 0.1}
    result = check_against_baseline(current, reference, max_regression=0.0)
    assert result.passed and "paired/ssim/changed/hard" not in result.compared


def test_negative_tolerance_is_refused():
    with pytest.raises(ValueError, match="max_regression"):
        compare_to_baseline(REFERENCE, REFERENCE, max_regression=-0.1)
