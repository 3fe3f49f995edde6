import dataclasses
import math

import pytest
import torch

from tests.eval_examples import make_example_batch
from tryon.eval.context import MetricContext
from tryon.eval.metrics import metric_direction, registered_metrics
from tryon.eval.metrics.fid import frechet_distance
from tryon.eval.metrics.kid import kernel_distance
from tryon.eval.metrics.pixels import PSNR_CAP_DB
from tryon.eval.weights import EvalWeights
from tryon.labels import NUM_LABELS, Label

METRICS = {spec.name: spec for spec in registered_metrics()}


@pytest.fixture
def context(tmp_path):
    return MetricContext(EvalWeights(inception=tmp_path / "missing.pt"), "cpu")


def score(name, batch, context):
    """The metric's value over the batch: the mean of per-sample values, or the set reduction."""
    spec = METRICS[name]
    computed = spec.compute(batch, context)
    if spec.reduce is not None:
        return spec.reduce(computed)
    if isinstance(computed, dict):
        return {part: float(values.nanmean()) for part, values in computed.items()}
    return float(computed.nanmean())


def test_identical_images_score_perfectly_over_both_regions(context):
    batch = make_example_batch(3, noise=0.0)
    textured = torch.rand(batch.target.shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    batch = dataclasses.replace(
        batch, target=textured, tryon=textured, unpaired_target=textured, unpaired_tryon=textured
    )
    for setting in ("paired", "unpaired"):
        assert score(f"{setting}/ssim", batch, context) == pytest.approx(
            {"full": 1.0, "changed": 1.0}, abs=1e-6
        )
        assert score(f"{setting}/psnr", batch, context) == {"full": PSNR_CAP_DB, "changed": PSNR_CAP_DB}
        assert score(f"{setting}/l1", batch, context) == {"full": 0.0, "changed": 0.0}


def test_identical_flat_images_lose_at_most_float32_rounding(context):
    batch = make_example_batch(3, noise=0.0)  # flat colours: windows without any variance
    batch = dataclasses.replace(batch, tryon=batch.target, unpaired_tryon=batch.unpaired_target)
    assert score("paired/ssim", batch, context)["full"] == pytest.approx(1.0, abs=3e-4)
    assert score("unpaired/ssim", batch, context)["changed"] == pytest.approx(1.0, abs=3e-4)


def test_constant_shift_gives_known_l1_and_psnr(context):
    batch = make_example_batch(2, noise=0.0)
    target = torch.rand(batch.target.shape) - 0.5  # stays inside [-1, 1] after the shift
    # +0.2 on the [-1, 1] scale is +0.1 on the [0, 1] scale: L1 0.1, MSE 0.01, PSNR 20 dB.
    batch = dataclasses.replace(batch, target=target, tryon=target + 0.2)
    assert score("paired/l1", batch, context) == pytest.approx({"full": 0.1, "changed": 0.1}, abs=1e-6)
    assert score("paired/psnr", batch, context) == pytest.approx({"full": 20.0, "changed": 20.0}, abs=1e-4)
    assert score("paired/ssim", batch, context)["changed"] < 1.0


def garbage_outside(image, region, margin=0):
    """`image` inside `region`, noise everywhere more than `margin` pixels outside it."""
    near = (
        torch.nn.functional.max_pool2d(region, 2 * margin + 1, stride=1, padding=margin) if margin else region
    )
    noise = torch.rand(image.shape, generator=torch.Generator().manual_seed(3)) * 2 - 1
    return image * near + noise * (1 - near)


@pytest.mark.parametrize("setting", ["paired", "unpaired"])
def test_a_perfect_copy_inside_the_changed_region_scores_perfectly_there_whatever_lies_outside(
    context, setting
):
    batch = make_example_batch(3, height=96, width=72, noise=0.0)
    textured = torch.rand(batch.target.shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    region = batch.changed_region if setting == "paired" else batch.unpaired_changed_region
    assert 0 < region.mean() < 0.8
    # SSIM at a pixel sees its 11 x 11 window, so the garbage keeps the window's radius away;
    # L1 and PSNR are per pixel and see none of it.
    batch = dataclasses.replace(
        batch,
        target=textured,
        unpaired_target=textured,
        tryon=garbage_outside(textured, batch.changed_region),
        unpaired_tryon=garbage_outside(textured, region),
    )
    assert score(f"{setting}/l1", batch, context)["changed"] == 0.0
    assert score(f"{setting}/psnr", batch, context)["changed"] == PSNR_CAP_DB
    assert score(f"{setting}/l1", batch, context)["full"] > 0.1
    windowed = dataclasses.replace(
        batch,
        tryon=garbage_outside(textured, batch.changed_region, margin=5),
        unpaired_tryon=garbage_outside(textured, region, margin=5),
    )
    ssim = score(f"{setting}/ssim", windowed, context)
    assert ssim["changed"] == pytest.approx(1.0, abs=1e-5)
    assert ssim["full"] < 0.9


def test_an_empty_changed_region_is_undefined_not_zero(context):
    batch = make_example_batch(2, noise=0.1)
    empty = batch.changed_region.clone()
    empty[1] = 0
    values = METRICS["paired/l1"].compute(dataclasses.replace(batch, changed_region=empty), context)
    assert math.isfinite(values["changed"][0]) and math.isnan(values["changed"][1])
    assert math.isfinite(values["full"][1])


def test_unpaired_metrics_need_ground_truth(context):
    batch = dataclasses.replace(make_example_batch(2), unpaired_target=None, unpaired_changed_region=None)
    for name in ("unpaired/ssim", "unpaired/l1", "unpaired/psnr"):
        assert METRICS[name].compute(batch, context) is None


def _masks(rows_a, rows_b, height=8, width=6):
    a, b = torch.zeros(1, height, width), torch.zeros(1, height, width)
    a[:, rows_a[0] : rows_a[1]] = 1
    b[:, rows_b[0] : rows_b[1]] = 1
    return a, b


def test_warp_iou_on_crafted_masks(context):
    batch = make_example_batch(2, height=8, width=6)
    warped, worn = _masks((0, 4), (2, 6))  # overlap 2 rows, union 6 rows: IoU 1/3
    empty = torch.zeros(1, 8, 6)
    batch = dataclasses.replace(
        batch, warped_mask=torch.stack([warped, empty]), worn_mask=torch.stack([worn, empty])
    )
    stats = METRICS["warp/iou"].compute(batch, context)
    assert stats[0].item() == pytest.approx(1 / 3)
    assert math.isnan(stats[1].item())  # both empty: undefined, left out of the mean


def crafted_layout():
    """A 16 x 12 parsing map: background, a garment on the right half, a left arm across it."""
    label = torch.full((1, 16, 12), int(Label.BACKGROUND))
    label[..., 6:] = Label.UPPER_CLOTHES
    label[..., 4:8, 2:10] = Label.LEFT_ARM
    return label


def test_layout_iou_scores_g1_against_the_parsing_map_without_the_garment(context):
    label = crafted_layout()
    # G1's target: the garment becomes background; the arm stays, also where it lies over the garment.
    target = torch.where(label == Label.UPPER_CLOTHES, int(Label.BACKGROUND), label)
    predicted = target.clone()
    predicted[..., 4:8, 8:10] = Label.RIGHT_ARM  # the arm's last 2 columns labelled as the other arm
    batch = dataclasses.replace(make_example_batch(1, height=16, width=12), label=label, layout=predicted)
    per_class = score("layout/iou", batch, context)
    assert per_class == pytest.approx(
        {"background": 1.0, "left_arm": 24 / 32, "right_arm": 0.0, "arms": 1.0}
    )  # the arm as a whole is right: `arms` merges the two sides
    assert "upper_clothes" not in per_class  # the garment is G2's, scored on its own
    assert score("layout/miou", batch, context) == pytest.approx((1 + 24 / 32 + 0) / 3)
    logits = torch.nn.functional.one_hot(predicted, 14).permute(0, 3, 1, 2).float()
    assert score("layout/miou", dataclasses.replace(batch, layout=logits), context) == pytest.approx(
        (1 + 24 / 32 + 0) / 3
    )
    copied = dataclasses.replace(batch, layout=label)  # the input parsing map copied, garment and all
    assert score("layout/iou", copied, context)["background"] < 1


def test_the_garment_class_is_g2s_mask_against_the_worn_garment(context):
    label = crafted_layout()
    g2 = (label == Label.UPPER_CLOTHES).float()[:, None]
    batch = dataclasses.replace(
        make_example_batch(1, height=16, width=12), label=label, layout=label, predicted_worn_mask=g2
    )
    assert score("layout/iou/upper_clothes", batch, context) == 1.0
    shifted = torch.roll(g2, 1, dims=3)  # one column off: 10 of 12 columns' pixels overlap
    batch = dataclasses.replace(batch, predicted_worn_mask=shifted)
    worn = g2.bool()
    expected = (worn & shifted.bool()).sum() / (worn | shifted.bool()).sum()
    assert score("layout/iou/upper_clothes", batch, context) == pytest.approx(float(expected))
    assert (
        METRICS["layout/iou/upper_clothes"].compute(
            dataclasses.replace(batch, predicted_worn_mask=None), context
        )
        is None
    )


def test_layout_ids_outside_the_table_are_refused(context):
    batch = make_example_batch(1, height=16, width=12)
    label = batch.label.clone()
    label[0, 0, 0] = 255
    with pytest.raises(ValueError, match=r"EvalBatch\.label holds ids outside 0\.\.13"):
        METRICS["layout/miou"].compute(dataclasses.replace(batch, label=label), context)


def test_layout_iou_sums_counts_over_samples(context):
    # Sample 0: arm IoU 1/2 on 2 pixels; sample 1: perfect on 8 pixels. Summed: 9 / 10.
    counts = torch.zeros(2, 2, NUM_LABELS + 1, dtype=torch.long)
    counts[0, :, Label.LEFT_ARM] = torch.tensor([1, 2])
    counts[1, :, Label.LEFT_ARM] = torch.tensor([8, 8])
    assert METRICS["layout/iou"].reduce(counts) == {"left_arm": pytest.approx(0.9)}


def features(generated, *, truth=None, photos=None):
    """(N, 3, D) FID/KID statistics: generated, ground truth (NaN without), photo (NaN with)."""
    missing = torch.full_like(generated, float("nan"))
    return torch.stack(
        [generated, missing if truth is None else truth, missing if photos is None else photos], dim=1
    )


def test_frechet_and_kernel_distances_on_features():
    generator = torch.Generator().manual_seed(0)
    real = torch.randn(40, 4, generator=generator)
    same, shifted = features(real, truth=real), features(real + 3, truth=real)
    assert frechet_distance(same) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(shifted) == pytest.approx(4 * 9, rel=1e-6)  # |mean difference|^2, same covariance
    assert kernel_distance(shifted) > kernel_distance(same)
    assert frechet_distance(same[:1]) is None and kernel_distance(same[:1]) is None


def test_without_ground_truth_the_real_set_is_other_persons_photos():
    photos = torch.randn(80, 4, generator=torch.Generator().manual_seed(0))
    # Try-ons identical to their input photos would score 0 against their own inputs; against the
    # other half of the persons they score the distance between two halves of one sample, not 0.
    halves = frechet_distance(features(photos[0::2], truth=photos[1::2]))
    assert frechet_distance(features(photos, photos=photos)) == pytest.approx(halves, rel=1e-6)
    assert halves > 0.05


def test_set_metrics_need_enough_images():
    assert METRICS["unpaired/fid"].min_samples == METRICS["unpaired/kid"].min_samples == 50


@pytest.mark.parametrize(
    ("key", "higher_is_better"),
    [
        ("paired/ssim/changed", True),
        ("paired/psnr/full/hard", True),
        ("layout/miou", True),
        ("layout/iou/upper_clothes/easy", True),
        ("layout/iou/arms", True),
        ("warp/iou", True),
        ("paired/l1/changed", False),
        ("unpaired/fid", False),
        ("unpaired/kid/medium", False),
        ("paired/lpips", False),
        ("baseline/unpaired/l1/changed", False),
        ("count/all", None),
    ],
)
def test_every_metric_knows_its_direction(key, higher_is_better):
    assert metric_direction(key) is higher_is_better
