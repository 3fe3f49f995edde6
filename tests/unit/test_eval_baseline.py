import dataclasses

import torch

from tests.eval_examples import make_example_batch
from tryon.eval.baseline import baseline_batch, naive_paste
from tryon.labels import Label

H, W = 16, 12
SKIN = torch.tensor([0.5, 0.1, -0.1])
RED = torch.tensor([0.8, -0.8, 0.0])


def scene():
    """A grey person in a 16 x 12 frame: an 8 x 8 old garment, a skin-coloured arm beside it, and a
    red laydown garment on white: a 4 x 4 box with its top right quarter cut away."""
    person = torch.full((1, 3, H, W), -0.5)
    label = torch.full((1, H, W), int(Label.BACKGROUND))
    label[:, 6:14, 2:10] = Label.UPPER_CLOTHES
    label[:, 6:14, 10:12] = Label.LEFT_ARM
    person[..., 6:14, 10:12] = SKIN[:, None, None]
    garment = torch.ones(1, 3, H, W)  # white laydown background
    garment_mask = torch.zeros(1, 1, H, W)
    garment[..., 2:6, 3:7] = RED[:, None, None]
    garment_mask[..., 2:6, 3:7] = 1
    garment_mask[..., 2:4, 5:7] = 0
    changed = torch.zeros(1, 1, H, W)
    changed[..., 5:15, 1:12] = 1
    return person, label, garment, garment_mask, changed


def at(image, rows, columns):
    return image[0, :, rows, columns].reshape(3, -1)


def test_the_garment_box_is_pasted_onto_the_worn_box_through_the_garment_mask():
    person, label, garment, garment_mask, changed = scene()
    pasted = naive_paste(person, label, garment, garment_mask, changed)
    assert pasted.tryon.shape == person.shape and pasted.garment.shape == garment.shape
    # The 4 x 4 box scales onto the 8 x 8 worn box, so the cut quarter lands on rows 6..9, columns 6..9.
    expected = torch.zeros(H, W, dtype=torch.bool)
    expected[6:14, 2:10] = True
    expected[6:10, 6:10] = False
    assert torch.equal(pasted.mask[0, 0].bool(), expected)
    assert torch.allclose(pasted.tryon[0][:, expected], RED[:, None])
    # Where the cut quarter leaves the old garment uncovered, the body shows: the skin colour.
    assert torch.allclose(at(pasted.tryon, slice(6, 10), slice(6, 10)), SKIN[:, None], atol=1e-6)


def test_uncovered_arms_get_the_skin_colour_and_the_rest_stays_the_photo():
    person, label, garment, garment_mask, changed = scene()
    person[..., 6:14, 11] = SKIN[:, None] + 0.2  # a shaded arm: the baseline paints the mean colour
    pasted = naive_paste(person, label, garment, garment_mask, changed)
    assert torch.allclose(at(pasted.tryon, slice(6, 14), slice(10, 12)), (SKIN + 0.1)[:, None], atol=1e-6)
    # Background inside the changed region and everything outside it keep the photo.
    body = (label != Label.BACKGROUND)[:, None].expand_as(person)
    assert torch.equal(pasted.tryon[~body], person[~body])


def test_nothing_outside_the_changed_region_is_touched():
    person, label, garment, garment_mask, changed = scene()
    small = torch.zeros_like(changed)
    small[..., 6:8, 2:6] = 1
    pasted = naive_paste(person, label, garment, garment_mask, small)
    outside = ~small.bool().expand_as(person)
    assert torch.equal(pasted.tryon[outside], person[outside])
    assert torch.allclose(at(pasted.tryon, slice(6, 8), slice(2, 6)), RED[:, None])


def test_an_empty_garment_pastes_nothing_but_still_takes_the_old_garment_off():
    person, label, garment, garment_mask, changed = scene()
    pasted = naive_paste(person, label, garment, torch.zeros_like(garment_mask), changed)
    assert not pasted.mask.any()
    assert torch.allclose(at(pasted.tryon, slice(6, 14), slice(2, 12)), SKIN[:, None], atol=1e-6)


def test_the_baseline_is_scored_on_the_batchs_changed_regions_and_replaces_the_outputs_only():
    batch = make_example_batch(3)
    baseline = baseline_batch(batch)
    assert baseline.layout is None and baseline.predicted_worn_mask is None
    assert baseline.person is batch.person and baseline.target is batch.target
    assert baseline.changed_region is batch.changed_region
    assert baseline.unpaired_changed_region is batch.unpaired_changed_region
    systems = (
        (baseline.tryon, batch.changed_region),
        (baseline.unpaired_tryon, batch.unpaired_changed_region),
    )
    for tryon, region in systems:
        outside = ~region.bool().expand_as(tryon)
        assert torch.equal(tryon[outside], batch.person[outside])  # the kept photo, as the model's
        assert not torch.equal(tryon[~outside], batch.person[~outside])
    without_garment = dataclasses.replace(batch, unpaired_garment=None, unpaired_garment_mask=None)
    assert baseline_batch(without_garment).unpaired_tryon is None
