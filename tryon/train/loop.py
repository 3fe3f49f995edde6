"""The training loop of one stage: data stream, steps, logs, grids and checkpoints.

A stage's run folder holds `checkpoint.pt` (rewritten atomically every `checkpoint_interval`
steps and at the end), `options.json` (the resolved configuration), `stats.jsonl` (one object per
log interval), `tensorboard/` and `grids/`. Only rank 0 writes them.

The checkpoint holds everything needed to continue exactly: the generators (raw and EMA, the keys
`TryOnPipeline.from_checkpoint` reads), the discriminators, optimizers, schedulers, loss scaler, the
partial log interval, the RNG states and the data position (epoch and steps into it; the order of
an epoch depends only on the seed and the epoch). A resumed run therefore sees the same batches,
the same noise and the same weights as one that was never interrupted. It also keeps the settings a
resumed run must share (`RESUME_KEYS`; another batch size, world size or schedule is refused,
naming the keys) and whether the stage ended at its last step or at its time budget: a stage
stopped by its budget continues when resumed with a larger one.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader
from tqdm.contrib.logging import logging_redirect_tqdm

from tryon.atomic import atomic_path
from tryon.checkpoint import load_checkpoint, save_checkpoint
from tryon.config import ModelConfig, TrainConfig
from tryon.data.dataset import TryOnDataset
from tryon.data.layout import write_rgb
from tryon.nets import VGG19Features
from tryon.progress import progress_bar
from tryon.train.data import ResumableSampler, make_loader
from tryon.train.distributed import DistributedContext, barrier, broadcast_flag
from tryon.train.grids import grid_batch, render_grid
from tryon.train.schedule import StageSchedule, stage_schedule
from tryon.train.stages import STAGES
from tryon.train.state import CHECKPOINT_NAME, capture_rng, remove_stale_temporaries, restore_rng
from tryon.train.stats import StatsWriter
from tryon.train.trainer import MicroBatch, StageTrainer, batch_split, to_device

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
    run_dir = Path(run_dir)
    checkpoint_path = run_dir / CHECKPOINT_NAME
    # 1. The run folder: a fresh run, or the checkpoint to continue from.
    resumed = resume_state(checkpoint_path, resume=resume, model_config=model_config, context=context)
    # 2. The data; a resumed run must cut it into the same steps as the run it continues.
    data = build_data(data_root, model_config=model_config, config=config, context=context)
    schedule = stage_schedule(config.stages[stage], steps_per_epoch=data.steps_per_epoch)
    previous_step = None if init_from is None else load_checkpoint(init_from, mmap=True).state.get("step")
    record = run_record(config, schedule=schedule, context=context, previous_stage_step=previous_step)
    if resumed is not None:
        check_resumable(resumed, record, path=checkpoint_path)
        if not continues(resumed, config.stages[stage].budget_minutes, stage=stage, path=checkpoint_path):
            return checkpoint_path
    prepare_run_folder(run_dir, context)
    # The trainer, with the resumed or the previous stage's weights.
    trainer = build_trainer(
        stage,
        model_config=model_config,
        config=config,
        schedule=schedule,
        context=context,
        vgg=vgg,
        resumed=resumed,
        init_from=init_from,
    )
    # 3. The resolved options, for whoever reads the run folder later.
    if context.is_main:
        write_options(
            run_dir / "options.json",
            stage_options(
                stage,
                data_root=data_root,
                init_from=init_from,
                model_config=model_config,
                config=config,
                trainer=trainer,
                data=data,
                context=context,
            ),
        )
    # 4. The step loop, and 5. the final statistics, checkpoint and grid.
    loop = StageLoop(
        stage,
        trainer=trainer,
        data=data,
        run_dir=run_dir,
        model_config=model_config,
        config=config,
        context=context,
        resumed=resumed,
        record=record,
        progress=progress,
    )
    loop.run()
    loop.close()
    del loop, data  # shuts the loader's workers down before the other ranks move on
    barrier(context)
    return checkpoint_path


def resume_state(
    checkpoint_path: Path, *, resume: bool, model_config: ModelConfig, context: DistributedContext
) -> dict[str, Any] | None:
    """The state of the checkpoint to continue from, or None for a fresh run.

    An existing checkpoint is refused unless `resume` is set, so that a run is never overwritten by
    accident; a checkpoint of another model configuration is refused by `load_checkpoint`.
    """
    if not checkpoint_path.exists():
        return None
    if not resume:
        raise FileExistsError(
            f"{checkpoint_path} exists; pass --resume to continue that run or choose another --out"
        )
    return load_checkpoint(checkpoint_path, expect=model_config, map_location=context.device).state


RESUME_KEYS = (
    "batch_size",
    "world_size",
    "steps_per_epoch",
    "total_steps",
    "freeze_steps",
    "lr",
    "decay_start",
    "previous_stage_step",
)
"""What a resumed run must share with the run it continues: the same samples per step on the same
shards (batch size, world size, steps per epoch) and the same schedule (length, freeze steps,
learning-rate decay); the optimizer and scheduler states restored from the checkpoint assume them.
And the same previous stage: a stage started from the previous stage's checkpoint at one step is
stale once that stage has trained on (e.g. continued with a larger time budget). The micro-batch
per device may differ: it changes only how a step is accumulated."""


class ResumeMismatchError(ValueError):
    """A checkpoint to resume from was trained with another batch size, world size or schedule."""


def run_record(
    config: TrainConfig,
    *,
    schedule: StageSchedule,
    context: DistributedContext,
    previous_stage_step: int | None,  # the step of the checkpoint the stage started from
) -> dict[str, Any]:
    """The settings of this run a resumed run must share (`RESUME_KEYS`), as the checkpoint keeps them."""
    return {
        "previous_stage_step": previous_stage_step,
        "batch_size": config.batch_size,
        "world_size": context.world_size,
        "steps_per_epoch": schedule.steps_per_epoch,
        "total_steps": schedule.total_steps,
        "freeze_steps": dict(schedule.freeze_steps),
        "lr": config.lr,
        "decay_start": config.decay_start,
    }


def check_resumable(resumed: dict[str, Any], record: dict[str, Any], *, path: Path) -> None:
    """Refuse, naming every differing key, to continue a checkpoint trained with other settings."""
    recorded = resumed.get("run", {})
    differing = [key for key in RESUME_KEYS if key in recorded and recorded[key] != record[key]]
    if not differing:
        return
    advice = "resume with the settings it was trained with, or start afresh with another --out"
    if "previous_stage_step" in differing:
        advice = (
            "the previous stage has trained on since this stage started from it; move "
            f"{path.parent} away to train this stage afresh from it"
        )
    differences = ", ".join(f"{key} {recorded[key]} (this run: {record[key]})" for key in differing)
    raise ResumeMismatchError(f"{path} cannot be resumed with these settings: {differences}; {advice}")


def continues(resumed: dict[str, Any], budget_minutes: float | None, *, stage: str, path: Path) -> bool:
    """Whether a resumed stage trains on: an interrupted one does, a finished one does not, and one
    stopped by its time budget does when the budget is now larger than the time it has trained."""
    if not resumed.get("finished"):
        return True
    step, elapsed = resumed["step"], resumed.get("elapsed", 0.0)
    if not resumed.get("stopped_by_budget"):
        logger.info("stage %s already finished at step %d (%s)", stage, step, path)
        return False
    if budget_minutes is None or elapsed < budget_minutes * 60:
        budget = "no limit" if budget_minutes is None else f"{budget_minutes:g} min"
        logger.info(
            "stage %s stopped by its time budget at step %d after %.1f min; continuing with %s",
            stage, step, elapsed / 60, budget,
        )
        return True
    logger.info(
        "stage %s already finished at step %d: its time budget of %g min is spent (%.1f min trained); "
        "raise train.stages.%s.budget_minutes to continue it",
        stage, step, budget_minutes, elapsed / 60, stage,
    )
    return False


def prepare_run_folder(run_dir: Path, context: DistributedContext) -> None:
    """On rank 0, create the run folder and remove what an interrupted checkpoint write left."""
    if not context.is_main:
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    for stale in remove_stale_temporaries(run_dir / CHECKPOINT_NAME):
        logger.warning("removed %s, left by a checkpoint write that was interrupted", stale)


@dataclass(frozen=True)
class StageData:
    """The training pairs of a stage and how they are cut into optimizer steps."""

    dataset: TryOnDataset
    sampler: ResumableSampler  # this rank's share, in the order of the seed and the epoch
    loader: DataLoader  # (indices, batch) micro-batches in the sampler's order
    batch_per_device: int  # micro-batch size
    rounds: int  # micro-batches accumulated per optimizer step
    steps_per_epoch: int

    @property
    def samples_per_step(self) -> int:
        """Samples of one optimizer step on this rank."""
        return self.batch_per_device * self.rounds


def build_data(
    data_root: Path, *, model_config: ModelConfig, config: TrainConfig, context: DistributedContext
) -> StageData:
    """The train phase of `data_root`, split over the devices and into accumulation rounds."""
    dataset = TryOnDataset(data_root, phase="train", resolution=model_config.resolution)
    batch_per_device, rounds = batch_split(config.batch_size, config.batch_per_device, context.world_size)
    sampler = ResumableSampler(dataset, rank=context.rank, world_size=context.world_size, seed=config.seed)
    steps_per_epoch = sampler.num_samples // (batch_per_device * rounds)
    if steps_per_epoch == 0:
        raise ValueError(
            f"{data_root}: {len(dataset)} training pairs give no full batch of {config.batch_size} "
            f"on {context.world_size} device(s); lower train.batch_size or add data"
        )
    loader = make_loader(
        dataset,
        sampler,
        batch_per_device=batch_per_device,
        workers=config.workers,
        pin_memory=context.device.type == "cuda",
    )
    return StageData(
        dataset=dataset,
        sampler=sampler,
        loader=loader,
        batch_per_device=batch_per_device,
        rounds=rounds,
        steps_per_epoch=steps_per_epoch,
    )


def build_trainer(
    stage: str,
    *,
    model_config: ModelConfig,
    config: TrainConfig,
    schedule: StageSchedule,
    context: DistributedContext,
    vgg: VGG19Features | None,
    resumed: dict[str, Any] | None,  # the checkpoint state to continue from
    init_from: Path | None,  # otherwise the previous stage's checkpoint, if any
) -> StageTrainer:
    """The stage's trainer on its schedule, with the resumed state or the previous stage's weights."""
    trainer = StageTrainer(
        stage=STAGES[stage],
        model_config=model_config,
        config=config,
        schedule=schedule,
        context=context,
        vgg=vgg,
    )
    if resumed is not None:
        trainer.load_state_dict(resumed)
    elif init_from is not None:
        previous = load_checkpoint(init_from, expect=model_config, map_location=context.device)
        trainer.load_weights(previous.state)
    trainer.prepare()
    return trainer


def stage_options(
    stage: str,
    *,
    data_root: Path,
    init_from: Path | None,
    model_config: ModelConfig,
    config: TrainConfig,
    trainer: StageTrainer,
    data: StageData,
    context: DistributedContext,
) -> dict[str, Any]:
    """What options.json records: the configuration and what it resolved to on this machine."""
    return {
        "stage": stage,
        "data": str(data_root),
        "init_from": None if init_from is None else str(init_from),
        "model": model_config.to_dict(),
        "train": config.to_dict(),
        "precision": trainer.precision.name,
        "device": str(context.device),
        "world_size": context.world_size,
        "batch_per_device": data.batch_per_device,
        "accumulation_rounds": data.rounds,
        "steps_per_epoch": data.steps_per_epoch,
        "total_steps": trainer.schedule.total_steps,
        "freeze_steps": trainer.schedule.freeze_steps,
        "torch": torch.__version__,
    }


class StageLoop:
    """The step loop of one stage and what it writes on the way (rank 0 only): statistics every
    `log_interval` steps, a grid every `grid_interval`, a checkpoint every `checkpoint_interval`,
    and all three at the end. The stage ends after its last step or when its time budget is spent.

    The data position (epoch, steps into it) and the time spent continue from `resumed`, whose RNG
    states are restored last, so that a resumed run sees what an uninterrupted one would.
    """

    def __init__(
        self,
        stage: str,
        *,
        trainer: StageTrainer,
        data: StageData,
        run_dir: Path,
        model_config: ModelConfig,
        config: TrainConfig,
        context: DistributedContext,
        resumed: dict[str, Any] | None,
        record: dict[str, Any],  # `run_record`: kept in the checkpoint for a later resume to check
        progress: bool,
    ) -> None:
        self.stage = stage
        self.record = record
        self.trainer = trainer
        self.data = data
        self.run_dir = run_dir
        self.model_config = model_config
        self.config = config
        self.context = context
        self.epoch = resumed["epoch"] if resumed else 0
        self.step_in_epoch = resumed["step_in_epoch"] if resumed else 0
        self.elapsed_before = resumed["elapsed"] if resumed else 0.0
        self.writer = StatsWriter(
            run_dir, enabled=context.is_main, resume_step=trainer.step if resumed else None
        )
        self.grid = grid_batch(data.dataset, config.grid_samples) if context.is_main else None
        if resumed is not None:
            restore_rng(resumed["rng"], context.device)
        self.started = time.monotonic()
        self.last_log = (trainer.step, self.started)
        self.bar = progress_bar(
            total=trainer.schedule.total_steps,
            initial=trainer.step,
            desc=stage,
            unit="step",
            enabled=progress and context.is_main,
        )
        self.iterator: Iterator | None = None

    def elapsed(self) -> float:
        """Seconds of training in this stage, including those before a resume."""
        return self.elapsed_before + time.monotonic() - self.started

    def run(self) -> None:
        """Train to the end of the schedule or of the time budget, then write the final statistics,
        checkpoint and grid."""
        trainer, config = self.trainer, self.config
        total_steps = trainer.schedule.total_steps
        out_of_time = False
        with logging_redirect_tqdm():
            while trainer.step < total_steps and not out_of_time:
                trainer.train_step(self.next_micro_batches(), epoch=self.epoch)
                self.bar.update(1)
                self.advance_position()
                if trainer.step % config.log_interval == 0:
                    out_of_time = self.log()
                if trainer.step % config.grid_interval == 0:
                    self.write_grid()
                if trainer.step % config.checkpoint_interval == 0 and trainer.step < total_steps:
                    self.save(finished=False)
            self.finish(out_of_time=out_of_time)

    def next_micro_batches(self) -> list[MicroBatch]:
        """The next step's micro-batches on the device; a new epoch starts the loader at its position."""
        data = self.data
        if self.iterator is None:
            data.sampler.set_position(self.epoch, self.step_in_epoch * data.samples_per_step)
            self.iterator = iter(data.loader)
        micro_batches = []
        for _ in range(data.rounds):
            indices, batch = next(self.iterator)
            batch = to_device(batch, self.context.device, channels_last=self.config.channels_last)
            micro_batches.append((indices.tolist(), batch))
        return micro_batches

    def advance_position(self) -> None:
        """Count the step into the epoch; after the epoch's last step the next one starts."""
        self.step_in_epoch += 1
        if self.step_in_epoch == self.data.steps_per_epoch:
            self.epoch, self.step_in_epoch, self.iterator = self.epoch + 1, 0, None

    def log(self) -> bool:
        """Write the interval's statistics; returns whether the time budget is spent (on every rank)."""
        trainer, stage_def = self.trainer, self.trainer.stage
        means = trainer.stats.collect(self.context)
        now = time.monotonic()
        steps = trainer.step - self.last_log[0]
        rate = steps / max(now - self.last_log[1], 1e-9)
        rates = trainer.learning_rates()
        record = {
            "stage": self.stage,
            "step": trainer.step,
            "epoch": trainer.step / self.data.steps_per_epoch,
            "time": self.elapsed(),
            "timestamp": time.time(),
            **means,
            "lr": rates[stage_def.main],
            **{f"lr/{name}": value for name, value in rates.items()},
            "steps_per_s": rate,
            "images_per_s": rate * self.config.batch_size,
        }
        self.writer.write(record)
        main_terms = {name: value for name, value in means.items() if name.startswith(f"{stage_def.main}/")}
        self.bar.set_postfix({name: f"{value:.3g}" for name, value in main_terms.items()}, refresh=False)
        self.last_log = (trainer.step, now)
        budget = self.config.stages[self.stage].budget_minutes
        return broadcast_flag(budget is not None and self.elapsed() > budget * 60, self.context)

    def write_grid(self) -> None:
        """The EMA generators' try-ons of the fixed grid batch, as a PNG and in TensorBoard."""
        if not self.context.is_main:
            return
        batch, unpaired = self.grid
        image = render_grid(
            self.trainer.ema,
            batch,
            unpaired=unpaired,
            config=self.model_config,
            seed=self.config.seed,
            channels_last=self.config.channels_last,
        )
        write_rgb(self.run_dir / "grids" / f"step_{self.trainer.step:07d}.png", image)
        self.writer.add_image("tryon", image, self.trainer.step)

    def save(self, *, finished: bool, stopped_by_budget: bool = False) -> None:
        """Write the checkpoint: the trainer's state, the data position, the time, the RNG states and
        the run's settings; `stopped_by_budget` marks a stage that a larger budget can continue."""
        if not self.context.is_main:
            return
        state = self.trainer.state_dict()
        state.update(
            epoch=self.epoch,
            step_in_epoch=self.step_in_epoch,
            elapsed=self.elapsed(),
            finished=finished,
            stopped_by_budget=stopped_by_budget,
            run=self.record,
            rng=capture_rng(self.context.device),
            train_config=json.dumps(self.config.to_dict()),
        )
        save_checkpoint(self.run_dir / CHECKPOINT_NAME, model_config=self.model_config, state=state)

    def finish(self, *, out_of_time: bool) -> None:
        """Log the partial interval, save the finished checkpoint and draw the last grid."""
        trainer = self.trainer
        if trainer.stats.counts:
            self.log()
        if out_of_time:
            logger.info(
                "stage %s: time budget of %s min spent at step %d",
                self.stage,
                self.config.stages[self.stage].budget_minutes,
                trainer.step,
            )
        self.save(finished=True, stopped_by_budget=out_of_time)
        if trainer.step % self.config.grid_interval:
            self.write_grid()

    def close(self) -> None:
        """Close the progress bar and the statistics, and drop the data iterator."""
        self.bar.close()
        self.writer.close()
        self.iterator = None
