import dataclasses

import pytest
import torch

from tests.helpers import tiny_model_config
from tryon.data.dataset import TryOnDataset, collate
from tryon.eval.baseline import baseline_batch
from tryon.eval.regions import changed_region, unpaired_changed_region
from tryon.eval.run import evaluation_batch
from tryon.nets import TryOnGenerators
from tryon.ops.morphology import scale_radius
from tryon.pipeline import TryOnPipeline


@pytest.fixture(scope="module")
def pipeline():
    torch.manual_seed(0)
    config = tiny_model_config()
    return TryOnPipeline(TryOnGenerators.from_config(config), config)


@pytest.fixture(scope="module")
def batch(tiny_dataset, pipeline):
    dataset = TryOnDataset(
        tiny_dataset, phase="test", resolution=pipeline.config.resolution, with_unpaired=True
    )
    return collate([dataset[index] for index in range(3)])


def test_the_evaluation_batch_scores_g1s_own_layout_on_ground_truth_regions(pipeline, batch):
    torch.manual_seed(0)
    evaluated = evaluation_batch(pipeline, batch)
    person = pipeline.represent(batch.image, batch.label, batch.keypoints)
    torch.manual_seed(0)
    output = pipeline(person, batch.garment, batch.garment_mask)
    assert torch.equal(evaluated.layout, output.layout.labels[:, 0])  # not the composed layout
    assert torch.equal(evaluated.predicted_worn_mask, output.layout.garment_logits.sigmoid())
    radius = scale_radius(pipeline.config.arm_hole_dilation, batch.image.shape[-2])
    assert torch.equal(evaluated.changed_region, changed_region(batch.label, radius=radius))
    expected = unpaired_changed_region(batch.label, batch.image, batch.unpaired_target, radius=radius)
    assert torch.equal(evaluated.unpaired_changed_region, expected)
    assert 0 < evaluated.changed_region.mean() < 1


def test_the_regions_come_from_ground_truth_only_and_are_the_baselines_too(pipeline, batch):
    evaluated = evaluation_batch(pipeline, batch)
    torch.manual_seed(1)
    other_model = TryOnPipeline(TryOnGenerators.from_config(pipeline.config), pipeline.config)
    other = evaluation_batch(other_model, batch)
    assert not torch.equal(other.tryon, evaluated.tryon)
    assert torch.equal(other.changed_region, evaluated.changed_region)
    assert torch.equal(other.unpaired_changed_region, evaluated.unpaired_changed_region)
    baseline = baseline_batch(evaluated)
    assert baseline.changed_region is evaluated.changed_region
    assert baseline.unpaired_changed_region is evaluated.unpaired_changed_region
    wider = dataclasses.replace(pipeline.config, arm_hole_dilation=pipeline.config.arm_hole_dilation + 8)
    grown = evaluation_batch(TryOnPipeline(pipeline.generators, wider), batch).changed_region
    assert grown.sum() > evaluated.changed_region.sum()  # the model's hole dilation sets the growth
