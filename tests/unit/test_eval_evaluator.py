import dataclasses
import math
import warnings

import pytest
import torch

from tryon.eval import Evaluator, EvalWeights
from tests.eval_examples import make_example_batch


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


def test_metrics_cover_model_baseline_and_every_level(inception_file):
    batches = [make_example_batch(6, seed=0), make_example_batch(6, seed=1, first=6)]
    result = evaluate(EvalWeights(inception=inception_file), batches)
    metrics = result.metrics
    assert all(
        isinstance(key, str) and isinstance(value, float) and math.isfinite(value)
        for key, value in metrics.items()
    )
    for name in (
        "paired/ssim",
        "paired/psnr",
        "paired/l1",
        "unpaired/ssim",
        "unpaired/l1",
        "warp/iou",
        "unpaired/fid",
    ):
        for system in ("", "baseline/"):
            assert f"{system}{name}" in metrics
            assert all(f"{system}{name}/{level}" in metrics for level in ("easy", "medium", "hard"))
    assert (
        "unpaired/kid" in metrics and "layout/miou/hard" in metrics and "layout/iou/upper_clothes" in metrics
    )
    assert not any(key.startswith("baseline/layout") for key in metrics)  # the baseline predicts no layout
    assert (
        metrics["count/all"] == 12
        and metrics["count/easy"] + metrics["count/medium"] + metrics["count/hard"] == 12
    )
    assert set(result.notes) == {"paired/lpips"}
    assert result.notes["paired/lpips"].startswith("not available:")
    assert [grid.metric for grid in result.grids] == ["paired/ssim", "unpaired/ssim"]
    assert len(result.grids[0].cases) == 3 and len(result.grids[0].cases[0].panels) == 6


def test_a_better_model_scores_better():
    good = evaluate(EvalWeights(), [make_example_batch(6, noise=0.02)]).metrics
    bad = evaluate(EvalWeights(), [make_example_batch(6, noise=0.3)]).metrics
    assert good["paired/ssim"] > bad["paired/ssim"] and good["paired/l1"] < bad["paired/l1"]
    assert good["layout/miou"] > bad["layout/miou"] and good["warp/iou"] > bad["warp/iou"]


def test_missing_weights_are_reported_not_computed(tmp_path):
    missing = tmp_path / "nowhere" / "inception-2015-12-05.pt"
    result = evaluate(EvalWeights(inception=missing), [make_example_batch(3)])
    for name in ("unpaired/fid", "unpaired/kid"):
        assert result.notes[name] == f"not computed: weights not found at {missing}"
        assert not any(key.startswith(name) or key.startswith(f"baseline/{name}") for key in result.metrics)


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
        unpaired_region=None,
    )
    result = evaluate(EvalWeights(inception=tmp_path / "missing.pt"), [batch])
    assert result.notes["unpaired/ssim"].startswith("not computed: no batch carried unpaired ground truth")
    assert not any(key.startswith(("unpaired/", "baseline/unpaired/")) for key in result.metrics)
    assert [grid.metric for grid in result.grids] == ["paired/ssim"]


def test_batches_with_inconsistent_shapes_are_refused():
    batch = make_example_batch(2)
    with pytest.raises(ValueError, match=r"EvalBatch\.tryon holds 1 samples"):
        dataclasses.replace(batch, tryon=batch.tryon[:1])
