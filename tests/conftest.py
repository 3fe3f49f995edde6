"""Fixtures shared by unit and integration tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import TINY
from tryon.data.synthetic import generate_dataset


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """A small synthetic dataset at 64x48, generated once per session; tests must not modify it."""
    root = tmp_path_factory.mktemp("tiny_dataset")
    generate_dataset(root, n_train=8, n_test=6, resolution=TINY, seed=0, workers=1)
    return root
