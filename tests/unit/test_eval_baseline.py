import dataclasses

import torch

from tryon.eval.baseline import baseline_batch, naive_paste
from tests.eval_examples import make_example_batch

H, W = 16, 12


def scene():
    person = torch.full((1, 3, H, W), -0.5)
    garment = torch.ones(1, 3, H, W)  # white laydown background
    garment_mask = torch.zeros(1, 1, H, W)
    garment[..., 2:6, 3:7] = torch.tensor([0.8, -0.8, 0.0])[:, None, None]  # a red 4 x 4 garment
    garment_mask[..., 2:6, 3:7] = 1
    worn = torch.zeros(1, 1, H, W)
    worn[..., 6:14, 2:10] = 1  # the old garment: an 8 x 8 block lower down
    return person, garment, garment_mask, worn


def test_the_garment_box_is_resized_onto_the_worn_box_and_pasted_through_the_worn_mask():
    person, garment, garment_mask, worn = scene()
    pasted = naive_paste(person, garment, garment_mask, worn)
    assert pasted.tryon.shape == person.shape
    assert pasted.garment.shape == garment.shape and pasted.mask.shape == worn.shape
    assert torch.equal(pasted.mask, worn)  # the 4 x 4 mask box scaled to the 8 x 8 box fills it
    inside = worn.bool().expand_as(person)
    assert torch.allclose(pasted.tryon[inside].view(3, -1), torch.tensor([[0.8], [-0.8], [0.0]]))
    assert torch.equal(pasted.tryon[~inside], person[~inside])  # the person is untouched outside


def test_an_empty_worn_region_leaves_the_person_unchanged():
    person, garment, garment_mask, worn = scene()
    pasted = naive_paste(person, garment, garment_mask, torch.zeros_like(worn))
    assert torch.equal(pasted.tryon, person)
    assert not pasted.mask.any()


def test_the_baseline_batch_replaces_the_outputs_only():
    batch = make_example_batch(3)
    baseline = baseline_batch(batch)
    assert baseline.layout is None
    assert baseline.person is batch.person and baseline.target is batch.target
    assert not torch.equal(baseline.tryon, batch.tryon)
    assert baseline.unpaired_tryon is not None
    without_garment = dataclasses.replace(batch, unpaired_garment=None, unpaired_garment_mask=None)
    assert baseline_batch(without_garment).unpaired_tryon is None
