"""The `train` section of params.yaml: full-recipe defaults, partial overrides, loud mistakes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tryon.config import TRAINING_STAGES, TrainConfig, load_params, train_from_dict

REPO = Path(__file__).resolve().parents[2]


def test_defaults_are_acgpns_full_recipe():
    config = TrainConfig()
    assert config.stages["sgm"].epochs == 200 and config.stages["sgm"].frozen_after == {"g1": 20}
    assert config.stages["warp"].epochs == 20 and config.stages["fusion"].epochs == 200
    assert (config.lr, config.betas, config.decay_start) == (2e-4, (0.5, 0.999), 0.5)
    weights = config.weights
    assert (weights.layout_ce, weights.garment_bce, weights.tryon_l1, weights.tryon_vgg) == (10, 10, 10, 10)
    assert weights.tryon_feature_matching == 10 and config.vgg_weights is None


def test_a_stage_override_keeps_the_other_stages_and_round_trips(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(
        "train:\n"
        "  stages:\n"
        "    sgm: {max_steps: 30, frozen_after: {g1: 1.5}, budget_minutes: 2}\n"
        "  batch_size: 4\n"
        "  betas: [0.9, 0.99]\n"
        "  weights: {tryon_vgg: 5}\n"
        "  vgg_weights: weights/vgg19.pth\n"
    )
    config = load_params(path).train
    assert config.stages["sgm"].max_steps == 30 and config.stages["sgm"].budget_minutes == 2
    assert config.stages["fusion"].epochs == 200
    assert config.betas == (0.9, 0.99) and config.weights.tryon_vgg == 5 and config.weights.tryon_l1 == 10
    assert config.vgg_weights == Path("weights/vgg19.pth")
    assert train_from_dict(config.to_dict(), where="round trip") == config


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("train:\n  batch_sise: 4\n", "unknown keys.*batch_sise"),
        ("train:\n  stages: {tps: {epochs: 2}}\n", "unknown stages.*tps"),
        ("train:\n  stages: {sgm: {epoch: 2}}\n", "stages.sgm.*unknown keys"),
        ("train:\n  weights: {l1: 2}\n", "weights.*unknown keys"),
        ("train:\n  precision: fp8\n", "precision='fp8'"),
        ("train:\n  gan_loss: wgan\n", "gan_loss"),
        ("train:\n  decay_start: 2\n", "decay_start"),
        ("train:\n  stages: {warp: {max_steps: 0}}\n", "max_steps=0"),
    ],
)
def test_train_section_mistakes_fail_loudly(tmp_path, text, message):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_params(path)


def test_the_repository_params_file_has_a_demo_sized_schedule():
    config = load_params(REPO / "params.yaml").train
    assert set(config.stages) == set(TRAINING_STAGES)
    assert all(stage.budget_minutes is not None for stage in config.stages.values())
    # The demo stops each stage at a few hundred steps (at least 300, the main job's promise).
    assert all(300 <= stage.max_steps <= 1000 for stage in config.stages.values())
