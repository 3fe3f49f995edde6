"""The training loop of one stage: data stream, steps, logs, grids and checkpoints.

A stage's run folder holds `checkpoint.pt` (rewritten atomically every `checkpoint_interval`
steps and at the end), `options.json` (the resolved configuration), `stats.jsonl` (one object per
log interval), `tensorboard/` and `grids/`. Only rank 0 writes them.

The checkpoint holds everything needed to continue exactly: the generators (raw and EMA, the keys
`TryOnPipeline.from_checkpoint` reads), the discriminators, optimizers, schedulers, loss scaler, the
partial log interval, the RNG states and the data position (epoch and steps into it; the order of
an epoch depends only on the seed and the epoch). A resumed run therefore sees the same batches,
the same noise and the same weights as one that was never interrupted.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from tryon.atomic import atomic_path
from tryon.checkpoint import load_checkpoint, save_checkpoint
from tryon.config import ModelConfig, TrainConfig
from tryon.data.dataset import TryOnDataset
from tryon.data.layout import write_rgb
from tryon.nets import VGG19Features
from tryon.train.data import ResumableSampler, make_loader
from tryon.train.distributed import DistributedContext, barrier, broadcast_flag
from tryon.train.grids import grid_batch, render_grid
from tryon.train.schedule import stage_schedule
from tryon.train.stages import STAGES
from tryon.train.state import CHECKPOINT_NAME, capture_rng, remove_stale_temporaries, restore_rng
from tryon.train.stats import StatsWriter
from tryon.train.trainer import StageTrainer, batch_split, to_device

logger = logging.getLogger(__name__)


def write_options(path: Path, options: dict[str, Any]) -> None:
    """The resolved configuration of a run, as JSON."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(options, indent=2, sort_keys=True) + "\n")


