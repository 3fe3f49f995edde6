"""One stage's networks, optimizers and phases, and its training step.

`StageTrainer.train_step` is the whole step: per micro-batch one stage forward and every due
phase's backward, then one step per optimizer, the learning-rate schedules and the EMA. Nothing in
it reads a value back to the host; the loss terms stay on the device in `stats` until the loop
logs them.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import torch
from torch.optim import Adam, Optimizer
from torch.optim.lr_scheduler import LambdaLR

from tryon import allocator
from tryon.checkpoint import DISCRIMINATOR_STATE, EMA_STATE, RAW_STATE
from tryon.config import ModelConfig, TrainConfig
from tryon.data.dataset import TryOnBatch
from tryon.nets import TryOnDiscriminators, TryOnGenerators, VGG19Features
from tryon.precision import discriminator_memory_format, resolve_precision
from tryon.train.distributed import DistributedContext, broadcast_module
from tryon.train.ema import copy_weights, ema_decay, update_ema
from tryon.train.noise import SampleNoise
from tryon.train.phases import accumulate_gradients, build_phases, step_optimizers
from tryon.train.schedule import StageSchedule, linear_decay
from tryon.train.stages import SharedFeatures, Stage, StageContext
from tryon.train.stats import LossStats

MicroBatch = tuple[list[int], TryOnBatch]
"""Dataset indices and the batch, already on the device."""


def batch_split(batch_size: int, batch_per_device: int | None, world_size: int) -> tuple[int, int]:
    """(micro-batch per device, accumulation rounds) for an effective `batch_size` on `world_size` devices."""
    per_device = batch_per_device or batch_size // world_size
    if per_device <= 0 or batch_size % (per_device * world_size):
        raise ValueError(
            f"train.batch_size={batch_size} is not a multiple of batch_per_device={per_device} x "
            f"{world_size} devices; choose sizes that divide it"
        )
    return per_device, batch_size // (per_device * world_size)


def to_device(batch: TryOnBatch, device: torch.device, *, channels_last: bool) -> TryOnBatch:
    """Move a batch to the device (asynchronously from pinned memory), images NHWC if asked."""
    batch = batch.to(device, non_blocking=True)
    if not channels_last:
        return batch
    return dataclasses.replace(
        batch,
        **{
            field.name: value.contiguous(memory_format=torch.channels_last)
            for field in dataclasses.fields(batch)
            if isinstance(value := getattr(batch, field.name), torch.Tensor) and value.dim() == 4
        },
    )


def _match_parameter_layout(optimizer: Optimizer) -> None:
    # A loaded optimizer state keeps the memory format it was saved in; fused Adam assumes the
    # state and the parameter share one, so restride the state to the parameter's.
    for parameter, state in optimizer.state.items():
        for key, value in state.items():
            if (
                isinstance(value, torch.Tensor)
                and value.shape == parameter.shape
                and value.stride() != parameter.stride()
            ):
                state[key] = torch.empty_like(parameter).copy_(value)


class StageTrainer:
    """Builds the stage's models and optimizers and runs its training steps."""

    def __init__(
        self,
        *,
        stage: Stage,  # which generators and discriminators train, and the forward pass
        model_config: ModelConfig,  # network sizes and resolution
        config: TrainConfig,  # optimisation and speed switches
        schedule: StageSchedule,  # stage length and freeze steps
        context: DistributedContext,  # rank, world size, device
        vgg: VGG19Features | None,  # perceptual loss network; None turns those terms off
    ) -> None:
        self.stage = stage
        self.model_config = model_config
        self.config = config
        self.schedule = schedule
        self.context = context
        self.device = context.device
        self.precision = resolve_precision(config.precision, self.device)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed input sizes: pick the fastest kernels once
        else:
            allocator.retain_freed_memory()  # each step reuses the last step's memory: no new pages
        self.step = 0
        self.stats = LossStats()
        self._check_freeze_targets()

        memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        torch.manual_seed(config.seed)  # the same initial weights on every rank
        self.generators = TryOnGenerators.from_config(model_config, checkpointing=config.checkpointing)
        self.discriminators = TryOnDiscriminators.from_config(
            model_config, spectral_norm=config.d_regularizer == "spectral_norm"
        )
        self.generators.to(self.device, memory_format=memory_format)
        self.discriminators.to(
            self.device,
            memory_format=discriminator_memory_format(self.device, channels_last=config.channels_last),
        )
        self.ema = copy.deepcopy(self.generators).eval().requires_grad_(False)
        self.vgg = None
        if vgg is not None and stage.uses_vgg:
            self.vgg = vgg.to(self.device, memory_format=memory_format)

        self.optimizers: dict[str, Optimizer] = {}
        self.schedulers: dict[str, LambdaLR] = {}
        for role in stage.roles:
            span = schedule.span(role.module)
            modules = {role.phase: self.generators.get_submodule(role.module)}
            if role.discriminator is not None:
                modules[role.discriminator_phase] = self.discriminators.get_submodule(role.discriminator)
            for name, module in modules.items():
                optimizer = Adam(
                    module.parameters(),
                    lr=config.lr,
                    betas=config.betas,
                    fused=config.fused_optimizer or None,
                    foreach=None if config.fused_optimizer else True,
                )
                self.optimizers[name] = optimizer
                self.schedulers[name] = LambdaLR(
                    optimizer, linear_decay(span, decay_start=config.decay_start)
                )
        self.scaler = self.precision.grad_scaler()
        self.phases = build_phases(
            stage,
            generators=self.generators,
            discriminators=self.discriminators,
            optimizers=self.optimizers,
            config=config,
        )
        self.noise = SampleNoise(
            seed=config.seed,
            enabled=config.noise,
            channels=model_config.noise_channels,
            inpaint_masks=config.arm_masks and any(role.module == "g3" for role in stage.roles),
        )
        self.forward_context = StageContext(
            generators=self.generators,
            model_config=model_config,
            weights=config.weights,
            vgg=self.vgg,
            fusion_region=config.fusion_region,
        )

    def _check_freeze_targets(self) -> None:
        trained = [role.module for role in self.stage.roles]
        for name in self.schedule.freeze_steps:
            if not any(name == module or name.startswith(f"{module}.") for module in trained):
                raise ValueError(
                    f"train.stages.{self.stage.name}.frozen_after names {name!r}, which this stage does not "
                    f"train; expected one of {trained} or a submodule of them (e.g. warper.refine)"
                )

    # Weights in and out.

    def load_weights(self, state: dict[str, Any]) -> None:
        """Start from a previous stage's checkpoint: generators, their EMA and the discriminators."""
        self.generators.load_state_dict(state[RAW_STATE])
        self.ema.load_state_dict(state.get(EMA_STATE, state[RAW_STATE]))
        if DISCRIMINATOR_STATE in state:
            self.discriminators.load_state_dict(state[DISCRIMINATOR_STATE])

    def state_dict(self) -> dict[str, Any]:
        """Networks, EMA, optimizers, schedulers, loss scaler, partial stats and the step."""
        return {
            "stage": self.stage.name,
            "step": self.step,
            RAW_STATE: self.generators.state_dict(),
            EMA_STATE: self.ema.state_dict(),
            DISCRIMINATOR_STATE: self.discriminators.state_dict(),
            "optimizers": {name: optimizer.state_dict() for name, optimizer in self.optimizers.items()},
            "schedulers": {name: scheduler.state_dict() for name, scheduler in self.schedulers.items()},
            "scaler": self.scaler.state_dict(),
            "stats": self.stats.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue a run of this stage from `state_dict()`."""
        if state["stage"] != self.stage.name:
            raise ValueError(f"checkpoint is of stage {state['stage']!r}, not {self.stage.name!r}")
        self.load_weights(state)
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(state["optimizers"][name])
            _match_parameter_layout(optimizer)
        for name, scheduler in self.schedulers.items():
            scheduler.load_state_dict(state["schedulers"][name])
        self.scaler.load_state_dict(state["scaler"])
        self.stats.load_state_dict(state["stats"])
        self.step = state["step"]

    # Setup after loading.

    def prepare(self) -> None:
        """Share rank 0's weights, freeze what does not train at the current step, compile if asked.

        Generators that the stage does not train run frozen with their EMA weights, which is what
        inference will use; a module frozen mid-stage gets its EMA weights the same way.
        """
        broadcast_module(self.generators, self.context)
        broadcast_module(self.ema, self.context)
        broadcast_module(self.discriminators, self.context)
        trained = {role.module for role in self.stage.roles}
        for name, _ in self.generators.named_children():
            if name not in trained:
                self._freeze(name)
        self.freeze_due()
        self.discriminators.train()
        if self.config.compile:
            self._compile()

    def _compile(self) -> None:
        networks = [
            self.generators.g1.unet,
            self.generators.g2.unet,
            self.generators.warper.refine,
            self.generators.g3.unet,
        ]
        networks += [
            scale for discriminator in self.discriminators.children() for scale in discriminator.scales
        ]
        if self.vgg is not None:
            networks.append(self.vgg)
        # Dynamo keys its cache on the code of `forward`, shared by every U-Net (and every
        # discriminator scale); each instance, input size and requires_grad pattern is an entry.
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 8 * len(networks))
        for network in networks:
            network.compile(dynamic=False)  # in place: the state dict keeps its names

    def _freeze(self, name: str) -> None:
        module = self.generators.get_submodule(name)
        copy_weights(module, self.ema.get_submodule(name))
        module.requires_grad_(False).eval()

    def freeze_due(self) -> None:
        """Freeze the modules whose training ends at the current step."""
        for name in self.schedule.frozen_at(self.step):
            if any(parameter.requires_grad for parameter in self.generators.get_submodule(name).parameters()):
                self._freeze(name)

    def active_phases(self) -> set[str]:
        """The generator phases that still have parameters to train."""
        return {
            role.phase
            for role in self.stage.roles
            if any(
                parameter.requires_grad
                for parameter in self.generators.get_submodule(role.module).parameters()
            )
        }

    # The step.

    def train_step(self, micro_batches: list[MicroBatch], *, epoch: int) -> None:
        """One optimizer step over `micro_batches` (the accumulation rounds of this rank)."""
        self.freeze_due()
        active = self.active_phases()
        due = [phase for phase in self.phases if phase.role in active and self.step % phase.interval == 0]
        for indices, batch in micro_batches:
            shared = SharedFeatures(draws=self.noise.draw(indices, epoch, reference=batch.image))
            with self.precision.autocast():
                outputs = self.stage.forward(self.forward_context, batch, frozenset(active), shared)
            for phase in due:
                accumulate_gradients(
                    phase,
                    outputs,
                    gain=phase.interval / len(micro_batches),
                    precision=self.precision,
                    scaler=self.scaler,
                    stats=self.stats,
                )
        step_optimizers(due, scaler=self.scaler, context=self.context)
        for role in self.stage.roles:
            if role.phase in active:
                self.schedulers[role.phase].step()
                if role.discriminator_phase is not None:
                    self.schedulers[role.discriminator_phase].step()
        update_ema(
            self.ema,
            self.generators,
            decay=ema_decay(self.step, decay=self.config.ema_decay, warmup=self.config.ema_warmup),
        )
        self.step += 1

    def learning_rates(self) -> dict[str, float]:
        """Current learning rate of each generator phase's optimizer."""
        return {role.phase: self.optimizers[role.phase].param_groups[0]["lr"] for role in self.stage.roles}
