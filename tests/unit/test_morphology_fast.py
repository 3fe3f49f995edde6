"""The try-on's fast paths without a gradient equal what training runs: the dilation's running max, the
U-Net's 2x2 halving and its instance norm."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tryon.nets.unet import InstanceNorm, halve_by_max
from tryon.ops.morphology import dilate, erode


def pooled_dilation(mask: torch.Tensor, radius: int) -> torch.Tensor:
    size = 2 * radius + 1
    rows = F.max_pool2d(mask, kernel_size=(1, size), stride=1, padding=(0, radius))
    return F.max_pool2d(rows, kernel_size=(size, 1), stride=1, padding=(radius, 0))


@pytest.mark.parametrize("radius", [1, 2, 3, 4, 7, 10, 40])
def test_dilation_without_gradient_is_max_pooling(radius):
    torch.manual_seed(radius)
    values = torch.randn(2, 3, 37, 29)  # odd sides, negative values: the outside never counts
    mask = (torch.rand(2, 1, 64, 48) > 0.97).float()
    with torch.inference_mode():
        assert torch.equal(dilate(values, radius), pooled_dilation(values, radius))
        assert torch.equal(dilate(mask, radius), pooled_dilation(mask, radius))
        assert torch.equal(erode(mask, radius), 1 - pooled_dilation(1 - mask, radius))


def test_dilation_with_gradient_pools_and_passes_one_gradient_per_window():
    mask = torch.zeros(1, 1, 9, 9)
    mask[..., 4, 4] = 1
    mask.requires_grad_(True)
    grown = dilate(mask, 1)
    assert torch.equal(grown.detach(), pooled_dilation(mask.detach(), 1))
    grown.sum().backward()
    assert mask.grad[0, 0, 4, 4] == 9  # the maximum of all nine windows around it


@pytest.mark.parametrize("shape", [(1, 8, 64, 48), (2, 4, 33, 25), (1, 2, 3, 7)])
def test_halving_by_max_is_2x2_max_pooling_and_keeps_the_gradient_path(shape):
    torch.manual_seed(0)
    x = torch.randn(*shape)
    with torch.no_grad():
        assert torch.equal(halve_by_max(x), F.max_pool2d(x, kernel_size=2))
    leaf = x.clone().requires_grad_(True)
    halve_by_max(leaf).sum().backward()
    reference = x.clone().requires_grad_(True)
    F.max_pool2d(reference, kernel_size=2).sum().backward()
    assert torch.equal(leaf.grad, reference.grad)


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("shape", [(2, 8, 32, 24), (1, 3, 5, 7)])
def test_the_cpu_instance_norm_is_the_instance_norm_with_and_without_gradient(shape, memory_format):
    torch.manual_seed(0)
    x = (torch.randn(*shape) * 3 + 1.5).contiguous(memory_format=memory_format)
    norm = InstanceNorm(shape[1])
    with torch.inference_mode():
        torch.testing.assert_close(norm(x), F.instance_norm(x, eps=norm.eps), atol=2e-6, rtol=1e-5)
    leaf = x.clone().requires_grad_(True)
    output = norm(leaf)
    output.square().sum().backward()
    reference = x.clone().requires_grad_(True)
    expected = F.instance_norm(reference, eps=norm.eps)
    expected.square().sum().backward()
    torch.testing.assert_close(output, expected, atol=2e-6, rtol=1e-5)
    torch.testing.assert_close(leaf.grad, reference.grad, atol=2e-5, rtol=1e-5)
    # NHWC trains in NHWC: the next convolution gets its layout without a copy.
    assert output.is_contiguous(memory_format=memory_format)
    assert norm.state_dict() == {}  # checkpoints are unchanged
