"""The resumable, per-rank sharded data order and the device-side loss statistics."""

from __future__ import annotations

import json

import torch

from tryon.train.data import ResumableSampler
from tryon.train.distributed import DistributedContext
from tryon.train.stats import LossStats, StatsWriter


def order(*, rank: int, world: int, epoch: int, start: int = 0, size: int = 10) -> list[int]:
    sampler = ResumableSampler(list(range(size)), rank=rank, world_size=world, seed=3)
    sampler.set_position(epoch, start)
    return list(sampler)


def test_ranks_split_one_permutation_per_epoch_into_equal_shards():
    single = order(rank=0, world=1, epoch=0)
    assert sorted(single) == list(range(10))
    shards = [order(rank=rank, world=2, epoch=0) for rank in range(2)]
    assert [index for pair in zip(*shards, strict=True) for index in pair] == single
    assert order(rank=0, world=1, epoch=1) != single
    assert len(order(rank=0, world=3, epoch=0)) == 3  # drop_last keeps the shards equal


def test_a_resumed_epoch_continues_at_its_position():
    full = order(rank=1, world=2, epoch=4)
    assert order(rank=1, world=2, epoch=4, start=2) == full[2:]
    sampler = ResumableSampler(list(range(10)), rank=0, world_size=1, seed=3)
    sampler.set_position(0, 7)
    assert len(sampler) == 3


def test_loss_stats_stay_on_the_device_until_collected_and_survive_a_checkpoint():
    stats = LossStats()
    for value in (1.0, 3.0):
        stats.add("G1/ce", torch.tensor(value, dtype=torch.bfloat16))
    stats.add("D1/real", torch.tensor(0.5))
    restored = LossStats()
    restored.load_state_dict(stats.state_dict())
    assert restored.collect(DistributedContext()) == {"D1/real": 0.5, "G1/ce": 2.0}
    assert restored.collect(DistributedContext()) == {}


def test_a_resumed_run_drops_the_stats_lines_it_will_recompute(tmp_path):
    (tmp_path / "stats.jsonl").write_text(
        "".join(json.dumps({"step": step, "loss": step}) + "\n" for step in (2, 4, 6)) + '{"step": 8, "lo'
    )
    writer = StatsWriter(tmp_path, enabled=True, resume_step=4)
    writer.write({"stage": "sgm", "step": 6, "loss": 60.0})
    writer.close()
    lines = [json.loads(line) for line in (tmp_path / "stats.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [2, 4, 6] and lines[-1]["loss"] == 60.0
    assert any((tmp_path / "tensorboard").iterdir())


def test_a_fresh_run_starts_a_new_stats_file(tmp_path):
    (tmp_path / "stats.jsonl").write_text('{"step": 1}\n')
    StatsWriter(tmp_path, enabled=True, resume_step=None).close()
    assert not (tmp_path / "stats.jsonl").exists()


def test_other_ranks_write_nothing(tmp_path):
    writer = StatsWriter(tmp_path, enabled=False, resume_step=None)
    writer.write({"step": 1})
    writer.close()
    assert list(tmp_path.iterdir()) == []
