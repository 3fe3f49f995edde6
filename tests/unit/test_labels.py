import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from tryon.cli import app
from tryon.labels import (
    ATR_TO_ACGPN,
    CIHP_TO_ACGPN,
    LIP_TO_ACGPN,
    NUM_KEYPOINTS,
    NUM_LABELS,
    PARSER_CLASSES,
    PARSER_REMAPS,
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
    ("cihp", CIHP_TO_ACGPN, 14, Label.LEFT_ARM),
    ("lip", LIP_TO_ACGPN, 13, Label.FACE),
    ("atr", ATR_TO_ACGPN, 15, Label.RIGHT_ARM),
    ("atr", ATR_TO_ACGPN, 6, Label.PANTS),
])
def test_remaps_send_parser_classes_to_acgpn_ids(parser, table, source_id, expected):
    parsing = np.full((4, 3), source_id, dtype=np.uint8)
    assert (remap_parsing(parsing, parser) == expected).all()
    assert {int(v) for v in table} <= VALID_IDS


def test_remap_tables_cover_every_parser_class():
    assert len(LIP_TO_ACGPN) == 20 and len(ATR_TO_ACGPN) == 18
    assert remap_parsing(np.arange(20, dtype=np.uint8), "lip").tolist()[14:16] == [Label.LEFT_ARM, Label.RIGHT_ARM]


def test_remap_refuses_ids_outside_the_parser_table_and_unknown_parsers():
    with pytest.raises(ValueError, match=r"\[18, 19\].*atr"):
        remap_parsing(np.array([[0, 18, 19]], dtype=np.uint8), "atr")
    with pytest.raises(ValueError, match="unknown parser"):
        remap_parsing(np.zeros((2, 2), dtype=np.uint8), "deeplab")


# The parsers' published class lists, in id order.
# LIP and ATR: Self-Correction-Human-Parsing (PeikeLi / GoGoDuck912), simple_extractor.py, `dataset_settings`.
PUBLISHED_LIP = (
    "Background", "Hat", "Hair", "Glove", "Sunglasses", "Upper-clothes", "Dress", "Coat", "Socks", "Pants",
    "Jumpsuits", "Scarf", "Skirt", "Face", "Left-arm", "Right-arm", "Left-leg", "Right-leg", "Left-shoe",
    "Right-shoe",
)  # fmt: skip
PUBLISHED_ATR = (
    "Background", "Hat", "Hair", "Sunglasses", "Upper-clothes", "Skirt", "Pants", "Dress", "Belt", "Left-shoe",
    "Right-shoe", "Face", "Left-leg", "Right-leg", "Left-arm", "Right-arm", "Bag", "Scarf",
)  # fmt: skip
# CIHP: Engineering-Course/CIHP_PGN, evaluation/test_inst_part_ap.py, `CLASSES` (spelled as published).
PUBLISHED_CIHP = (
    "background", "hat", "hair", "glove", "sunglasses", "upperclothes", "dress", "coat", "socks", "pants",
    "tosor-skin", "scarf", "skirt", "face", "leftArm", "rightArm", "leftLeg", "rightLeg", "leftShoe", "rightShoe",
)  # fmt: skip


def same_class(ours: str, published: str) -> bool:
    """Class names equal up to case, hyphens and the published CIHP typo ("tosor")."""
    def key(name: str) -> str:
        return name.lower().replace("-", "").replace("tosor", "torso")

    return key(ours) == key(published)


# What each class must become, by the class's meaning; a table that maps one class elsewhere fails.
EXPECTED_ACGPN = {
    "background": Label.BACKGROUND,
    "hat": Label.HAIR,
    "hair": Label.HAIR,
    "glove": Label.NOISE,
    "sunglasses": Label.FACE,
    "upperclothes": Label.UPPER_CLOTHES,
    "dress": Label.UPPER_CLOTHES,
    "coat": Label.UPPER_CLOTHES,
    "socks": Label.PANTS,
    "pants": Label.PANTS,
    "jumpsuits": Label.UPPER_CLOTHES,
    "torsoskin": Label.NOISE,
    "scarf": Label.NOISE,
    "skirt": Label.PANTS,
    "face": Label.FACE,
    "leftarm": Label.LEFT_ARM,
    "rightarm": Label.RIGHT_ARM,
    "leftleg": Label.LEFT_LEG,
    "rightleg": Label.RIGHT_LEG,
    "leftshoe": Label.LEFT_SHOE,
    "rightshoe": Label.RIGHT_SHOE,
    "belt": Label.NOISE,
    "bag": Label.NOISE,
}


