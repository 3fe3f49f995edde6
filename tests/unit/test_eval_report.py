import base64
import csv
import dataclasses
import io
import json
import math
import shutil
import subprocess
from html.parser import HTMLParser

import pandas as pd
import pytest
from PIL import Image

from tests.eval_examples import make_example_batch
from tryon.eval import Evaluator, EvalWeights, write_report
from tryon.eval.curves import read_training_stats


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources, self.tags = [], set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        if tag == "img":
            self.sources.append(dict(attrs)["src"])


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    stats = root / "stats.jsonl"
    lines = [
        {"stage": stage, "step": step, "loss/g": 1 / (step + 1), "loss/d": 0.25, "note": "x"}
        for stage in ("sgm", "fusion")
        for step in range(0, 50, 10)
    ]
    stats.write_text("".join(json.dumps(line) + "\n" for line in lines))
    evaluator = Evaluator(weights=EvalWeights(inception=root / "missing.pt"), cases_per_group=2)
    evaluator.add(make_example_batch(6))
    details = {"checkpoint": "models/fusion/last.pt"}
    return write_report(evaluator.result(), out_dir=root / "out", training_stats=[stats], details=details)


def test_every_output_is_written(report):
    paths = (report.metrics_json, report.samples_csv, report.report_html, *report.grids, *report.figures)
    assert {path.name for path in paths} == {
        "metrics.json",
        "samples.csv",
        "report.html",
        "grid_paired.png",
        "grid_unpaired.png",
        "by_difficulty.png",
        "loss_curves.png",
    }
    assert [path.name for path in report.curves_csv] == ["sgm.csv", "fusion.csv"]
    assert all(path.stat().st_size > 0 for path in (*report.grids, *report.figures))


def test_metrics_json_is_flat_key_to_number(report):
    metrics = json.loads(report.metrics_json.read_text())
    assert metrics and all(
        isinstance(key, str) and isinstance(value, int | float) and not isinstance(value, bool)
        for key, value in metrics.items()
    )
    assert {
        "paired/ssim/changed",
        "paired/ssim/full",
        "paired/ssim/changed/hard",
        "baseline/unpaired/ssim/changed",
        "layout/miou",
        "layout/iou/arms",
    } <= set(metrics)


def test_samples_csv_has_a_row_per_sample_and_metrics_json_holds_its_column_means(report):
    samples = pd.read_csv(report.samples_csv)
    metrics = json.loads(report.metrics_json.read_text())
    assert len(samples) == metrics["count/all"] == 6
    assert list(samples.columns[:5]) == ["name", "garment", "difficulty", "paired", "unpaired"]
    columns = [column for column in samples.columns[5:] if not column.endswith("finite_outputs")]
    assert len(columns) == 2 * 13  # 6 image metrics x 2 regions and warp IoU, for model and baseline
    for column in columns:
        assert metrics[column] == pytest.approx(samples[column].mean(), rel=1e-5), column
        for level, rows in samples.groupby("difficulty"):
            assert metrics[f"{column}/{level}"] == pytest.approx(rows[column].mean(), rel=1e-5), column


def test_values_that_are_not_finite_are_left_out_of_metrics_json_and_noted(tmp_path):
    batch = make_example_batch(3)
    tryon = batch.tryon.clone()
    tryon[0] = float("nan")
    evaluator = Evaluator(weights=EvalWeights(inception=tmp_path / "missing.pt"))
    evaluator.add(dataclasses.replace(batch, tryon=tryon))
    result = evaluator.result()
    assert math.isnan(result.metrics["paired/ssim/changed"])
    paths = write_report(result, out_dir=tmp_path / "out")
    metrics = json.loads(paths.metrics_json.read_text())  # strict JSON: no NaN in it
    assert "paired/ssim/changed" not in metrics and "baseline/paired/ssim/changed" in metrics
    page = paths.report_html.read_text(encoding="utf-8")
    assert "not finite (NaN or infinity) in 1 of 3 samples" in page


def test_curves_csv_has_one_column_per_numeric_field(report):
    with report.curves_csv[0].open() as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == ["step", "loss/g", "loss/d"]
    assert [row["step"] for row in rows] == ["0", "10", "20", "30", "40"]


def test_report_html_is_self_contained(report):
    page = report.report_html.read_text(encoding="utf-8")
    assert "http://" not in page and "https://" not in page
    parser = _Images()
    parser.feed(page)
    assert not parser.tags & {"script", "link", "iframe"}
    assert len(parser.sources) == len(report.grids) + len(report.figures)
    for source in parser.sources:
        prefix = "data:image/png;base64,"
        assert source.startswith(prefix)
        with Image.open(io.BytesIO(base64.b64decode(source[len(prefix) :], validate=True))) as image:
            assert image.format == "PNG"
            image.verify()


def test_report_html_says_what_was_not_computed(report):
    page = report.report_html.read_text(encoding="utf-8")
    assert "not computed: weights not found at" in page and "missing.pt" in page
    assert "not available: LPIPS needs torchvision" in page
    assert "naive baseline" in page and "By difficulty" in page
    assert "models/fusion/last.pt" in page


def test_report_html_says_beside_each_number_what_it_compares_and_where(report):
    page = report.report_html.read_text(encoding="utf-8")
    assert (
        "paired SSIM: try-on of the person&#x27;s own garment vs. the photo, over the old garment, arms and "
        "their surroundings" in page
    )
    assert "and wherever the ground truth differs from the photo" in page  # unpaired changed region
    assert "most of these pixels are copies and the score is inflated" in page  # keep_photo, the default
    assert "G1&#x27;s layout (before composition)" in page and "G2&#x27;s worn-garment mask" in page
    assert "Naive baseline: outside the changed region the photo" in page
    assert "samples.csv" in page


def test_a_report_of_a_model_rendering_the_whole_frame_says_so(tmp_path):
    evaluator = Evaluator(weights=EvalWeights(inception=tmp_path / "missing.pt"))
    evaluator.add(make_example_batch(3))
    paths = write_report(evaluator.result(), out_dir=tmp_path / "out", keep_photo=False)
    page = paths.report_html.read_text(encoding="utf-8")
    assert "all of it rendered by G3 (model.keep_photo is off" in page and "score is inflated" not in page


def test_a_bad_statistics_line_names_file_and_line(tmp_path):
    stats = tmp_path / "stats.jsonl"
    stats.write_text('{"stage": "sgm", "step": 1, "loss": 0.5}\n{"step": 2}\n')
    with pytest.raises(ValueError, match=r"stats.jsonl:2: expected an object with a string 'stage'"):
        read_training_stats(stats)


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed")
def test_report_html_renders_in_a_headless_browser(report, tmp_path):
    screenshot = tmp_path / "report.png"
    subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--screenshot={screenshot}",
            "--window-size=1280,2000",
            report.report_html.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    with Image.open(screenshot) as image:
        assert image.size == (1280, 2000)
