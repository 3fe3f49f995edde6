"""`tryon evaluate` on pairs whose garment is not the person's own (VITON's test_pairs.txt): paired
metrics only where the garment is the one the person wears, the others scored without ground truth."""

from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from tests.helpers import TINY
from tests.integration.test_cli_inference import write_checkpoint
from tests.unit.test_eval_evaluator import TinyInception
from tryon.cli import app
from tryon.data.layout import DatasetLayout, Pair, read_pairs, read_unpaired, write_pairs
from tryon.data.synthetic import generate_dataset

runner = CliRunner()

MODEL_SIDE_PAIRED = ("paired/", "warp/", "layout/", "baseline/paired/", "baseline/warp/")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_checkpoint(tmp_path_factory.mktemp("ckpt") / "checkpoint.pt")


def evaluate(checkpoint, data, out, *extra):
    result = runner.invoke(
        app, ["evaluate", "--checkpoint", str(checkpoint), "--data", str(data), "--out", str(out), "--no-progress", *extra]
    )
    assert result.exit_code == 0, result.output
    return json.loads((out / "metrics.json").read_text()), pd.read_csv(out / "samples.csv"), result.output


@pytest.mark.slow
def test_viton_unpaired_pairs_get_fid_and_kid_and_no_paired_metric(tmp_path, checkpoint):
    data = tmp_path / "viton"
    generate_dataset(data, n_train=2, n_test=52, resolution=TINY, seed=3, workers=1)
    layout = DatasetLayout(data, "test")
    persons = [pair.person for pair in read_pairs(layout)]
    garments = [pair.garment for pair in read_pairs(layout)]
    # VITON's test split: each person with the next person's garment, and no ground truth for it.
    write_pairs(layout.pairs_file, [Pair(p, g) for p, g in zip(persons, garments[1:] + garments[:1], strict=True)])
    shutil.rmtree(layout.unpaired_gt_dir)
    layout.unpaired_file.unlink()
    (data / "synth_manifest.json").unlink()
    inception = tmp_path / "inception-2015-12-05.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(TinyInception()), str(inception))

    metrics, samples, output = evaluate(checkpoint, data, tmp_path / "eval", "--inception", str(inception))
    assert metrics["count/all"] == metrics["count/unpaired"] == 52 and metrics["count/paired"] == 0
    assert not [key for key in metrics if key.startswith(MODEL_SIDE_PAIRED)]
    for key in ("unpaired/fid", "unpaired/kid", "baseline/unpaired/fid", "baseline/unpaired/kid"):
        assert np.isfinite(metrics[key]), key
    assert not [key for key in metrics if key.startswith(("unpaired/ssim", "unpaired/l1"))]  # no ground truth
    assert "paired/ssim: not computed: no batch carried paired try-ons" in output
    assert "52 samples, 0 with their own garment (paired metrics), 52 with another garment" in output
    assert samples["unpaired"].all() and not samples["paired"].any() and "paired/ssim/changed" not in samples
    report = (tmp_path / "eval" / "report.html").read_text()
    assert "0 paired" in report and "52 unpaired" in report and "VITON naming" in report


def test_paired_metrics_only_where_the_garment_is_the_persons_own(tiny_dataset, tmp_path, checkpoint):
    data = tmp_path / "mixed"
    shutil.copytree(tiny_dataset, data)
    layout = DatasetLayout(data, "test")
    own = read_pairs(layout)[:3]
    other = [pair for pair in read_unpaired(layout) if pair.person not in {p.person for p in own}]
    write_pairs(layout.pairs_file, own + other)  # the others have synthetic ground truth

    metrics, samples, _ = evaluate(checkpoint, data, tmp_path / "eval")
    assert (metrics["count/all"], metrics["count/paired"], metrics["count/unpaired"]) == (6, 3, 6)
    paired_rows = samples[samples["paired"]]
    assert sorted(paired_rows["name"]) == sorted(pair.person for pair in own)
    assert samples.loc[~samples["paired"], "paired/ssim/changed"].isna().all()
    for key in ("paired/ssim/changed", "warp/iou", "baseline/paired/l1/full"):
        assert metrics[key] == pytest.approx(paired_rows[key].mean()), key
    # Every sample has an unpaired try-on judged against its ground truth: the three own pairs
    # with their synthetic unpaired garment, the three others with theirs.
    assert samples["unpaired/ssim/changed"].notna().all()
    assert metrics["unpaired/ssim/changed"] == pytest.approx(samples["unpaired/ssim/changed"].mean())

    forced, forced_samples, _ = evaluate(checkpoint, data, tmp_path / "forced", "--pairs-kind", "unpaired")
    assert forced["count/paired"] == 0 and not [key for key in forced if key.startswith(MODEL_SIDE_PAIRED)]
    assert forced_samples["unpaired/ssim/changed"].notna().sum() == 3  # only the pairs the ground truth shows
