"""G3 learns to draw arms where a sleeve was only when training cuts masks out of the arms.

Two copies of G3 train the same small budget on the same synthetic data, with and without the
irregular arm masks, on the ground-truth layout (ACGPN's fusion training, so the test does not wait
for G1 and G2 to learn). They are then asked for unpaired try-ons that bare the arms: a person in a
long-sleeve top given a T-shirt or a tank top, on the exact layout of the synthetic ground truth.
The error that matters is over the newly bared skin: arm pixels of the ground truth that the old
sleeve covered in the photo.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from tryon.config import ModelConfig, Resolution, StageConfig, TrainConfig
from tryon.data.dataset import TryOnDataset, collate, image_to_tensor
from tryon.data.synthetic import generate_dataset
from tryon.data.synthetic.generate import render_sample
from tryon.labels import ARM_LABELS
from tryon.ops.composition import layout_without_garment, region_mask, worn_garment_mask
from tryon.steps import LayoutPrediction, fuse, represent_person
from tryon.train.distributed import DistributedContext
from tryon.train.schedule import stage_schedule
from tryon.train.stages import FUSION, GROUND_TRUTH_LOGIT
from tryon.train.trainer import StageTrainer

SIZE = Resolution(128, 96)
STEPS = 150
BATCH = 4
CASES = 8


def model_config() -> ModelConfig:
    return ModelConfig.from_preset("default", SIZE, base_width=8, max_width=64, disc_width=8, disc_scales=1)


def train_fusion(root, *, arm_masks: bool) -> StageTrainer:
    config = TrainConfig(
        precision="fp32",
        batch_size=BATCH,
        lr=5e-4,
        arm_masks=arm_masks,
        fusion_region="ground_truth",
        fused_optimizer=False,
        seed=0,
    )
    dataset = TryOnDataset(root, phase="train", resolution=SIZE)
    trainer = StageTrainer(
        stage=FUSION,
        model_config=model_config(),
        config=config,
        schedule=stage_schedule(StageConfig(max_steps=STEPS), steps_per_epoch=len(dataset) // BATCH),
        context=DistributedContext(),
        vgg=None,
    )
    trainer.prepare()
    starts = itertools.cycle(range(0, len(dataset) - BATCH + 1, BATCH))
    for step, start in zip(range(STEPS), starts):
        indices = list(range(start, start + BATCH))
        trainer.train_step([(indices, collate([dataset[i] for i in indices]))], epoch=step * BATCH // len(dataset))
    return trainer


def sleeve_removal_cases() -> list[dict[str, torch.Tensor]]:
    """Test persons in long sleeves with a partner garment of shorter sleeves, rendered with the
    parsing map of the unpaired ground truth."""
    cases = []
    for index in range(200):
        partner = index + 1
        sample = render_sample(seed=7, phase="test", index=index, partner=partner, resolution=SIZE)
        if sample.design.kind != "long-sleeve" or sample.partner_design.kind == "long-sleeve":
            continue
        garment = render_sample(seed=7, phase="test", index=partner, partner=index, resolution=SIZE)
        cases.append(
            {
                "image": image_to_tensor(sample.person),
                "label": torch.from_numpy(sample.label.astype(np.int64)),
                "keypoints": torch.from_numpy(sample.body.pose()).float(),
                "garment": image_to_tensor(garment.laydown),
                "garment_mask": torch.from_numpy(garment.laydown_mask > 127).float()[None],
                "target": image_to_tensor(sample.unpaired),
                "target_label": torch.from_numpy(sample.unpaired_label.astype(np.int64)),
            }
        )
        if len(cases) == CASES:
            break
    return cases


def bared_skin_l1(trainer: StageTrainer, cases: list[dict[str, torch.Tensor]]) -> float:
    """Mean absolute error of the try-on over the arm pixels the old sleeves covered."""
    batch = {key: torch.stack([case[key] for case in cases]) for key in cases[0]}
    generators, config = trainer.ema, trainer.model_config
    with torch.no_grad():
        person = represent_person(batch["image"], batch["label"], batch["keypoints"], config=config)
        target_labels = batch["target_label"][:, None]
        region = worn_garment_mask(target_labels)
        labels = layout_without_garment(target_labels, region)
        layout = LayoutPrediction(
            layout_logits=torch.zeros(len(cases), 1, *SIZE.shape),  # fuse reads only the labels
            labels=labels,
            garment_logits=(region * 2 - 1) * GROUND_TRUTH_LOGIT,
        )
        warp = generators.warper(garment=batch["garment"], garment_mask=batch["garment_mask"], target_mask=region)
        output = fuse(generators, person, layout, region, warp, config=config)
    bared = region_mask(target_labels, ARM_LABELS) * person.worn_garment
    assert bared.sum() > 50, "the cases must bare some arm skin"
    error = (output.image - batch["target"]).abs().mean(dim=1, keepdim=True)
    return float((error * bared).sum() / bared.sum())


@pytest.mark.slow
def test_arm_masks_teach_g3_to_draw_bared_arms(tmp_path):
    torch.set_num_threads(2)
    generate_dataset(tmp_path, n_train=32, n_test=2, resolution=SIZE, seed=0, workers=1)
    cases = sleeve_removal_cases()
    assert len(cases) == CASES
    with_masks = bared_skin_l1(train_fusion(tmp_path, arm_masks=True), cases)
    without_masks = bared_skin_l1(train_fusion(tmp_path, arm_masks=False), cases)
    assert with_masks < 0.8 * without_masks, (with_masks, without_masks)
