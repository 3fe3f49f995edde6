"""Shapes, state-dict round trips, batch 1, checkpointing, presets and VGG loading of tryon.nets."""

from __future__ import annotations

import copy
import io
from pathlib import Path
from unittest import mock

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from tryon.config import ModelConfig, Resolution
from tryon.labels import NUM_KEYPOINTS, NUM_LABELS
from tryon.nets import (
    FusionGenerator,
    GarmentMaskGenerator,
    LayoutGenerator,
    MultiScaleDiscriminator,
    TryOnDiscriminators,
    TryOnGenerators,
    UNet,
    VGG19Features,
    WarpOutput,
    load_vgg19,
    unet,
)
from tryon.nets.channels import MASK, RGB
from tryon.nets.unet import upsample_conv3x3, upsample_conv3x3_transposed

B, H, W = 2, 64, 48


@pytest.fixture(scope="module")
def config() -> ModelConfig:
    return ModelConfig.from_preset(
        "default", Resolution(H, W), base_width=4, max_width=16, disc_width=4, tps_width=2, tps_hidden=8
    )


def inputs(batch: int = B) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(batch, *shape, H, W, generator=generator) * 2 - 1

    return {
        "garment": rand(RGB),
        "garment_mask": (rand(MASK) > 0).float(),
        "layout": torch.softmax(rand(NUM_LABELS) * 10, dim=1),
        "pose_maps": rand(NUM_KEYPOINTS).sign(),
        "image": rand(RGB),
        "noise": torch.randn(batch, 1, H, W, generator=generator),
    }


