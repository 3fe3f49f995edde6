"""One device rule for every command that runs a network."""

from __future__ import annotations

import pytest
import torch

from tryon.device import DeviceUnavailable, resolve_device


def test_without_cuda_the_default_is_the_cpu_and_cuda_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device(None) == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(DeviceUnavailable, match="'cuda'.*CUDA is not available.*--device cpu"):
        resolve_device("cuda")


def test_with_cuda_the_default_is_the_gpu_and_a_request_wins(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device(None) == torch.device("cuda", 0)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(None, local_rank=1) == torch.device("cuda", 1)  # torchrun: this process's GPU
    with pytest.raises(DeviceUnavailable, match="GPU 3 does not exist; this machine has 2"):
        resolve_device("cuda:3")


@pytest.mark.parametrize("name", ["gpu", "mps", "cuda:x"])
def test_an_unknown_device_is_refused_naming_it(name):
    with pytest.raises(DeviceUnavailable, match=repr(name)):
        resolve_device(name)
