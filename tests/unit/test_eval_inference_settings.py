"""A checkpoint evaluated with other inference-only model settings (the TPS fit) than it was
trained with: those are applied to the same weights, and any setting training reads is refused."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from tests.helpers import tiny_model_config
from tryon.data.dataset import TryOnDataset, collate
from tryon.eval.run import pipeline_with_inference_settings, with_inference_settings
from tryon.nets import TryOnGenerators
from tryon.pipeline import TryOnPipeline


def test_only_inference_settings_may_differ_from_the_checkpoints():
    config = tiny_model_config()
    assert with_inference_settings(config, {"tps_fit_steps": 0}) == dataclasses.replace(
        config, tps_fit_steps=0
    )
    assert with_inference_settings(config, {}) == config
    with pytest.raises(
        ValueError, match=r"\['tryon_composition_mask'\] shape what the checkpoint was trained"
    ):
        with_inference_settings(config, {"tps_fit_steps": 0, "tryon_composition_mask": False})
    with pytest.raises(ValueError, match=r"\['tps_fit_stpes'\] are not ModelConfig fields"):
        with_inference_settings(config, {"tps_fit_stpes": 0})
    with pytest.raises(ValueError, match="tps_fit_steps=-1 must be at least 0"):
        with_inference_settings(config, {"tps_fit_steps": -1})


def test_the_settings_change_the_try_on_of_the_same_weights(tiny_dataset):
    torch.manual_seed(0)
    config = dataclasses.replace(tiny_model_config(), tps_fit_steps=5)
    fitted = TryOnPipeline(TryOnGenerators.from_config(config), config, precision="fp32")
    unfitted = pipeline_with_inference_settings(fitted, {"tps_fit_steps": 0})
    assert pipeline_with_inference_settings(fitted, {}) is fitted
    assert unfitted.config == dataclasses.replace(config, tps_fit_steps=0)
    assert unfitted.generators.warper.fit.steps == 0 and fitted.generators.warper.fit.steps == 5
    for name, weights in fitted.generators.state_dict().items():
        assert torch.equal(unfitted.generators.state_dict()[name], weights), name

    dataset = TryOnDataset(tiny_dataset, phase="test", resolution=config.resolution)
    batch = collate([dataset[index] for index in range(2)])
    person = fitted.represent(batch.image, batch.label, batch.keypoints)
    torch.manual_seed(0)
    with_fit = fitted(person, batch.garment, batch.garment_mask)
    torch.manual_seed(0)
    without_fit = unfitted(person, batch.garment, batch.garment_mask)
    assert torch.equal(with_fit.layout.labels, without_fit.layout.labels)  # G1 and G2 are the same
    assert not torch.equal(with_fit.warp.control_points, without_fit.warp.control_points)