def run_stage(
    *,
    stage: str,  # sgm, warp or fusion
    data_root: Path,  # dataset root in the ACGPN/VITON layout (its train phase is used)
    run_dir: Path,  # OUT/{stage}: checkpoint.pt, stats.jsonl, options.json, tensorboard/, grids/
    model_config: ModelConfig,  # network sizes and resolution
    config: TrainConfig,  # schedule, optimisation, speed switches, intervals
    init_from: Path | None,  # the previous stage's checkpoint; None: fresh weights
    resume: bool,  # continue from run_dir/checkpoint.pt when it exists
    context: DistributedContext,  # rank, world size and device
    vgg: VGG19Features | None = None,  # perceptual loss network; None turns those terms off
    progress: bool = True,  # tqdm progress bar on rank 0
) -> Path:
    """Train one stage to its end (or its time budget) and return its checkpoint path."""
    stage_def = STAGES[stage]
    stage_config = config.stages[stage]
    run_dir = Path(run_dir)
    checkpoint_path = run_dir / CHECKPOINT_NAME
    resumed = None
    if checkpoint_path.exists():
        if not resume:
            raise FileExistsError(
                f"{checkpoint_path} exists; pass --resume to continue that run or choose another --out"
            )
        resumed = load_checkpoint(checkpoint_path, expect=model_config, map_location=context.device).state
        if resumed.get("finished"):
            logger.info("stage %s already finished at step %d (%s)", stage, resumed["step"], checkpoint_path)
            return checkpoint_path
    if context.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        for stale in remove_stale_temporaries(checkpoint_path):
            logger.warning("removed %s, left by a checkpoint write that was interrupted", stale)

    dataset = TryOnDataset(data_root, phase="train", resolution=model_config.resolution)
    batch_per_device, rounds = batch_split(config.batch_size, config.batch_per_device, context.world_size)
    sampler = ResumableSampler(dataset, rank=context.rank, world_size=context.world_size, seed=config.seed)
    steps_per_epoch = sampler.num_samples // (batch_per_device * rounds)
    if steps_per_epoch == 0:
        raise ValueError(
            f"{data_root}: {len(dataset)} training pairs give no full batch of {config.batch_size} "
            f"on {context.world_size} device(s); lower train.batch_size or add data"
        )
    schedule = stage_schedule(stage_config, steps_per_epoch=steps_per_epoch)
    trainer = StageTrainer(
        stage=stage_def, model_config=model_config, config=config, schedule=schedule, context=context, vgg=vgg
    )
    if resumed is not None:
        trainer.load_state_dict(resumed)
    elif init_from is not None:
        trainer.load_weights(
            load_checkpoint(init_from, expect=model_config, map_location=context.device).state
        )
    trainer.prepare()

    loader = make_loader(
        dataset,
        sampler,
        batch_per_device=batch_per_device,
        workers=config.workers,
        pin_memory=context.device.type == "cuda",
    )
    epoch = resumed["epoch"] if resumed else 0
    step_in_epoch = resumed["step_in_epoch"] if resumed else 0
    elapsed_before = resumed["elapsed"] if resumed else 0.0
    if context.is_main:
        write_options(
            run_dir / "options.json",
            {
                "stage": stage,
                "data": str(data_root),
                "init_from": None if init_from is None else str(init_from),
                "model": model_config.to_dict(),
                "train": config.to_dict(),
                "precision": trainer.precision.name,
                "device": str(context.device),
                "world_size": context.world_size,
                "batch_per_device": batch_per_device,
                "accumulation_rounds": rounds,
                "steps_per_epoch": steps_per_epoch,
                "total_steps": schedule.total_steps,
                "freeze_steps": schedule.freeze_steps,
                "torch": torch.__version__,
            },
        )
    writer = StatsWriter(run_dir, enabled=context.is_main, resume_step=trainer.step if resumed else None)
    grid = grid_batch(dataset, config.grid_samples) if context.is_main else None
    if resumed is not None:
        restore_rng(resumed["rng"], context.device)

    def save(*, finished: bool) -> None:
        if not context.is_main:
            return
        state = trainer.state_dict()
        state.update(
            epoch=epoch,
            step_in_epoch=step_in_epoch,
            elapsed=elapsed(),
            finished=finished,
            rng=capture_rng(context.device),
            train_config=json.dumps(config.to_dict()),
        )
        save_checkpoint(checkpoint_path, model_config=model_config, state=state)

    def write_grid() -> None:
        if not context.is_main:
            return
        batch, unpaired = grid
        image = render_grid(
            trainer.ema,
            batch,
            unpaired=unpaired,
            config=model_config,
            seed=config.seed,
            channels_last=config.channels_last,
        )
        write_rgb(run_dir / "grids" / f"step_{trainer.step:07d}.png", image)
        writer.add_image("tryon", image, trainer.step)

    started = time.monotonic()
    last_log = (trainer.step, started)

    def elapsed() -> float:
        return elapsed_before + time.monotonic() - started

    def log() -> bool:
        """Write the interval's statistics; returns whether the time budget is spent."""
        nonlocal last_log
        means = trainer.stats.collect(context)
        now = time.monotonic()
        steps = trainer.step - last_log[0]
        rate = steps / max(now - last_log[1], 1e-9)
        rates = trainer.learning_rates()
        record = {
            "stage": stage,
            "step": trainer.step,
            "epoch": trainer.step / steps_per_epoch,
            "time": elapsed(),
            "timestamp": time.time(),
            **means,
            "lr": rates[stage_def.main],
            **{f"lr/{name}": value for name, value in rates.items()},
            "steps_per_s": rate,
            "images_per_s": rate * config.batch_size,
        }
        writer.write(record)
        main_terms = {name: value for name, value in means.items() if name.startswith(f"{stage_def.main}/")}
        bar.set_postfix({name: f"{value:.3g}" for name, value in main_terms.items()}, refresh=False)
        last_log = (trainer.step, now)
        budget = stage_config.budget_minutes
        return broadcast_flag(budget is not None and elapsed() > budget * 60, context)

    bar = tqdm(
        total=schedule.total_steps,
        initial=trainer.step,
        desc=stage,
        unit="step",
        dynamic_ncols=True,
        disable=not (progress and context.is_main),
    )
    iterator = None
    out_of_time = False
    with logging_redirect_tqdm():
        while trainer.step < schedule.total_steps and not out_of_time:
            if iterator is None:
                sampler.set_position(epoch, step_in_epoch * batch_per_device * rounds)
                iterator = iter(loader)
            micro_batches = []
            for _ in range(rounds):
                indices, batch = next(iterator)
                micro_batches.append(
                    (indices.tolist(), to_device(batch, context.device, channels_last=config.channels_last))
                )
            trainer.train_step(micro_batches, epoch=epoch)
            bar.update(1)
            step_in_epoch += 1
            if step_in_epoch == steps_per_epoch:
                epoch, step_in_epoch, iterator = epoch + 1, 0, None
            if trainer.step % config.log_interval == 0:
                out_of_time = log()
            if trainer.step % config.grid_interval == 0:
                write_grid()
            if trainer.step % config.checkpoint_interval == 0 and trainer.step < schedule.total_steps:
                save(finished=False)
        if trainer.stats.counts:
            log()
        if out_of_time:
            logger.info(
                "stage %s: time budget of %s min spent at step %d",
                stage,
                stage_config.budget_minutes,
                trainer.step,
            )
        save(finished=True)
        if trainer.step % config.grid_interval:
            write_grid()
    bar.close()
    writer.close()
    del iterator, loader
    barrier(context)
    return checkpoint_path
