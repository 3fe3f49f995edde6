"""Small builders shared by tests."""

from __future__ import annotations

from tryon.config import ModelConfig, Resolution

TINY = Resolution(64, 48)


def tiny_model_config(resolution: Resolution = TINY) -> ModelConfig:
    """The default preset narrowed so that a CPU forward pass takes milliseconds."""
    return ModelConfig.from_preset("default", resolution, base_width=8, max_width=16, depth=3, tps_levels=3)
