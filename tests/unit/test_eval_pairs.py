"""Which pairs of a split are judged against the photo: the person's own garment only."""

from __future__ import annotations

import json

import pytest

from tryon.data.layout import DatasetLayout, Pair
from tryon.eval.pairs import classify_pairs, wears_by_name

VITON_PAIRED = [Pair("000001_0.jpg", "000001_1.jpg"), Pair("000002_0.jpg", "000002_1.jpg")]
VITON_UNPAIRED = [Pair("000001_0.jpg", "000002_1.jpg"), Pair("000002_0.jpg", "000001_1.jpg")]


def test_viton_naming_decides_without_a_manifest(tmp_path):
    layout = DatasetLayout(tmp_path, "test")
    kinds = classify_pairs(layout, VITON_PAIRED + VITON_UNPAIRED)
    assert kinds.paired == tuple(VITON_PAIRED) and kinds.unpaired == tuple(VITON_UNPAIRED)
    assert "VITON naming" in kinds.decided_by
    # VITON-HD names the person and the garment alike; other names never match by accident.
    assert wears_by_name(Pair("00012_00.jpg", "00012_00.jpg"))
    assert not wears_by_name(Pair("00012_00.jpg", "01234_00.jpg"))
    assert not wears_by_name(Pair("alice.jpg", "shirt.jpg"))
    assert not wears_by_name(Pair("000010_0.jpg", "000001_0.jpg"))


def test_the_synthetic_manifest_names_the_worn_garment(tmp_path):
    manifest = {
        "samples": {
            "test": [{"person": "a.jpg", "garment": "red.jpg"}, {"person": "b.jpg", "garment": "blue.jpg"}]
        }
    }
    (tmp_path / "synth_manifest.json").write_text(json.dumps(manifest))
    pairs = [
        Pair("a.jpg", "red.jpg"),
        Pair("a.jpg", "blue.jpg"),
        Pair("b.jpg", "blue.jpg"),
        Pair("c.jpg", "c.jpg"),
    ]
    kinds = classify_pairs(DatasetLayout(tmp_path, "test"), pairs)
    assert kinds.paired == (pairs[0], pairs[2]) and kinds.unpaired == (pairs[1], pairs[3])
    assert "synth_manifest.json" in kinds.decided_by


def test_the_option_decides_for_every_pair_and_is_checked(tmp_path):
    layout = DatasetLayout(tmp_path, "test")
    pairs = VITON_PAIRED + VITON_UNPAIRED
    assert classify_pairs(layout, pairs, kind="paired").paired == tuple(pairs)
    assert classify_pairs(layout, pairs, kind="unpaired").unpaired == tuple(pairs)
    with pytest.raises(ValueError, match="'both' is not one of"):
        classify_pairs(layout, pairs, kind="both")


def test_a_broken_manifest_is_refused_naming_it(tmp_path):
    (tmp_path / "synth_manifest.json").write_text('{"samples": {"train": []}}')
    with pytest.raises(ValueError, match=r"synth_manifest.json: no readable samples.test.*--pairs-kind"):
        classify_pairs(DatasetLayout(tmp_path, "test"), VITON_PAIRED)
