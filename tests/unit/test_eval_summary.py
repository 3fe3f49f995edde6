from tryon.eval.summary import headline

AHEAD = {
    "unpaired/l1/changed": 0.10,
    "baseline/unpaired/l1/changed": 0.16,
    "unpaired/ssim/changed": 0.46,
    "baseline/unpaired/ssim/changed": 0.43,
    "paired/ssim/changed": 0.70,
    "baseline/paired/ssim/changed": 0.60,
    "warp/iou": 0.90,
    "baseline/warp/iou": 0.72,
    "layout/iou/arms": 0.55,
}


def test_model_and_baseline_side_by_side_and_no_alarm_when_ahead():
    lines = headline(AHEAD)
    assert len(lines) == 1 + 5 + 1
    assert lines[1].split()[-3:] == ["0.100", "0.160", "ahead"]  # unpaired L1: lower is better
    assert "layout IoU (arms)" in lines[5] and "0.550" in lines[5] and "no baseline value" in lines[5]
    assert lines[-1] == "the model is ahead of or level with the naive baseline on all 4 compared metrics"
    assert not any("BEHIND" in line for line in lines)


def test_it_says_plainly_where_the_model_is_behind():
    metrics = {**AHEAD, "unpaired/ssim/changed": 0.375, "warp/iou": 0.44}
    lines = headline(metrics)
    assert lines[2].endswith("BEHIND") and lines[4].endswith("BEHIND")
    assert lines[-1] == "the model is BEHIND the naive baseline on unpaired SSIM (changed region), warp IoU"


def test_a_missing_or_nan_model_value_counts_as_behind():
    metrics = {**AHEAD, "paired/ssim/changed": float("nan")}
    del metrics["warp/iou"]
    lines = headline(metrics)
    assert "not finite" in lines[3] and lines[3].endswith("BEHIND (no model value)")
    assert lines[4].endswith("BEHIND (no model value)")
    assert lines[-1] == "the model is BEHIND the naive baseline on paired SSIM (changed region), warp IoU"
