"""Channel counts that are not label or keypoint counts (those live in `tryon.labels`)."""

from __future__ import annotations

RGB = 3
"""Channels of an image: the person, the garment, the skin colour map."""

MASK = 1
"""Channels of a binary mask or of a mask's logits."""
