"""Batch try-on over files of a dataset: the library side of `tryon infer`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from tryon.checkpoint import require_finished_file
from tryon.data.dataset import TryOnDataset, collate, tensor_to_image
from tryon.data.layout import Pair, write_rgb
from tryon.device import resolve_device
from tryon.pipeline import TryOnPipeline
from tryon.progress import progress_bar


@dataclass(frozen=True)
class InferenceResult:
    """One written try-on image."""

    pair: Pair
    path: Path


def load_trained_pipeline(checkpoint: Path, *, device: str | torch.device | None = None) -> TryOnPipeline:
    """The pipeline of a checkpoint whose fusion stage finished, on `device` (CUDA when available).

    A checkpoint of an earlier stage, or of a fusion stage stopped before its end, is refused
    naming the stage (`tryon.checkpoint.UnfinishedCheckpointError`) before its weights are loaded:
    its G3 is untrained or half trained, and its output is never presented as a try-on.
    """
    require_finished_file(checkpoint)
    return TryOnPipeline.from_checkpoint(checkpoint, device=resolve_device(device))


def output_name(pair: Pair) -> str:
    """`PERSON__GARMENT.png`: unique per pair, readable in a file browser."""
    return f"{Path(pair.person).stem}__{Path(pair.garment).stem}.png"


def check_pairs_exist(dataset: TryOnDataset) -> None:
    """Refuse up front, naming every missing file, instead of failing halfway through a batch."""
    layout = dataset.layout
    missing = [
        str(path)
        for pair in dataset.pairs
        for path in (
            layout.person_image(pair.person),
            layout.label(pair.person),
            layout.pose(pair.person),
            layout.garment(pair.garment),
            layout.garment_mask(pair.garment),
        )
        if not path.is_file()
    ]
    if missing:
        raise FileNotFoundError("missing input files: " + ", ".join(sorted(set(missing))))


def try_on_images(
    pipeline: TryOnPipeline,
    dataset: TryOnDataset,
    *,
    batch_size: int = 8,
    workers: int = 0,
    progress: bool = False,  # a progress bar over the pairs (only ever on a terminal)
) -> Iterator[tuple[Pair, np.ndarray]]:
    """Each pair of `dataset` with its try-on as an (H, W, 3) uint8 RGB image, in order."""
    check_pairs_exist(dataset)
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, collate_fn=collate)
    pairs = iter(dataset.pairs)
    with progress_bar(total=len(dataset), desc="try-on", unit="pair", enabled=progress) as bar:
        for batch in loader:
            batch = batch.to(pipeline.device)
            person = pipeline.represent(batch.image, batch.label, batch.keypoints)
            output = pipeline(person, batch.garment, batch.garment_mask)
            for image in output.image:
                yield next(pairs), tensor_to_image(image)
            bar.update(len(batch))


def try_on_pairs(
    pipeline: TryOnPipeline,
    dataset: TryOnDataset,
    *,
    out_dir: Path,
    batch_size: int = 8,
    workers: int = 0,
    progress: bool = False,  # a progress bar over the pairs (only ever on a terminal)
) -> list[InferenceResult]:
    """Run the pipeline over every pair of `dataset` and write one PNG per pair into `out_dir`."""
    results = []
    for pair, image in try_on_images(
        pipeline, dataset, batch_size=batch_size, workers=workers, progress=progress
    ):
        path = Path(out_dir) / output_name(pair)
        write_rgb(path, image)
        results.append(InferenceResult(pair=pair, path=path))
    return results


def try_on_pair(pipeline: TryOnPipeline, dataset: TryOnDataset, *, out: Path) -> Path:
    """The try-on of the one pair of `dataset`, written atomically to `out` (no other file is left)."""
    if len(dataset) != 1:
        raise ValueError(f"try_on_pair needs a dataset of one pair, got {len(dataset)}")
    ((_, image),) = try_on_images(pipeline, dataset, batch_size=1)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_rgb(out, image)
    return out
