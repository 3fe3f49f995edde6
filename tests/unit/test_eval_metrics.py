import dataclasses
import math

import pytest
import torch

from tryon.eval.context import MetricContext
from tests.eval_examples import make_example_batch
from tryon.eval.metrics import metric_direction, registered_metrics
from tryon.eval.metrics.fid import frechet_distance
from tryon.eval.metrics.kid import kernel_distance
from tryon.eval.metrics.paired_psnr import PSNR_CAP_DB
from tryon.eval.weights import EvalWeights
from tryon.labels import NUM_LABELS, Label

METRICS = {spec.name: spec for spec in registered_metrics()}


@pytest.fixture
def context(tmp_path):
    return MetricContext(EvalWeights(inception=tmp_path / "missing.pt"), "cpu")


def score(name, batch, context):
    spec = METRICS[name]
    return spec.reduce(spec.compute(batch, context))


def test_identical_images_score_perfectly(context):
    batch = make_example_batch(3, noise=0.0)
    textured = torch.rand(batch.target.shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    batch = dataclasses.replace(
        batch, target=textured, tryon=textured, unpaired_target=textured, unpaired_tryon=textured
    )
    assert score("paired/ssim", batch, context) == pytest.approx(1.0, abs=1e-6)
    assert score("paired/psnr", batch, context) == PSNR_CAP_DB
    assert score("paired/l1", batch, context) == 0.0
    assert score("unpaired/ssim", batch, context) == pytest.approx(1.0, abs=1e-6)
    assert score("unpaired/l1", batch, context) == 0.0


def test_identical_flat_images_lose_at_most_float32_rounding(context):
    batch = make_example_batch(3, noise=0.0)  # flat colours: windows without any variance
    batch = dataclasses.replace(batch, tryon=batch.target, unpaired_tryon=batch.unpaired_target)
    assert score("paired/ssim", batch, context) == pytest.approx(1.0, abs=3e-4)
    assert score("unpaired/ssim", batch, context) == pytest.approx(1.0, abs=3e-4)


def test_constant_shift_gives_known_l1_and_psnr(context):
    batch = make_example_batch(2, noise=0.0)
    target = torch.rand(batch.target.shape) - 0.5  # stays inside [-1, 1] after the shift
    # +0.2 on the [-1, 1] scale is +0.1 on the [0, 1] scale: L1 0.1, MSE 0.01, PSNR 20 dB.
    batch = dataclasses.replace(batch, target=target, tryon=target + 0.2)
    assert score("paired/l1", batch, context) == pytest.approx(0.1, abs=1e-6)
    assert score("paired/psnr", batch, context) == pytest.approx(20.0, abs=1e-4)
    assert score("paired/ssim", batch, context) < 1.0


def test_unpaired_metrics_look_only_inside_the_garment_region(context):
    batch = make_example_batch(2, noise=0.0)
    region = batch.unpaired_region
    # Wrong everywhere outside the region, off by 0.1 (on [0, 1]) inside it.
    tryon = batch.unpaired_target + 0.2 * region - 2 * (1 - region)
    batch = dataclasses.replace(
        batch, unpaired_tryon=tryon.clamp(-1, 1), unpaired_target=batch.unpaired_target
    )
    inside = batch.unpaired_target + 0.2 <= 1  # pixels where the shift was not clipped
    assert bool(inside.all()), "example colours leave room for the shift"
    assert score("unpaired/l1", batch, context) == pytest.approx(0.1, abs=1e-5)


def test_unpaired_metrics_need_ground_truth(context):
    batch = dataclasses.replace(make_example_batch(2), unpaired_target=None, unpaired_region=None)
    assert METRICS["unpaired/ssim"].compute(batch, context) is None
    assert METRICS["unpaired/l1"].compute(batch, context) is None


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
    assert math.isnan(stats[1].item())  # both empty: undefined, skipped by the mean
    assert METRICS["warp/iou"].reduce(stats) == pytest.approx(1 / 3)


def test_layout_iou_on_a_crafted_layout(context):
    batch = make_example_batch(1, height=16, width=12)
    label = torch.full((1, 16, 12), int(Label.BACKGROUND))
    label[..., 6:] = Label.UPPER_CLOTHES
    predicted = torch.full((1, 16, 12), int(Label.BACKGROUND))
    predicted[..., 7:] = Label.UPPER_CLOTHES  # one column of clothes predicted as background
    batch = dataclasses.replace(batch, label=label, layout=predicted)
    per_class = score("layout/iou", batch, context)
    assert per_class == pytest.approx({"background": 6 / 7, "upper_clothes": 5 / 6})
    assert score("layout/miou", batch, context) == pytest.approx((6 / 7 + 5 / 6) / 2)
    logits = torch.nn.functional.one_hot(predicted, 14).permute(0, 3, 1, 2).float()
    assert score("layout/miou", dataclasses.replace(batch, layout=logits), context) == pytest.approx(
        (6 / 7 + 5 / 6) / 2
    )


def test_layout_ids_outside_the_table_are_refused(context):
    batch = make_example_batch(1, height=16, width=12)
    label = batch.label.clone()
    label[0, 0, 0] = 255
    with pytest.raises(ValueError, match=r"EvalBatch\.label holds ids outside 0\.\.13"):
        METRICS["layout/miou"].compute(dataclasses.replace(batch, label=label), context)


def test_layout_iou_sums_counts_over_samples(context):
    # Sample 0: clothes IoU 1/2 on 2 pixels; sample 1: perfect on 8 pixels. Summed: 9 / 10.
    counts = torch.zeros(2, 2, NUM_LABELS, dtype=torch.long)
    counts[0, :, Label.UPPER_CLOTHES] = torch.tensor([1, 2])
    counts[1, :, Label.UPPER_CLOTHES] = torch.tensor([8, 8])
    assert METRICS["layout/iou"].reduce(counts) == {"upper_clothes": pytest.approx(0.9)}


def test_frechet_and_kernel_distances_on_features():
    generator = torch.Generator().manual_seed(0)
    real = torch.randn(40, 4, generator=generator)
    same = torch.stack([real, real], dim=1)
    shifted = torch.stack([real + 3, real], dim=1)
    assert frechet_distance(same) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(shifted) == pytest.approx(4 * 9, rel=1e-6)  # |mean difference|^2, same covariance
    assert kernel_distance(shifted) > kernel_distance(same)
    assert frechet_distance(same[:1]) is None and kernel_distance(same[:1]) is None


@pytest.mark.parametrize(
    ("key", "higher_is_better"),
    [
        ("paired/ssim", True),
        ("paired/psnr/hard", True),
        ("layout/miou", True),
        ("layout/iou/upper_clothes/easy", True),
        ("warp/iou", True),
        ("paired/l1", False),
        ("unpaired/fid", False),
        ("unpaired/kid/medium", False),
        ("paired/lpips", False),
        ("baseline/unpaired/l1", False),
        ("count/all", None),
    ],
)
def test_every_metric_knows_its_direction(key, higher_is_better):
    assert metric_direction(key) is higher_is_better