def sgm_inputs(x: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The keyword arguments G1 and G2 share."""
    names = {
        "garment": "garment",
        "garment_mask": "garment_mask",
        "body_layout": "layout",
        "pose_maps": "pose_maps",
    }
    return {argument: x[name] for argument, name in names.items()}


def run_all(generators: TryOnGenerators, x: dict[str, torch.Tensor]):
    sgm = sgm_inputs(x)
    layout_logits = generators.g1(**sgm, noise=x["noise"])
    mask_logits = generators.g2(**sgm, noise=x["noise"])
    warp = generators.warper(
        garment=x["garment"], garment_mask=x["garment_mask"], target_mask=x["garment_mask"]
    )
    render = generators.g3(
        image_with_holes=x["image"],
        layout=x["layout"],
        garment=warp.refined_garment,
        skin=x["image"],
        noise=x["noise"],
    )
    return layout_logits, mask_logits, warp, render.compose(warp.refined_garment, x["garment_mask"])


def test_generator_shapes(config):
    torch.manual_seed(0)
    layout_logits, mask_logits, warp, image = run_all(TryOnGenerators.from_config(config), inputs())
    assert layout_logits.shape == (B, NUM_LABELS, H, W)
    assert mask_logits.shape == (B, MASK, H, W)
    assert isinstance(warp, WarpOutput)
    assert warp.warped_garment.shape == warp.refined_garment.shape == (B, RGB, H, W)
    assert warp.warped_mask.shape == warp.composition_mask.shape == (B, MASK, H, W)
    assert warp.control_points.shape == (B, config.tps_grid**2, 2)
    assert warp.grid.shape == (B, H, W, 2)
    assert image.shape == (B, RGB, H, W) and image.abs().max() <= 1


def test_input_channels_derive_from_the_label_table(config):
    noise = config.noise_channels
    assert LayoutGenerator.CONDITION_CHANNELS == MASK + RGB + NUM_LABELS + NUM_KEYPOINTS
    assert GarmentMaskGenerator.CONDITION_CHANNELS == LayoutGenerator.CONDITION_CHANNELS
    generators = TryOnGenerators.from_config(config)
    # ACGPN's G1 and G2 take 37 channels and its G3 24: 36 + noise and 23 + noise here.
    assert generators.g1.unet.down[0][0].in_channels == LayoutGenerator.CONDITION_CHANNELS + noise
    assert generators.g3.unet.down[0][0].in_channels == FusionGenerator.CONDITION_CHANNELS + noise


def test_noise_is_sampled_when_not_given(config):
    g1 = LayoutGenerator.from_config(config).eval()
    x = inputs()
    sgm = sgm_inputs(x)
    assert g1(**sgm).shape == (B, NUM_LABELS, H, W)


def test_discriminator_outputs_per_scale_features(config):
    discriminators = TryOnDiscriminators.from_config(config)
    conditions = {
        discriminators.d1: (LayoutGenerator.CONDITION_CHANNELS, NUM_LABELS),
        discriminators.d2: (GarmentMaskGenerator.CONDITION_CHANNELS, MASK),
        discriminators.d3: (FusionGenerator.CONDITION_CHANNELS, RGB),
    }
    for discriminator, (condition_channels, image_channels) in conditions.items():
        # The first layer's weights cover the concatenation, as pix2pixHD's: checkpoints load unchanged.
        assert discriminator.scales[0].blocks[0][0].weight.shape[1] == condition_channels + image_channels
        condition = discriminator.encode_condition(torch.randn(B, condition_channels, H, W))
        outputs = discriminator(torch.randn(B, image_channels, H, W), condition)
        assert len(outputs) == config.disc_scales
        for scale in outputs:
            assert len(scale) == config.disc_layers + 2
            assert scale[-1].shape[:2] == (B, 1)
        assert outputs[1][-1].shape[-1] < outputs[0][-1].shape[-1]


def concatenated_reference(discriminator: MultiScaleDiscriminator, x: torch.Tensor) -> list[list[torch.Tensor]]:
    """pix2pixHD's conditional discriminator: every scale's blocks run on cat[condition, image]."""
    outputs = []
    for index, scale in enumerate(discriminator.scales):
        if index:
            x = torch.nn.functional.avg_pool2d(x, kernel_size=3, stride=2, padding=1, count_include_pad=False)
        features = [scale.blocks[0](x)]
        for block in scale.blocks[1:]:
            features.append(block(features[-1]))
        outputs.append(features)
    return outputs


def test_an_encoded_condition_gives_the_discriminator_of_the_concatenation():
    torch.manual_seed(0)
    discriminator = MultiScaleDiscriminator(5, 2, width=4, layers=2, scales=2).double()
    condition = torch.randn(2, 5, 32, 24, dtype=torch.float64)
    real, fake = torch.randn(2, 2, 2, 32, 24, dtype=torch.float64)
    encoded = discriminator.encode_condition(condition)
    for image in (real, fake):  # one encoding serves both images
        expected = concatenated_reference(discriminator, torch.cat([condition, image], dim=1))
        actual = discriminator(image, encoded)
        for expected_scale, actual_scale in zip(expected, actual, strict=True):
            for left, right in zip(expected_scale, actual_scale, strict=True):
                torch.testing.assert_close(right, left, rtol=1e-12, atol=1e-12)
    # The gradient reaching the image is the concatenation's, restricted to the image's channels.
    image = fake.clone().requires_grad_(True)
    joined = torch.cat([condition, fake], dim=1).requires_grad_(True)
    (expected_gradient,) = torch.autograd.grad(concatenated_reference(discriminator, joined)[1][-1].sum(), joined)
    (gradient,) = torch.autograd.grad(discriminator(image, encoded)[1][-1].sum(), image)
    torch.testing.assert_close(gradient, expected_gradient[:, 5:], rtol=1e-12, atol=1e-12)


def test_a_discriminator_needs_condition_and_image_channels():
    with pytest.raises(ValueError, match="condition and image channels"):
        MultiScaleDiscriminator(0, 3, width=4, layers=2, scales=2)


def test_spectral_norm_discriminator_runs():
    discriminator = MultiScaleDiscriminator(3, 2, width=4, layers=2, scales=2, spectral_norm=True)
    outputs = discriminator(torch.randn(1, 2, 32, 24), discriminator.encode_condition(torch.randn(1, 3, 32, 24)))
    assert len(outputs) == 2 and outputs[0][-1].shape[1] == 1


def test_state_dict_round_trip_gives_identical_outputs(config):
    torch.manual_seed(0)
    original = TryOnGenerators.from_config(config).eval()
    torch.nn.init.normal_(original.warper.regressor.head[-1].weight, std=1e-2)  # a non-identity warp
    buffer = io.BytesIO()
    torch.save(original.state_dict(), buffer)
    buffer.seek(0)
    torch.manual_seed(1)
    restored = TryOnGenerators.from_config(config).eval()
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    x = inputs()
    with torch.no_grad():
        expected, actual = run_all(original, x), run_all(restored, x)
    for left, right in zip(expected, actual, strict=True):
        if isinstance(left, WarpOutput):
            left, right = left.refined_garment, right.refined_garment
        assert torch.equal(left, right)


def test_batch_of_one_trains(config):
    generators = TryOnGenerators.from_config(config).train()
    layout_logits, mask_logits, warp, image = run_all(generators, inputs(batch=1))
    loss = layout_logits.mean() + mask_logits.mean() + warp.refined_garment.mean() + image.mean()
    loss.backward()
    assert all(p.grad is not None for p in generators.g3.parameters())


def test_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    plain = UNet(5, 3, base_width=4, depth=4, max_width=16)
    checkpointed = UNet(5, 3, base_width=4, depth=4, max_width=16, checkpointing=True)
    checkpointed.load_state_dict(plain.state_dict())
    x = torch.randn(2, 5, 32, 24)
    for net in (plain, checkpointed):
        net(x).square().mean().backward()
    for (name, left), right in zip(plain.named_parameters(), checkpointed.parameters(), strict=True):
        torch.testing.assert_close(left.grad, right.grad, msg=name)


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize(
    ("upsample", "flop_pixels"),
    [(upsample_conv3x3, (5 + 1) * (4 + 1)), (upsample_conv3x3_transposed, 5 * 4)],
    ids=["folded", "transposed"],
)
def test_the_upsampling_convolutions_are_upsampling_then_the_3x3_convolution(memory_format, upsample, flop_pixels):
    torch.manual_seed(0)
    x = torch.randn(2, 6, 5, 4, dtype=torch.float64).contiguous(memory_format=memory_format)
    weight = torch.randn(3, 6, 3, 3, dtype=torch.float64, requires_grad=True)
    fast_input, plain_input = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    fast = upsample(fast_input, weight)
    plain = torch.nn.functional.conv2d(
        torch.nn.functional.interpolate(plain_input, scale_factor=2, mode="nearest"), weight, padding=1
    )
    torch.testing.assert_close(fast, plain, rtol=1e-12, atol=1e-12)
    assert fast.is_contiguous(memory_format=memory_format)  # the next layer keeps its layout
    # Fewer multiply-adds: 16 per input pixel and channel pair instead of 36 (the folded convolution
    # also computes a padded border row and column).
    with FlopCounterMode(display=False) as counter:
        upsample(x, weight.detach())
    batch, out_channels, in_channels, taps = 2, 3, 6, 4 * 4
    assert counter.get_total_flops() == 2 * batch * out_channels * in_channels * taps * flop_pixels
    gradient = torch.randn_like(plain)
    fast_grads = torch.autograd.grad(fast, [fast_input, weight], gradient)
    plain_grads = torch.autograd.grad(plain, [plain_input, weight], gradient)
    for left, right in zip(fast_grads, plain_grads, strict=True):
        torch.testing.assert_close(left, right, rtol=1e-12, atol=1e-12)


def test_a_unet_trains_through_the_folded_upsampling_and_infers_through_the_transposed_one_on_large_maps():
    torch.manual_seed(0)
    net = UNet(5, 3, base_width=4, depth=4, max_width=16).double()
    x = torch.randn(2, 5, 128, 96, dtype=torch.float64)
    trained = net(x)
    spy = mock.patch.object(unet, "upsample_conv3x3_transposed", wraps=upsample_conv3x3_transposed)
    with torch.no_grad(), spy as transposed:
        inferred = net(x)
    torch.testing.assert_close(trained, inferred, rtol=1e-10, atol=1e-10)
    # From the deepest level up: the 16x12 map is upsampled plainly, below TRANSPOSED_MIN_PIXELS.
    assert [tuple(call.args[0].shape[-2:]) for call in transposed.call_args_list] == [(32, 24), (64, 48)]
    assert trained.requires_grad


def test_unet_accepts_sizes_that_do_not_halve_evenly():
    net = UNet(3, 2, base_width=4, depth=5, max_width=16)
    for size in ((80, 48), (64, 48), (48, 80)):
        assert net(torch.randn(1, 3, *size)).shape == (1, 2, *size)


def test_channels_last_input_gives_the_same_output(config):
    torch.manual_seed(0)
    g3 = FusionGenerator.from_config(config).eval()
    x = torch.randn(B, FusionGenerator.CONDITION_CHANNELS, H, W)
    parts = torch.split(x, [RGB, NUM_LABELS, RGB, RGB], dim=1)
    noise = torch.randn(B, config.noise_channels, H, W)
    with torch.no_grad():
        expected = g3(
            image_with_holes=parts[0], layout=parts[1], garment=parts[2], skin=parts[3], noise=noise
        ).rendered
        g3 = g3.to(memory_format=torch.channels_last)
        last = [part.contiguous(memory_format=torch.channels_last) for part in parts]
        actual = g3(
            image_with_holes=last[0], layout=last[1], garment=last[2], skin=last[3], noise=noise
        ).rendered
    torch.testing.assert_close(actual, expected, atol=2e-4, rtol=1e-3)  # other conv kernels, other rounding


def parameter_count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def test_original_preset_has_the_papers_size():
    config = ModelConfig.from_preset("original", Resolution(256, 192))
    with torch.device("meta"):
        generators = TryOnGenerators.from_config(config)
    # ACGPN's 64..1024 U-Net ("Refine") has 34.5M parameters; four of them plus the TPS regressor.
    assert parameter_count(generators.g1) == pytest.approx(34.5e6, rel=0.01)
    assert parameter_count(generators) == pytest.approx(140e6, rel=0.02)


def test_default_preset_fits_the_flop_budget():
    config = ModelConfig.from_preset("default", Resolution(256, 192))
    with torch.device("meta"):
        generators = TryOnGenerators.from_config(config).eval()
        x = {name: torch.empty(1, *t.shape[1:-2], 256, 192) for name, t in inputs(batch=1).items()}
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            run_all(generators, x)
    assert counter.get_total_flops() <= 25e9


def torchvision_state_dict() -> dict[str, torch.Tensor]:
    """Random weights under torchvision's vgg19 names, with the layers and classifier we skip."""
    torch.manual_seed(0)
    state = {name: torch.randn_like(value) * 0.05 for name, value in VGG19Features().state_dict().items()}
    state["features.30.weight"] = torch.randn(512, 512, 3, 3)
    state["classifier.0.weight"] = torch.randn(8, 8)
    return state


def test_vgg_loads_a_torchvision_state_dict(tmp_path: Path):
    path = tmp_path / "vgg19-dcbb9e9d.pth"
    state = torchvision_state_dict()
    torch.save(state, path)
    vgg = load_vgg19(path)
    assert not vgg.training and not any(p.requires_grad for p in vgg.parameters())
    torch.testing.assert_close(vgg.features[28].weight, state["features.28.weight"])
    activations = vgg(torch.rand(1, 3, 32, 32) * 2 - 1)
    assert [a.shape[1] for a in activations] == [64, 128, 256, 512, 512]
    assert [a.shape[-1] for a in activations] == [32, 16, 8, 4, 2]


def test_vgg_pools_as_torchvision_with_and_without_gradient():
    vgg = VGG19Features()
    vgg.load_state_dict(torchvision_state_dict(), strict=False)
    # torchvision's layers: its max pools at the same indices, the same convolutions and ReLUs.
    reference = copy.deepcopy(vgg)
    for index, layer in enumerate(vgg.features):
        if not isinstance(layer, (torch.nn.Conv2d, torch.nn.ReLU)):
            reference.features[index] = torch.nn.MaxPool2d(kernel_size=2, stride=2)
    assert [i for i, layer in enumerate(reference.features) if isinstance(layer, torch.nn.MaxPool2d)] == [
        4, 9, 18, 27
    ]
    image = torch.rand(2, 3, 48, 34, dtype=torch.float64) * 2 - 1  # an odd side after the first pool
    vgg, reference = vgg.double(), reference.double()
    with torch.no_grad():
        for ours, theirs in zip(vgg(image), reference(image), strict=True):
            assert torch.equal(ours, theirs)
    gradients = []
    for network in (vgg, reference):
        leaf = image.clone().requires_grad_(True)
        sum(activation.sum() for activation in network(leaf)).backward()
        gradients.append(leaf.grad)
    assert torch.equal(*gradients)


def test_vgg_missing_file_says_which_and_how(tmp_path: Path):
    path = tmp_path / "weights" / "vgg19.pth"
    with pytest.raises(FileNotFoundError, match=r"vgg19\.pth") as error:
        load_vgg19(path)
    assert str(path) in str(error.value) and "nothing is downloaded" in str(error.value)
    with pytest.raises(FileNotFoundError, match="no VGG19 weights path"):
        load_vgg19(None)


def test_vgg_rejects_a_file_without_vgg_weights(tmp_path: Path):
    path = tmp_path / "other.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, path)
    with pytest.raises(ValueError, match=r"other\.pth"):
        load_vgg19(path)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"other\.pth"):
        load_vgg19(path)


