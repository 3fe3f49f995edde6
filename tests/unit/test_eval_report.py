import base64
import csv
import io
import json
import shutil
import subprocess
from html.parser import HTMLParser

import pytest
from PIL import Image

from tryon.eval import Evaluator, EvalWeights, write_report
from tryon.eval.curves import read_training_stats
from tests.eval_examples import make_example_batch


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
    names = {path.name for path in (report.metrics_json, report.report_html, *report.grids, *report.figures)}
    assert names == {
        "metrics.json",
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
    assert {"paired/ssim", "paired/ssim/hard", "baseline/unpaired/ssim", "layout/miou"} <= set(metrics)


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