@pytest.mark.parametrize(("parser", "published"), [
    ("lip", PUBLISHED_LIP), ("cihp", PUBLISHED_CIHP), ("atr", PUBLISHED_ATR),
])
def test_every_parser_class_matches_the_published_list_and_maps_by_its_meaning(parser, published):
    table = PARSER_CLASSES[parser]
    assert len(table) == len(published) == len(PARSER_REMAPS[parser])
    for class_id, ((name, label), published_name) in enumerate(zip(table, published, strict=True)):
        assert same_class(name, published_name), f"{parser} id {class_id}: ours {name!r}, published {published_name!r}"
        meaning = published_name.lower().replace("-", "").replace("tosor", "torso")
        assert label == EXPECTED_ACGPN[meaning], f"{parser} id {class_id} ({published_name}) becomes {label!r}"
    parsing = np.arange(len(published), dtype=np.uint8)[None]
    assert remap_parsing(parsing, parser)[0].tolist() == [int(label) for _, label in table]


def test_cihp_torso_skin_never_becomes_upper_clothes_while_lip_jumpsuits_do():
    parsing = np.full((2, 3), 10, dtype=np.uint8)
    assert (remap_parsing(parsing, "cihp") == Label.NOISE).all()
    assert (remap_parsing(parsing, "lip") == Label.UPPER_CLOTHES).all()
    assert CIHP_TO_ACGPN[10] != Label.UPPER_CLOTHES
    # The fused layout lets G1 decide whether a new top covers the skin, as for any garment region.
    assert fuse_layout(remap_parsing(parsing, "cihp")).tolist() == [[Label.UPPER_CLOTHES] * 3] * 2


def test_remap_cli_writes_acgpn_ids_and_refuses_unknown_ids_and_colour_pictures(tmp_path):
    src, dst = tmp_path / "parsing", tmp_path / "acgpn"
    src.mkdir()
    Image.fromarray(np.array([[0, 10, 14], [15, 5, 19]], dtype=np.uint8), mode="L").save(src / "a.png")
    Image.fromarray(np.array([[0, 20]], dtype=np.uint8), mode="L").save(src / "b.png")
    Image.fromarray(np.zeros((2, 2, 3), dtype=np.uint8)).save(src / "c.png")
    result = CliRunner().invoke(app, ["data", "remap", str(src), str(dst), "--parser", "cihp"])
    assert result.exit_code == 1
    assert np.asarray(Image.open(dst / "a.png")).tolist() == [
        [Label.BACKGROUND, Label.NOISE, Label.LEFT_ARM],
        [Label.RIGHT_ARM, Label.UPPER_CLOTHES, Label.RIGHT_SHOE],
    ]
    assert "parsing maps: 1 added, 0 unchanged, 2 refused" in result.output
    assert f"refused {src / 'b.png'}: unknown label ids" in result.output and "[20]" in result.output
    assert f"refused {src / 'c.png'}: mode RGB" in result.output
    assert sorted(p.name for p in dst.iterdir()) == ["a.png"]  # nothing half-written, no scratch left
    again = CliRunner().invoke(app, ["data", "remap", str(src), str(dst), "--parser", "cihp"])
    assert "0 added, 1 unchanged" in again.output


def test_remap_cli_refuses_an_unknown_parser_in_one_line(tmp_path):
    result = CliRunner().invoke(app, ["data", "remap", str(tmp_path), str(tmp_path / "out"), "--parser", "deeplab"])
    assert result.exit_code == 2 and "lip, cihp, atr" in result.output
