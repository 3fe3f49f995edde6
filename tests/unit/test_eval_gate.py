import math

import pytest

from tryon.eval.gate import compare_to_baseline

REFERENCE = {
    "paired/ssim": 0.80,
    "paired/ssim/hard": 0.70,
    "paired/l1": 0.050,
    "layout/miou": 0.60,
    "baseline/paired/ssim": 0.50,
    "count/all": 16.0,
}


def test_equal_metrics_pass():
    result = compare_to_baseline(dict(REFERENCE), REFERENCE, max_regression=0.0)
    assert result.passed
    assert set(result.compared) == {"paired/ssim", "paired/ssim/hard", "paired/l1", "layout/miou"}
    assert set(result.ignored) == {"baseline/paired/ssim", "count/all"}


def test_better_metrics_pass_in_either_direction():
    better = {**REFERENCE, "paired/ssim": 0.9, "paired/l1": 0.01, "layout/miou": 0.7}
    assert compare_to_baseline(better, REFERENCE, max_regression=0.0).passed


def test_a_worse_metric_fails_and_is_named_with_its_values():
    worse = {**REFERENCE, "paired/ssim/hard": 0.60}
    result = compare_to_baseline(worse, REFERENCE, max_regression=0.05)
    assert not result.passed
    [regression] = result.regressions
    assert (regression.key, regression.old, regression.new) == ("paired/ssim/hard", 0.70, 0.60)
    assert regression.relative_change == pytest.approx(1 / 7)
    assert "paired/ssim/hard" in result.summary()


def test_lower_is_better_for_l1():
    assert not compare_to_baseline({**REFERENCE, "paired/l1": 0.06}, REFERENCE, max_regression=0.1).passed
    assert compare_to_baseline({**REFERENCE, "paired/l1": 0.054}, REFERENCE, max_regression=0.1).passed
    assert compare_to_baseline({**REFERENCE, "paired/l1": 0.03}, REFERENCE, max_regression=0.0).passed


def test_max_regression_is_relative():
    # 0.80 -> 0.77 is 3.75% worse: allowed at 5%, not at 2%.
    current = {**REFERENCE, "paired/ssim": 0.77}
    assert compare_to_baseline(current, REFERENCE, max_regression=0.05).passed
    assert not compare_to_baseline(current, REFERENCE, max_regression=0.02).passed


def test_metrics_on_one_side_only_are_reported_not_compared():
    current = {**REFERENCE, "unpaired/fid": 30.0}
    del current["layout/miou"]
    result = compare_to_baseline(current, REFERENCE, max_regression=0.0)
    assert result.passed
    assert set(result.missing) == {"unpaired/fid", "layout/miou"}
    assert "unpaired/fid" in result.summary() and "layout/miou" in result.summary()


def test_a_nan_metric_fails():
    assert not compare_to_baseline(
        {**REFERENCE, "paired/ssim": math.nan}, REFERENCE, max_regression=0.5
    ).passed


def test_negative_tolerance_is_refused():
    with pytest.raises(ValueError, match="max_regression"):
        compare_to_baseline(REFERENCE, REFERENCE, max_regression=-0.1)
