"""Batch try-on over files of a dataset: the library side of `tryon infer`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch.utils.data import DataLoader

from tryon.data.dataset import TryOnDataset, collate, tensor_to_image
from tryon.data.layout import Pair, write_rgb
from tryon.pipeline import TryOnPipeline


@dataclass(frozen=True)
class InferenceResult:
    """One written try-on image."""

    pair: Pair
    path: Path


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


def try_on_pairs(
    pipeline: TryOnPipeline,
    dataset: TryOnDataset,
    *,
    out_dir: Path,
    batch_size: int = 8,
    workers: int = 0,
) -> list[InferenceResult]:
    """Run the pipeline over every pair of `dataset` and write one PNG per pair into `out_dir`."""
    check_pairs_exist(dataset)
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, collate_fn=collate)
    results = []
    pairs = iter(dataset.pairs)
    for batch in loader:
        batch = batch.to(pipeline.device)
        person = pipeline.represent(batch.image, batch.label, batch.keypoints)
        output = pipeline(person, batch.garment, batch.garment_mask)
        for image in output.image:
            pair = next(pairs)
            path = Path(out_dir) / output_name(pair)
            write_rgb(path, tensor_to_image(image))
            results.append(InferenceResult(pair=pair, path=path))
    return results

