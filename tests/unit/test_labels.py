import numpy as np
import pytest
import torch

from tryon.labels import (
    ATR_TO_ACGPN,
    LIP_TO_ACGPN,
    NUM_KEYPOINTS,
    NUM_LABELS,
    UNUSED_IDS,
    VALID_IDS,
    Label,
    fuse_layout,
    remap_parsing,
)


def test_label_table_matches_the_acgpn_contract():
    assert NUM_LABELS == 14 and NUM_KEYPOINTS == 18
    assert VALID_IDS == set(range(NUM_LABELS)) - set(UNUSED_IDS)
    assert (Label.UPPER_CLOTHES, Label.LEFT_ARM, Label.FACE, Label.RIGHT_ARM) == (4, 11, 12, 13)


def test_fused_layout_merges_arms_and_noise_into_clothes_for_numpy_and_torch():
    label = np.array([[Label.LEFT_ARM, Label.RIGHT_ARM, Label.NOISE, Label.FACE, Label.PANTS, Label.BACKGROUND]])
    expected = [[Label.UPPER_CLOTHES] * 3 + [Label.FACE, Label.PANTS, Label.BACKGROUND]]
    assert fuse_layout(label).tolist() == expected
    assert fuse_layout(torch.from_numpy(label)).tolist() == expected


@pytest.mark.parametrize(("parser", "table", "source_id", "expected"), [
    ("lip", LIP_TO_ACGPN, 5, Label.UPPER_CLOTHES),
    ("cihp", LIP_TO_ACGPN, 14, Label.LEFT_ARM),
    ("lip", LIP_TO_ACGPN, 13, Label.FACE),
    ("atr", ATR_TO_ACGPN, 15, Label.RIGHT_ARM),
    ("atr", ATR_TO_ACGPN, 6, Label.PANTS),
])
def test_remaps_send_parser_classes_to_acgpn_ids(parser, table, source_id, expected):
    parsing = np.full((4, 3), source_id, dtype=np.uint8)
    assert (remap_parsing(parsing, parser) == expected).all()
    assert set(int(v) for v in table) <= VALID_IDS


def test_remap_tables_cover_every_parser_class():
    assert len(LIP_TO_ACGPN) == 20 and len(ATR_TO_ACGPN) == 18
    assert remap_parsing(np.arange(20, dtype=np.uint8), "lip").tolist()[14:16] == [Label.LEFT_ARM, Label.RIGHT_ARM]


def test_remap_refuses_ids_outside_the_parser_table_and_unknown_parsers():
    with pytest.raises(ValueError, match=r"\[18, 19\].*atr"):
        remap_parsing(np.array([[0, 18, 19]], dtype=np.uint8), "atr")
    with pytest.raises(ValueError, match="unknown parser"):
        remap_parsing(np.zeros((2, 2), dtype=np.uint8), "deeplab")
