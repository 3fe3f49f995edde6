import dataclasses
import math
import warnings

import pytest
import torch

from tests.eval_examples import make_example_batch
from tryon.eval import Evaluator, EvalWeights


class TinyInception(torch.nn.Module):
    """Stands in for the TorchScript FID Inception: same call, uint8 in, (N, D) features out."""

    def forward(self, images: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        return torch.nn.functional.adaptive_avg_pool2d(images.float() / 255, 2).flatten(1)


@pytest.fixture(scope="module")
def inception_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "inception-2015-12-05.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is deprecated; the real file is one
        torch.jit.save(torch.jit.script(TinyInception()), str(path))
    return path


def evaluate(weights, batches):
    evaluator = Evaluator(weights=weights, device="cpu", cases_per_group=1)
    for batch in batches:
        evaluator.add(batch)
    return evaluator.result()


REGION_METRICS = ("paired/ssim", "paired/psnr", "paired/l1", "unpaired/ssim", "unpaired/psnr", "unpaired/l1")


def test_metrics_cover_model_baseline_regions_and_every_level(inception_file):
    batches = [make_example_batch(6, seed=0), make_example_batch(6, seed=1, first=6)]
    result = evaluate(EvalWeights(inception=inception_file), batches)
    metrics = result.metrics
    assert all(
        isinstance(key, str) and isinstance(value, float) and math.isfinite(value)
        for key, value in metrics.items()
    )
    keys = [f"{name}/{region}" for name in REGION_METRICS for region in ("full", "changed")] + ["warp/iou"]
    for key in keys:
        for system in ("", "baseline/"):
            assert f"{system}{key}" in metrics
            assert all(f"{system}{key}/{level}" in metrics for level in ("easy", "medium", "hard"))
    assert not {"paired/ssim", "paired/ssim/hard", "unpaired/l1"} & set(metrics)  # every one names its region
    assert {"layout/miou", "layout/miou/hard", "layout/iou/arms", "layout/iou/upper_clothes"} <= set(metrics)
    assert not any(key.startswith("baseline/layout") for key in metrics)  # the baseline predicts no layout
    assert (
        metrics["count/all"] == 12
        and metrics["count/easy"] + metrics["count/medium"] + metrics["count/hard"] == 12
    )
    assert result.notes["paired/lpips"].startswith("not available:")
    # 12 unpaired try-ons are too few for FID and KID: no number, a note that says so.
    assert not any("fid" in key or "kid" in key for key in metrics)
    assert result.notes["unpaired/fid"] == result.notes["unpaired/kid"]
    assert result.notes["unpaired/fid"].startswith("too few images (12 < 50)")
    assert set(result.notes) == {"paired/lpips", "unpaired/fid", "unpaired/kid"}
    assert [grid.metric for grid in result.grids] == ["paired/ssim/changed", "unpaired/ssim/changed"]
    assert len(result.grids[0].cases) == 3 and len(result.grids[0].cases[0].panels) == 6


def test_fid_and_kid_are_given_from_enough_images(inception_file):
    result = evaluate(EvalWeights(inception=inception_file), [make_example_batch(51, height=32, width=24)])
    assert {"unpaired/fid", "unpaired/kid", "baseline/unpaired/fid"} <= set(result.metrics)
    assert "unpaired/fid/hard" not in result.metrics  # 17 samples per level
    assert "unpaired/fid" not in result.notes


def test_the_samples_table_has_a_row_per_sample_and_the_metrics_are_its_column_means():
    batches = [make_example_batch(6, seed=0), make_example_batch(5, seed=1, first=6)]
    result = evaluate(EvalWeights(), batches)
    table = result.samples
    assert len(table) == 11 and table["name"].is_unique
    assert list(table.columns[:6]) == ["name", "garment", "difficulty", "paired", "unpaired", "finite_outputs"]
    assert table["paired"].all() and table["unpaired"].all()
    assert {"paired/ssim/changed", "baseline/unpaired/l1/full", "warp/iou", "baseline/finite_outputs"} <= set(
        table
    )
    for key in ("paired/ssim/changed", "baseline/unpaired/l1/changed", "warp/iou"):
        assert result.metrics[key] == pytest.approx(table[key].mean())
        hard = table[table["difficulty"] == "hard"]
        assert result.metrics[f"{key}/hard"] == pytest.approx(hard[key].mean())


def test_a_better_model_scores_better():
    good = evaluate(EvalWeights(), [make_example_batch(6, noise=0.02)]).metrics
    bad = evaluate(EvalWeights(), [make_example_batch(6, noise=0.3)]).metrics
    for key in ("paired/ssim/changed", "unpaired/ssim/changed", "layout/miou", "layout/iou/arms", "warp/iou"):
        assert good[key] > bad[key], key
    assert good["paired/l1/changed"] < bad["paired/l1/changed"]


def test_outputs_that_are_not_finite_make_the_metric_nan_instead_of_vanishing():
    batch = make_example_batch(6)
    tryon = batch.tryon.clone()
    tryon[4, :, 0, 0] = float("nan")  # one pixel of one hard sample
    result = evaluate(EvalWeights(), [dataclasses.replace(batch, tryon=tryon)])
    metrics = result.metrics
    assert math.isnan(metrics["paired/ssim/changed"]) and math.isnan(metrics["paired/l1/full/medium"])
    assert math.isnan(metrics["warp/iou"])  # every metric over the sample: its outputs are suspect
    assert math.isfinite(metrics["paired/ssim/changed/easy"])  # levels without it are unaffected
    assert math.isfinite(metrics["baseline/paired/ssim/changed"])
    assert list(result.samples["finite_outputs"]) == [True] * 4 + [False, True]
    assert result.notes["model outputs"].startswith("not finite (NaN or infinity) in 1 of 6 samples")


def test_missing_weights_are_reported_not_computed(tmp_path):
    missing = tmp_path / "nowhere" / "inception-2015-12-05.pt"
    result = evaluate(EvalWeights(inception=missing), [make_example_batch(3)])
    for name in ("unpaired/fid", "unpaired/kid"):
        assert result.notes[name] == f"not computed: weights not found at {missing}"
        assert not any(key.startswith((name, f"baseline/{name}")) for key in result.metrics)


def test_a_weights_file_that_is_not_torchscript_is_reported_not_available(tmp_path):
    bogus = tmp_path / "inception-2015-12-05.pt"
    torch.save({"weight": torch.zeros(1)}, bogus)
    result = evaluate(EvalWeights(inception=bogus), [make_example_batch(3)])
    assert result.notes["unpaired/fid"].startswith(f"not available: {bogus} is not a TorchScript module")


def test_a_split_without_unpaired_data_says_so(tmp_path):
    batch = dataclasses.replace(
        make_example_batch(3),
        unpaired_tryon=None,
        unpaired_garment=None,
        unpaired_garment_mask=None,
        unpaired_target=None,
        unpaired_changed_region=None,
    )
    result = evaluate(EvalWeights(inception=tmp_path / "missing.pt"), [batch])
    assert result.notes["unpaired/ssim"].startswith("not computed: no batch carried unpaired ground truth")
    assert not any(key.startswith(("unpaired/", "baseline/unpaired/")) for key in result.metrics)
    assert not any(column.startswith(("unpaired/", "baseline/unpaired/")) for column in result.samples)
    assert [grid.metric for grid in result.grids] == ["paired/ssim/changed"]


def test_batches_with_inconsistent_shapes_are_refused():
    batch = make_example_batch(2)
    with pytest.raises(ValueError, match=r"EvalBatch\.tryon holds 1 samples"):
        dataclasses.replace(batch, tryon=batch.tryon[:1])


def test_a_person_in_several_pairs_has_one_row_per_pair_named_by_its_garment():
    batch = make_example_batch(4)
    one_avatar = dataclasses.replace(batch, names=("avatar.jpg",) * 4)
    table = evaluate(EvalWeights(), [one_avatar]).samples
    assert list(table["name"]) == ["avatar.jpg"] * 4
    assert list(table["garment"]) == list(batch.garment_names)
    assert not table.duplicated(["name", "garment"]).any()


def test_garment_names_must_match_the_batch():
    with pytest.raises(ValueError, match="garment_names holds 2 names, names hold 4"):
        dataclasses.replace(make_example_batch(4), garment_names=("a.jpg", "b.jpg"))