def test_a_512x384_model_grows_with_the_resolution_and_runs_forward():
    size = Resolution(512, 384)
    config = ModelConfig.from_preset(
        "default", size, base_width=2, max_width=8, disc_width=2, tps_width=2, tps_levels=3, tps_hidden=8
    )
    torch.manual_seed(0)
    generators = TryOnGenerators.from_config(config).eval()
    discriminators = TryOnDiscriminators.from_config(config)
    assert len(generators.g1.unet.down) == len(generators.warper.refine.down) == config.depth == 6
    assert len(discriminators.d3.scales) == config.disc_scales == 3
    x = {
        name: torch.nn.functional.interpolate(value, size=size.shape, mode="nearest")
        for name, value in inputs(batch=1).items()
    }
    with torch.no_grad():
        layout_logits, _, warp, image = run_all(generators, x)
        logits = discriminators.d3(
            torch.randn(1, RGB, *size.shape),
            discriminators.d3.encode_condition(torch.randn(1, FusionGenerator.CONDITION_CHANNELS, *size.shape)),
        )
    assert layout_logits.shape == (1, NUM_LABELS, *size.shape) and image.shape == (1, RGB, *size.shape)
    assert torch.isfinite(image).all() and warp.grid.shape == (1, *size.shape, 2)
    # The coarsest PatchGAN sees 128x96, as the coarsest one of a 256x192 model does.
    reference_config = ModelConfig.from_preset("default", Resolution(256, 192), disc_width=2)
    reference = TryOnDiscriminators.from_config(reference_config)
    with torch.no_grad():
        expected = reference.d3(
            torch.randn(1, RGB, 256, 192),
            reference.d3.encode_condition(torch.randn(1, FusionGenerator.CONDITION_CHANNELS, 256, 192)),
        )
    assert len(expected) == 2 and logits[-1][-1].shape == expected[-1][-1].shape
    assert [scale[-1].shape[-2] for scale in logits] == [67, 35, 19]


