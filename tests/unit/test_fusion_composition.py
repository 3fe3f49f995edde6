"""model.tryon_composition_mask: G3 composes its rendering with the warped garment through a
predicted mask, or (false, as ACGPN) its rendering alone is the try-on and no mask is trained."""

from __future__ import annotations

import pytest
import torch

from tryon.config import LossWeights, ModelConfig, Resolution
from tryon.data.dataset import TryOnDataset, collate
from tryon.data.synthetic import generate_dataset
from tryon.labels import NUM_LABELS
from tryon.nets import TryOnGenerators
from tryon.nets.channels import RGB
from tryon.train.stages import FUSION, SharedFeatures, StageContext

SIZE = Resolution(64, 48)


def tiny_model(*, composition_mask: bool) -> ModelConfig:
    return ModelConfig.from_preset(
        "default",
        SIZE,
        base_width=4,
        max_width=16,
        depth=3,
        disc_width=4,
        tps_width=2,
        tps_levels=3,
        tps_hidden=8,
        tryon_composition_mask=composition_mask,
    )


def g3_inputs(batch: int = 2) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {
        "image_with_holes": torch.rand(batch, RGB, *SIZE.shape, generator=generator) * 2 - 1,
        "layout": torch.rand(batch, NUM_LABELS, *SIZE.shape, generator=generator),
        "garment": torch.rand(batch, RGB, *SIZE.shape, generator=generator) * 2 - 1,
        "skin": torch.rand(batch, RGB, *SIZE.shape, generator=generator) * 2 - 1,
        "noise": torch.zeros(batch, 1, *SIZE.shape),
    }


@pytest.mark.parametrize("composition_mask", [True, False])
def test_the_flag_decides_whether_the_warped_garment_is_composed_in(composition_mask):
    torch.manual_seed(0)
    g3 = TryOnGenerators.from_config(tiny_model(composition_mask=composition_mask)).g3.eval()
    inputs = g3_inputs()
    with torch.no_grad():
        render = g3(**inputs)
    garment = torch.full_like(render.rendered, 0.75)
    region = torch.zeros_like(render.rendered[:, :1])
    region[..., 16:48, 12:36] = 1
    image = render.compose(garment, region)
    outside = region.expand_as(image) == 0
    assert torch.equal(image[outside], render.rendered[outside])  # nothing composed outside the region
    if composition_mask:
        assert render.composition_mask.shape == region.shape
        mask = render.composition_mask * region
        assert torch.allclose(image, mask * garment + (1 - mask) * render.rendered)
        assert not torch.allclose(image, render.rendered)  # the garment shows through inside
    else:
        assert render.composition_mask is None
        assert g3.unet.head.out_channels == RGB  # no mask channel is predicted at all
        assert torch.equal(image, render.rendered)  # G3's rendering alone, garment or not


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    generate_dataset(root, n_train=2, n_test=2, resolution=SIZE, seed=0, workers=1)
    dataset = TryOnDataset(root, phase="train", resolution=SIZE)
    return collate([dataset[index] for index in range(2)])


@pytest.mark.parametrize("composition_mask", [True, False])
def test_the_composition_loss_is_computed_only_for_a_predicted_mask(batch, composition_mask):
    torch.manual_seed(0)
    config = tiny_model(composition_mask=composition_mask)
    context = StageContext(
        generators=TryOnGenerators.from_config(config),
        model_config=config,
        weights=LossWeights(),
        vgg=None,
        fusion_region="predicted",
    )
    outputs = FUSION.forward(context, batch, frozenset({"G3"}), SharedFeatures())
    terms = outputs.terms["G3"]
    assert ("composition_l1" in terms) == composition_mask and "l1" in terms
    total = sum(term.weight * term.value for term in terms.values())
    total.backward()
    assert context.generators.g3.unet.head.weight.grad.abs().sum() > 0
