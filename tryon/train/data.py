"""The training data stream: a per-rank sharded, per-epoch shuffled order that can restart mid-epoch."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from tryon.data.dataset import TryOnBatch, TryOnDataset, collate


class ResumableSampler(DistributedSampler):
    """DistributedSampler (each rank its shard of a per-epoch permutation) that can skip the first
    samples of the rank's shard, so that a resumed run sees exactly the batches it would have seen.

    The permutation depends only on the seed and the epoch; `drop_last` keeps the shards equal.
    """

    def __init__(self, dataset: Dataset, *, rank: int, world_size: int, seed: int) -> None:
        super().__init__(dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=True)
        self.start = 0

    def set_position(self, epoch: int, start: int) -> None:
        """Iterate epoch `epoch` from the `start`-th sample of this rank's shard."""
        self.set_epoch(epoch)
        self.start = start

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(super().__iter__(), self.start, None)

    def __len__(self) -> int:
        return self.num_samples - self.start


class IndexedDataset(Dataset):
    """A TryOnDataset whose samples carry their index (the per-sample noise is derived from it)."""

    def __init__(self, dataset: TryOnDataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[int, dict]:
        return index, self.dataset[index]


def collate_indexed(samples: list[tuple[int, dict]]) -> tuple[Tensor, TryOnBatch]:
    """Stack samples into (indices, TryOnBatch)."""
    return torch.tensor([index for index, _ in samples]), collate([sample for _, sample in samples])


def make_loader(
    dataset: TryOnDataset,
    sampler: ResumableSampler,
    *,
    batch_per_device: int,
    workers: int,
    pin_memory: bool,
) -> DataLoader:
    """A loader of (indices, TryOnBatch) micro-batches in the sampler's order.

    Workers decode images in the background and stay alive across epochs; pinned memory lets the
    copies to the GPU run asynchronously.
    """
    return DataLoader(
        IndexedDataset(dataset),
        batch_size=batch_per_device,
        sampler=sampler,
        num_workers=workers,
        collate_fn=collate_indexed,
        pin_memory=pin_memory,
        drop_last=True,
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None,
    )
