"""The serving benchmarks' own arithmetic: percentiles and rows of bench/serve.py, and the
garments-on-one-avatar throughput of bench/infer.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).resolve().parents[2] / "bench"))  # the scripts import their siblings

import infer
import machine
import serve as bench_serve


def test_percentiles_are_nearest_rank_over_the_successful_requests():
    result = bench_serve.LoadResult(concurrency=4, requests=101, errors=1, seconds=10.0,
                                    latencies=tuple(float(value) for value in range(1, 101)))
    assert (result.percentile(0.5), result.percentile(0.95), result.percentile(0.99)) == (50.0, 95.0, 99.0)
    assert result.throughput == pytest.approx(10.0)  # successes only
    assert bench_serve.row(result, entry="gateway").startswith(
        "| gateway | 4 | 101 | 1 | 10.00 | 50.000 | 95.000 | 99.000 | 50.500 |"
    )


def test_the_inference_table_reports_try_ons_per_second_for_garments_on_one_avatar():
    results = [
        {"preset": "default", "size": "256x192", "batch": batch, "median_s": seconds, "min_s": seconds,
         "max_s": seconds, "precision": "fp32", "gflop_per_tryon": 40.0, "peak_rss_gb": 1.0,
         "memory_format": "contiguous"}
        for batch, seconds in ((1, 0.5), (8, 2.0), (32, 6.4))
    ]
    assert infer.one_avatar_throughput(results) == [
        "- default 256x192 (contiguous), try-ons/s by garments per batch on one avatar: 1: 2.00, 8: 4.00, 32: 5.00."
    ]
    line = infer.row(results[1], reference=results[0], unit=machine.unit_from([0.5]))
    assert "| 0.250 | 0.500 | 4.00 |" in line and line.count("|") == infer.HEADER.splitlines()[0].count("|")