@pytest.mark.parametrize("spectral_norm", [False, True])
def test_a_discriminator_runs_in_its_weights_layout_with_the_same_result_and_gradients(spectral_norm):
    torch.manual_seed(0)
    nchw = MultiScaleDiscriminator(5, 2, width=4, layers=2, scales=2, spectral_norm=spectral_norm).double()
    nhwc = copy.deepcopy(nchw).to(memory_format=torch.channels_last)
    assert (nchw.scales[0].memory_format, nhwc.scales[0].memory_format) == (
        torch.contiguous_format,
        torch.channels_last,
    )
    condition = torch.randn(2, 5, 32, 24, dtype=torch.float64)  # from a generator in NCHW
    results = []
    for discriminator in (nchw, nhwc):
        image = torch.randn(2, 2, 32, 24, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
        image.requires_grad_(True)
        outputs = discriminator(image, discriminator.encode_condition(condition))
        loss = sum(features[-1].square().mean() for features in outputs)
        gradients = torch.autograd.grad(loss, [image, *discriminator.parameters()])
        results.append((outputs, gradients))
    (expected_outputs, expected_gradients), (outputs, gradients) = results
    for expected_scale, scale in zip(expected_outputs, outputs, strict=True):
        for expected, actual in zip(expected_scale, scale, strict=True):
            assert actual.is_contiguous(memory_format=torch.channels_last)
            torch.testing.assert_close(actual, expected, rtol=1e-10, atol=1e-10)
    for expected, actual in zip(expected_gradients, gradients, strict=True):
        torch.testing.assert_close(actual, expected, rtol=1e-10, atol=1e-10)
