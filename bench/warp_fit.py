"""How well the warp stage fits garments to the worn region, for variants of the warper's settings.

Trains the warp stage alone (it needs no G1 or G2: teacher forcing warps onto the worn mask) for a
fixed number of steps on the demo's synthetic training split, once per variant, and reports the IoU
of the warped garment mask with the worn garment mask on the test split: the untrained warper's
(the moment alignment alone) and the trained EMA warper's. This is the measurement behind the demo's
`model.tps_grid`, `model.tps_levels` and the warp loss weights in params.yaml.

    .venv/bin/python bench/warp_fit.py --data runs/demo/data --steps 800
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from tryon.config import LossWeights, ModelConfig, StageConfig, TrainConfig, load_params
from tryon.data.dataset import TryOnDataset, collate
from tryon.ops.composition import label_map, worn_garment_mask
from tryon.train.distributed import DistributedContext
from tryon.train.schedule import stage_schedule
from tryon.train.stages import WARP
from tryon.train.trainer import StageTrainer

VARIANTS = {
    "5x5 grid, 6 levels, L1 only, constraint 1": ({"tps_grid": 5, "tps_levels": 6}, {"warped_mask_dice": 0.0, "tps_constraint": 1.0}),
    "5x5 grid, 4 levels, L1 only, constraint 0.01": ({"tps_grid": 5, "tps_levels": 4}, {"warped_mask_dice": 0.0}),
    "5x5 grid, 4 levels, + Dice": ({"tps_grid": 5, "tps_levels": 4}, {}),
    "7x7 grid, 4 levels, + Dice": ({"tps_grid": 7, "tps_levels": 4}, {}),
    "9x9 grid, 4 levels, + Dice": ({"tps_grid": 9, "tps_levels": 4}, {}),
}
BATCH = 4


def mean_iou(warped: torch.Tensor, worn: torch.Tensor) -> float:
    a, b = warped > 0.5, worn > 0.5
    return float(((a & b).sum(dim=(1, 2, 3)).float() / (a | b).sum(dim=(1, 2, 3)).clamp_min(1)).mean())


def fit(data: Path, params_path: Path, steps: int, model: dict, weights: dict) -> dict[str, float]:
    """Train the warp stage of one variant and return its IoUs and seconds per step."""
    params = load_params(params_path)
    resolution = params.data.resolution
    config = ModelConfig.from_preset(params.model.preset, resolution, **model)
    train_set = TryOnDataset(data, phase="train", resolution=resolution)
    trainer = StageTrainer(
        stage=WARP,
        model_config=config,
        config=TrainConfig(precision="auto", lr=params.train.lr, batch_size=BATCH, weights=LossWeights(**weights)),
        schedule=stage_schedule(StageConfig(max_steps=steps), steps_per_epoch=len(train_set) // BATCH),
        context=DistributedContext(),
        vgg=None,
    )
    trainer.prepare()
    test = TryOnDataset(data, phase="test", resolution=resolution)
    batch = collate([test[index] for index in range(len(test))])
    worn = worn_garment_mask(label_map(batch.label))

    def score() -> float:
        with torch.no_grad():
            warper = trainer.ema.warper.eval()
            return mean_iou(warper(garment=batch.garment, garment_mask=batch.garment_mask, target_mask=worn).warped_mask, worn)

    before = score()
    order = torch.Generator().manual_seed(0)
    times = []
    for _ in range(steps):
        indices = torch.randint(len(train_set), (BATCH,), generator=order).tolist()
        micro_batch = collate([train_set[index] for index in indices])
        started = time.perf_counter()
        trainer.train_step([(indices, micro_batch)], epoch=0)
        times.append(time.perf_counter() - started)
    return {"untrained": before, "trained": score(), "s_per_step": statistics.median(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="Dataset root (e.g. the demo's runs/demo/data).")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--steps", type=int, default=800)
    arguments = parser.parse_args()
    print(f"| variant | IoU untrained | IoU after {arguments.steps} steps | s/step |")
    print("|---|---|---|---|")
    for name, (model, weights) in VARIANTS.items():
        result = fit(arguments.data, arguments.params, arguments.steps, model, weights)
        print(f"| {name} | {result['untrained']:.3f} | {result['trained']:.3f} | {result['s_per_step']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
