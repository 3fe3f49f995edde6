"""Stage lengths, freeze steps, the learning-rate decay, EMA warm-up and batch splitting."""

from __future__ import annotations

import pytest

from tryon.config import StageConfig
from tryon.train.ema import ema_decay
from tryon.train.schedule import linear_decay, stage_schedule
from tryon.train.trainer import batch_split


def test_epochs_and_frozen_after_become_steps():
    schedule = stage_schedule(StageConfig(epochs=200, frozen_after={"g1": 20}), steps_per_epoch=50)
    assert schedule.total_steps == 10_000 and schedule.freeze_steps == {"g1": 1000}
    assert schedule.span("g1") == 1000 and schedule.span("g2") == 10_000
    assert schedule.frozen_at(999) == set() and schedule.frozen_at(1000) == {"g1"}
    assert stage_schedule(StageConfig(epochs=200, max_steps=30), steps_per_epoch=50).total_steps == 30


def test_learning_rate_is_constant_then_decays_linearly_to_zero():
    factor = linear_decay(100, decay_start=0.5)
    assert [factor(step) for step in (0, 49, 50)] == [1.0, 1.0, 1.0]
    assert factor(75) == pytest.approx(0.5) and factor(99) == pytest.approx(0.02) and factor(100) == 0.0
    assert linear_decay(10, decay_start=1.0)(9) == 1.0
    assert linear_decay(10, decay_start=0.0)(5) == pytest.approx(0.5)


def test_ema_decay_warms_up_then_stays():
    assert ema_decay(0, decay=0.999, warmup=10) == pytest.approx(0.1)
    assert ema_decay(10_000, decay=0.999, warmup=10) == 0.999
    assert ema_decay(0, decay=0.999, warmup=0) == 0.999


@pytest.mark.parametrize(
    ("batch_size", "per_device", "world", "expected"),
    [(8, None, 1, (8, 1)), (8, 2, 1, (2, 4)), (8, None, 2, (4, 1)), (8, 1, 2, (1, 4)), (2, 1, 2, (1, 1))],
)
def test_effective_batch_splits_into_devices_and_accumulation_rounds(batch_size, per_device, world, expected):
    assert batch_split(batch_size, per_device, world) == expected


def test_a_batch_that_does_not_split_evenly_is_refused():
    with pytest.raises(ValueError, match="multiple"):
        batch_split(6, 4, 1)
