"""Image grids of the try-on as the EMA generators do it now, for people watching a run."""

from __future__ import annotations

import numpy as np
import torch

from tryon.config import ModelConfig
from tryon.data.dataset import TryOnBatch, TryOnDataset, collate, tensor_to_image
from tryon.nets import TryOnGenerators
from tryon.pipeline import TryOnPipeline
from tryon.visual import colorize_layout, contact_sheet

GRID_TITLES = ("person", "garment", "layout", "warped", "try-on", "target")


def grid_batch(dataset: TryOnDataset, samples: int) -> tuple[TryOnBatch, bool]:
    """The first `samples` pairs of the dataset, fixed for the whole run so grids compare over time.

    Returns the batch and whether it shows unpaired try-ons (synthetic data ships the person wearing
    another garment, so the try-on of that garment has a ground truth); otherwise the person's own
    garment is put back on, and the target is the person image.
    """
    unpaired = dataset.layout.unpaired_file.exists()
    source = TryOnDataset(
        dataset.layout.root,
        phase=dataset.layout.phase,
        resolution=dataset.resolution,
        with_unpaired=unpaired,
        pairs=dataset.pairs[:samples],
    )
    return collate([source[index] for index in range(len(source))]), unpaired


@torch.no_grad()
def render_grid(
    generators: TryOnGenerators,
    batch: TryOnBatch,
    *,
    unpaired: bool,
    config: ModelConfig,
    seed: int,
    channels_last: bool,
) -> np.ndarray:
    """One row per sample: person, garment, composed layout, refined warped garment, try-on, target.

    Runs the inference pipeline with a fixed noise seed and without touching the global RNG, so a
    grid never changes the course of training. `channels_last` must be the generators' memory
    format, which the pipeline would otherwise change in place. The networks run in fp32 whatever
    the training precision, so that grids of one run compare across machines.
    """
    device = next(generators.parameters()).device
    batch = batch.to(device)
    garment, garment_mask, target = batch.garment, batch.garment_mask, batch.image
    if unpaired:
        garment, garment_mask, target = (
            batch.unpaired_garment,
            batch.unpaired_garment_mask,
            batch.unpaired_target,
        )
    pipeline = TryOnPipeline(generators, config, precision="fp32", channels_last=channels_last)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        person = pipeline.represent(batch.image, batch.label, batch.keypoints)
        output = pipeline(person, garment, garment_mask)
    rows = []
    for index in range(len(batch)):
        rows.append(
            [
                tensor_to_image(batch.image[index]),
                tensor_to_image(garment[index]),
                colorize_layout(output.composed_labels[index, 0].cpu().numpy()),
                tensor_to_image(output.warp.refined_garment[index]),
                tensor_to_image(output.image[index]),
                tensor_to_image(target[index]),
            ]
        )
    return contact_sheet(rows, titles=GRID_TITLES)
