"""The phase loop's building blocks, after stylegan3's training loop and `accumulate_gradients`.

A phase is one contribution to one module's gradients: a generator's loss (its reconstruction
terms plus its adversarial and feature-matching terms), a discriminator's loss, or a lazy
discriminator regulariser. Every G/D pair of every stage is expressed with the same three loss
functions and trained by the same `accumulate_gradients` and `step_optimizers`.

Within a micro-batch the discriminator phase runs before its generator phase, so that the
discriminator's pass on the real input is computed once and reused (detached) for the
generator's feature matching. The optimizers step only after every phase has accumulated, so the
generator and the discriminator of a step both see the same weights, as in pix2pixHD.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn
from torch.optim import Optimizer

from tryon.config import TrainConfig
from tryon.losses import (
    discriminator_fake_loss,
    discriminator_real_loss,
    feature_matching_loss,
    generator_gan_loss,
    r1_penalty,
)
from tryon.precision import Precision
from tryon.train.distributed import DistributedContext, average_gradients
from tryon.train.stages import GeneratorRole, Stage, StepOutputs, Term
from tryon.train.stats import LossStats

D_LOSS_WEIGHT = 0.5
"""pix2pixHD halves the discriminator's real + fake loss."""


@dataclass(frozen=True)
class Phase:
    """One loss and the module whose parameters it trains (stylegan3's phase)."""

    name: str  # "G1", "D1", "D1reg", "warp", ... as in the logs
    role: str  # the generator phase it belongs to; inactive once that generator is frozen
    module: nn.Module  # the parameters this phase trains (those that require grad)
    opt: Optimizer  # a discriminator's main and regularisation phases share one
    loss: Callable[[StepOutputs], dict[str, Term]]
    interval: int = 1  # runs every `interval` steps with its gradient scaled by the interval

    def parameters(self) -> list[nn.Parameter]:
        return [parameter for parameter in self.module.parameters() if parameter.requires_grad]


def _discriminator_input(condition: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
    # The condition is the generator's input: the discriminator's gradient must not reach it.
    return torch.cat([condition.detach(), output], dim=1)


def generator_loss(
    outputs: StepOutputs, *, role: GeneratorRole, discriminator: nn.Module | None, config: TrainConfig
) -> dict[str, Term]:
    """The generator's reconstruction terms plus, with a discriminator, the adversarial and
    feature-matching terms (features of the real input reused from the discriminator phase)."""
    terms = dict(outputs.terms.get(role.phase, {}))
    target = outputs.adversarial.get(role.phase)
    gan_weight = getattr(config.weights, role.gan_weight) if role.gan_weight else 0.0
    matching_weight = (
        getattr(config.weights, role.feature_matching_weight) if role.feature_matching_weight else 0.0
    )
    if discriminator is None or target is None or not (gan_weight or matching_weight):
        return terms
    fake = discriminator(_discriminator_input(target.condition, target.fake))
    if gan_weight:
        terms["gan"] = Term(gan_weight, generator_gan_loss(fake, kind=config.gan_loss))
    if matching_weight:
        real = outputs.real_features.get(role.phase)
        if real is None:
            with torch.no_grad():
                real = discriminator(_discriminator_input(target.condition, target.real))
        terms["feature_matching"] = Term(matching_weight, feature_matching_loss(fake, real))
    return terms


def discriminator_loss(
    outputs: StepOutputs, *, role: GeneratorRole, discriminator: nn.Module, config: TrainConfig
) -> dict[str, Term]:
    """The discriminator's loss on the real output and on the detached generated output."""
    target = outputs.adversarial[role.phase]
    real = discriminator(_discriminator_input(target.condition, target.real))
    fake = discriminator(_discriminator_input(target.condition, target.fake.detach()))
    outputs.real_features[role.phase] = real
    return {
        "real": Term(D_LOSS_WEIGHT, discriminator_real_loss(real, kind=config.gan_loss)),
        "fake": Term(D_LOSS_WEIGHT, discriminator_fake_loss(fake, kind=config.gan_loss)),
    }


def r1_loss(
    outputs: StepOutputs, *, role: GeneratorRole, discriminator: nn.Module, config: TrainConfig
) -> dict[str, Term]:
    """R1 gradient penalty on the real input, weighted gamma / 2."""
    target = outputs.adversarial[role.phase]
    real = _discriminator_input(target.condition, target.real).detach().requires_grad_(True)
    return {"r1": Term(config.r1_gamma / 2, r1_penalty(discriminator(real), real))}


def build_phases(
    stage: Stage,
    *,
    generators: nn.Module,
    discriminators: nn.Module,
    optimizers: dict[str, Optimizer],
    config: TrainConfig,
) -> list[Phase]:
    """The stage's phases in execution order: per generator, its discriminator's phases first."""
    phases = []
    for role in stage.roles:
        discriminator = None
        if role.discriminator is not None:
            discriminator = discriminators.get_submodule(role.discriminator)
            name = role.discriminator_phase
            arguments = {"role": role, "discriminator": discriminator, "config": config}
            phases.append(
                Phase(
                    name,
                    role.phase,
                    discriminator,
                    optimizers[name],
                    partial(discriminator_loss, **arguments),
                )
            )
            if config.d_regularizer == "r1":
                phases.append(
                    Phase(
                        f"{name}reg",
                        role.phase,
                        discriminator,
                        optimizers[name],
                        partial(r1_loss, **arguments),
                        interval=config.r1_interval,
                    )
                )
        phases.append(
            Phase(
                role.phase,
                role.phase,
                generators.get_submodule(role.module),
                optimizers[role.phase],
                partial(generator_loss, role=role, discriminator=discriminator, config=config),
            )
        )
    return phases


def accumulate_gradients(
    phase: Phase,
    outputs: StepOutputs,
    *,
    gain: float,
    precision: Precision,
    scaler: torch.amp.GradScaler,
    stats: LossStats,
) -> None:
    """Add `gain` times the gradient of the phase's weighted loss to its module's parameters only.

    `gain` is interval / accumulation rounds, so that a step's gradient is the mean over its
    micro-batches and a lazy regulariser keeps its strength. The loss terms go to `stats` on the
    device, unweighted, as `{phase}/{term}`.
    """
    with precision.autocast():
        terms = phase.loss(outputs)
    total = sum(term.weight * term.value for term in terms.values())
    for name, term in terms.items():
        stats.add(f"{phase.name}/{name}", term.value)
    # `inputs` keeps the generator's adversarial loss out of the discriminator's gradients (and
    # skips computing them), without toggling requires_grad between phases.
    scaler.scale(total * gain).backward(inputs=phase.parameters())


def step_optimizers(
    phases: list[Phase], *, scaler: torch.amp.GradScaler, context: DistributedContext
) -> None:
    """Average the gradients over the ranks and step each optimizer of `phases` once."""
    optimizers = list({id(phase.opt): phase.opt for phase in phases}.values())
    if not optimizers:
        return
    for optimizer in optimizers:
        parameters = [parameter for group in optimizer.param_groups for parameter in group["params"]]
        average_gradients(parameters, context)
        scaler.step(optimizer)
    scaler.update()
    for optimizer in optimizers:
        optimizer.zero_grad(set_to_none=True)
