"""Training checkpoints: a kill during a write leaves the previous file loadable; RNG states survive a
weights-only round trip."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import textwrap

import numpy as np
import torch

from tryon.checkpoint import load_checkpoint, save_checkpoint
from tryon.config import ModelConfig, Resolution
from tryon.train.state import capture_rng, remove_stale_temporaries, restore_rng

DIES_WHILE_WRITING = textwrap.dedent(
    """
    import io, os, signal, sys
    import torch
    from tryon.checkpoint import save_checkpoint
    from tryon.config import ModelConfig, Resolution

    path = sys.argv[1]
    config = ModelConfig(resolution=Resolution(64, 48))
    save_checkpoint(path, model_config=config, state={"step": 1, "weights": torch.ones(2_000_000)})
    real_save = torch.save

    def save_half_then_die(payload, target, *args, **kwargs):
        buffer = io.BytesIO()
        real_save(payload, buffer, *args, **kwargs)
        data = buffer.getvalue()
        with open(target, "wb") as handle:
            handle.write(data[: len(data) // 2])
            handle.flush()
            os.fsync(handle.fileno())
        os.kill(os.getpid(), signal.SIGKILL)

    torch.save = save_half_then_die
    save_checkpoint(path, model_config=config, state={"step": 2, "weights": torch.zeros(2_000_000)})
    """
)


def test_a_kill_during_a_checkpoint_write_leaves_the_previous_checkpoint(tmp_path):
    path = tmp_path / "checkpoint.pt"
    result = subprocess.run(
        [sys.executable, "-c", DIES_WHILE_WRITING, str(path)], capture_output=True, timeout=120, check=False
    )
    assert result.returncode == -signal.SIGKILL, result.stderr.decode()
    checkpoint = load_checkpoint(path, expect=ModelConfig(resolution=Resolution(64, 48)))
    assert checkpoint.state["step"] == 1 and bool((checkpoint.state["weights"] == 1).all())
    (partial,) = tmp_path.glob(".checkpoint.pt.*.tmp")  # the half-written new checkpoint, never renamed
    assert partial.stat().st_size > 0
    assert remove_stale_temporaries(path) == [partial]
    assert sorted(item.name for item in tmp_path.iterdir()) == ["checkpoint.pt"]


def test_rng_states_survive_a_weights_only_checkpoint(tmp_path):
    device = torch.device("cpu")
    torch.manual_seed(1)
    np.random.seed(2)
    random.seed(3)
    state = capture_rng(device)
    expected = (torch.rand(3), np.random.rand(3), random.random())
    path = save_checkpoint(tmp_path / "rng.pt", model_config=ModelConfig(), state={"rng": state})
    torch.manual_seed(9)
    np.random.seed(9)
    random.seed(9)
    restore_rng(load_checkpoint(path).state["rng"], device)
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1]) and random.random() == expected[2]
