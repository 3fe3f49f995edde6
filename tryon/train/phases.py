"""The phase loop's building blocks, after stylegan3's training loop and `accumulate_gradients`.

A phase is one contribution to one module's gradients: a generator's loss (its reconstruction
terms plus its adversarial and feature-matching terms), a discriminator's loss, or a lazy
discriminator regulariser. Every G/D pair of every stage is expressed with the same three loss
functions and trained by the same `accumulate_gradients` and `step_optimizers`.

Within a micro-batch the discriminator phase runs before its generator phase and each of the
discriminator's passes runs once: the condition is encoded once for both passes
(`tryon.nets.MultiScaleDiscriminator.encode_condition`), the pass on the real input is reused
(detached) for the generator's feature matching, and the pass on the generated input keeps its
graph back to the generator, so that the discriminator's loss backpropagates into the
discriminator's weights only and the generator's adversarial terms then backpropagate through the
same pass (pix2pixHD runs the discriminator on the fakes twice). The optimizers step only after
every phase has accumulated, so the generator and the discriminator of a step both see the same
weights, as in pix2pixHD, and the retained pass is still the one the generator's gradient needs.
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
from tryon.nets import EncodedCondition
from tryon.precision import Precision
from tryon.train.distributed import DistributedContext, average_gradients
from tryon.train.stages import AdversarialTarget, GeneratorRole, Stage, StepOutputs, Term
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
    retain_graph: bool = False  # a later phase backpropagates through part of this phase's graph

    def parameters(self) -> list[nn.Parameter]:
        return [parameter for parameter in self.module.parameters() if parameter.requires_grad]


def _encoded_condition(discriminator: nn.Module, target: AdversarialTarget) -> EncodedCondition:
    # The condition is the generator's input: the discriminator's gradient must not reach it.
    return discriminator.encode_condition(target.condition.detach())


def adversarial_weights(role: GeneratorRole, config: TrainConfig) -> tuple[float, float]:
    """The weights of the generator's adversarial and feature-matching terms (0 for none)."""
    weights = config.weights
    gan = getattr(weights, role.gan_weight) if role.gan_weight else 0.0
    matching = getattr(weights, role.feature_matching_weight) if role.feature_matching_weight else 0.0
    return gan, matching


def generator_loss(
    outputs: StepOutputs, *, role: GeneratorRole, discriminator: nn.Module | None, config: TrainConfig
) -> dict[str, Term]:
    """The generator's reconstruction terms plus, with a discriminator, the adversarial and
    feature-matching terms, on the discriminator phase's passes when it ran (its pass on the
    generated input, graph included, and the features of the real input)."""
    terms = dict(outputs.terms.get(role.phase, {}))
    target = outputs.adversarial.get(role.phase)
    gan_weight, matching_weight = adversarial_weights(role, config)
    if discriminator is None or target is None or not (gan_weight or matching_weight):
        return terms
    fake = outputs.fake_scores.pop(role.phase, None)
    if fake is None:
        fake = discriminator(target.fake, _encoded_condition(discriminator, target))
    if gan_weight:
        terms["gan"] = Term(gan_weight, generator_gan_loss(fake, kind=config.gan_loss))
    if matching_weight:
        real = outputs.real_features.get(role.phase)
        if real is None:
            with torch.no_grad():
                real = discriminator(target.real, _encoded_condition(discriminator, target))
        terms["feature_matching"] = Term(matching_weight, feature_matching_loss(fake, real))
    return terms


def discriminator_loss(
    outputs: StepOutputs, *, role: GeneratorRole, discriminator: nn.Module, config: TrainConfig
) -> dict[str, Term]:
    """The discriminator's loss on the real output and on the generated output.

    When the generator has adversarial terms, the pass on the generated output keeps its graph for
    them (`StepOutputs.fake_scores`; this phase's backward reaches the discriminator's weights
    only and retains the graph); otherwise the generated output is detached.
    """
    target = outputs.adversarial[role.phase]
    condition = _encoded_condition(discriminator, target)
    real = discriminator(target.real, condition)
    outputs.real_features[role.phase] = real
    reused = any(adversarial_weights(role, config))
    fake = discriminator(target.fake if reused else target.fake.detach(), condition)
    if reused:
        outputs.fake_scores[role.phase] = fake
    return {
        "real": Term(D_LOSS_WEIGHT, discriminator_real_loss(real, kind=config.gan_loss)),
        "fake": Term(D_LOSS_WEIGHT, discriminator_fake_loss(fake, kind=config.gan_loss)),
    }


def r1_loss(
    outputs: StepOutputs, *, role: GeneratorRole, discriminator: nn.Module, config: TrainConfig
) -> dict[str, Term]:
    """R1 gradient penalty on the real input (the condition and the real image), weighted gamma / 2."""
    target = outputs.adversarial[role.phase]
    condition = target.condition.detach().requires_grad_(True)
    real = target.real.detach().requires_grad_(True)
    scores = discriminator(real, discriminator.encode_condition(condition))
    return {"r1": Term(config.r1_gamma / 2, r1_penalty(scores, [condition, real]))}


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
                    retain_graph=any(adversarial_weights(role, config)),
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
    # `inputs` keeps the generator's adversarial loss out of the discriminator's gradients and the
    # discriminator's loss out of the generator's (and skips computing them), without toggling
    # requires_grad between phases.
    scaler.scale(total * gain).backward(inputs=phase.parameters(), retain_graph=phase.retain_graph)


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
