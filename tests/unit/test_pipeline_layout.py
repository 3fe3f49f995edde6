"""The inference pipeline's memory layout: one rule per device and precision, one layout end to end,
the same outputs."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from tests.helpers import TINY, tiny_model_config
from tests.unit.test_pipeline import garment_batch, person_batch
from tryon.nets import TryOnGenerators
from tryon.pipeline import TryOnPipeline
from tryon.precision import discriminator_memory_format, inference_memory_format


@pytest.fixture(scope="module")
def config():
    return tiny_model_config()


@pytest.fixture(scope="module")
def generators(config):
    torch.manual_seed(0)
    return TryOnGenerators.from_config(config)


def test_the_layout_is_channels_last_but_for_bf16_on_the_cpu_unless_chosen():
    assert inference_memory_format("cpu") == torch.channels_last
    assert inference_memory_format("cpu", precision="bf16") == torch.contiguous_format
    assert inference_memory_format(torch.device("cuda", 0)) == torch.channels_last
    assert inference_memory_format("cuda", precision="bf16") == torch.channels_last
    assert inference_memory_format("cpu", channels_last=False) == torch.contiguous_format
    assert inference_memory_format("cpu", channels_last=True, precision="bf16") == torch.channels_last
    assert inference_memory_format("cuda", channels_last=False) == torch.contiguous_format


def test_the_discriminators_train_nhwc_on_the_cpu_and_as_configured_on_cuda():
    assert discriminator_memory_format("cpu", channels_last=False) == torch.channels_last
    assert discriminator_memory_format("cpu", channels_last=True) == torch.channels_last
    assert (
        discriminator_memory_format(torch.device("cuda", 0), channels_last=False) == torch.contiguous_format
    )
    assert discriminator_memory_format("cuda", channels_last=True) == torch.channels_last


def first_convolutions(generators: TryOnGenerators) -> set[nn.Module]:
    """The first convolution of each network: where the caller's (NCHW) inputs come in."""
    networks = [
        generators.g1,
        generators.g2,
        generators.warper.regressor,
        generators.warper.refine,
        generators.g3,
    ]
    return {next(m for m in network.modules() if isinstance(m, nn.Conv2d)) for network in networks}


@pytest.mark.parametrize(
    ("precision", "layout"), [("fp32", torch.channels_last), ("bf16", torch.contiguous_format)]
)
def test_the_cpu_pipeline_converts_the_layout_only_where_each_network_takes_its_input(
    config, generators, precision, layout
):
    pipeline = TryOnPipeline(copy.deepcopy(generators), config, precision=precision)
    assert pipeline.memory_format == layout
    kernels = [p for p in pipeline.generators.parameters() if p.dim() == 4]
    assert kernels and all(p.is_contiguous(memory_format=layout) for p in kernels)
    entries = first_convolutions(pipeline.generators)
    seen: list[str] = []

    def check(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        # An input in the other layout is a conversion: a full copy of the activation.
        seen.append(type(module).__name__)
        if module not in entries:
            assert inputs[0].is_contiguous(memory_format=layout), f"{module} got a {inputs[0].stride()} input"

    for module in pipeline.generators.modules():
        if isinstance(module, nn.Conv2d | nn.InstanceNorm2d | nn.GroupNorm):
            module.register_forward_pre_hook(check)
    person = pipeline.represent(*person_batch(1))
    pipeline(person, *garment_batch(1))
    assert {"Conv2d", "InstanceNorm"} <= set(seen)


def test_the_output_is_the_same_in_either_layout(config, generators):
    image, labels, keypoints = person_batch(2)
    garment, mask = garment_batch(2)
    outputs = []
    for channels_last in (True, False):
        pipeline = TryOnPipeline(
            copy.deepcopy(generators), config, precision="fp32", channels_last=channels_last
        )
        kernels = [p for p in pipeline.generators.parameters() if p.dim() == 4]
        assert kernels and all(p.is_contiguous(memory_format=pipeline.memory_format) for p in kernels)
        torch.manual_seed(3)
        outputs.append(pipeline(pipeline.represent(image, labels, keypoints), garment, mask))
    nhwc, nchw = outputs
    torch.testing.assert_close(nchw.layout.layout_logits, nhwc.layout.layout_logits, atol=1e-4, rtol=1e-4)
    assert torch.equal(nchw.layout.labels, nhwc.layout.labels)
    assert torch.equal(nchw.garment_region, nhwc.garment_region)
    torch.testing.assert_close(nchw.warp.control_points, nhwc.warp.control_points, atol=1e-4, rtol=0)
    torch.testing.assert_close(nchw.image, nhwc.image, atol=1e-4, rtol=0)
    assert nchw.image.shape == (2, 3, *TINY.shape)
    assert nchw.image.is_contiguous() and nchw.image.dtype == torch.float32
