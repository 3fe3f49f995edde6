"""ACGPN's three training stages as forward passes over a micro-batch.

Each stage runs the inference steps of `tryon.steps` (ground truth substituted where staged
training needs it) and returns what its phases need: the generators' reconstruction terms and,
for each generator that has a discriminator, the condition, generated and real outputs that the
discriminator compares. The discriminator passes and the adversarial terms are added by
`tryon.train.phases`, one code path for every G/D pair.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import Tensor

from tryon.config import LossWeights, ModelConfig
from tryon.data.dataset import TryOnBatch
from tryon.labels import ARM_LABELS
from tryon.losses import (
    DiscriminatorOutput,
    l1_loss,
    layout_cross_entropy,
    mask_bce,
    mask_overlap_loss,
    perceptual_loss,
    tps_constraint_loss,
)
from tryon.nets import TryOnGenerators, VGG19Features
from tryon.ops.composition import layout_without_garment, one_hot_layout, region_mask
from tryon.steps import (
    GeneratorNoise,
    LayoutPrediction,
    PersonRepresentation,
    fuse,
    new_garment_region,
    predict_layout,
    represent_person,
)
from tryon.train.noise import SampleDraws


class Term(NamedTuple):
    """One loss term: its weight in the phase's total and its (unweighted) value."""

    weight: float
    value: Tensor


@dataclass(frozen=True)
class AdversarialTarget:
    """What a conditional discriminator compares: cat[condition, real] against cat[condition, fake]."""

    condition: Tensor
    fake: Tensor  # the generator's output, with its graph
    real: Tensor


@dataclass
class StepOutputs:
    """One stage forward on a micro-batch.

    terms: generator phase -> its reconstruction terms.
    adversarial: generator phase -> its discriminator's inputs (pairs with a discriminator only).
    real_features: generator phase -> the discriminator's output on the real input, filled by the
        discriminator phase so that the generator's feature matching reuses it.
    fake_scores: generator phase -> the discriminator's output on the generated input, with the
        graph back to the generator, filled by the discriminator phase so that the generator's
        adversarial terms backpropagate through the same pass instead of running it again.
    """

    terms: dict[str, dict[str, Term]] = field(default_factory=dict)
    adversarial: dict[str, AdversarialTarget] = field(default_factory=dict)
    real_features: dict[str, DiscriminatorOutput] = field(default_factory=dict)
    fake_scores: dict[str, DiscriminatorOutput] = field(default_factory=dict)


@dataclass
class SharedFeatures:
    """What several stage forwards of one micro-batch need, computed by the first that does.

    The full step of the benchmark runs every stage on the same micro-batch: the person
    representation is computed once, and the fusion stage takes SGM's layout (detached) instead of
    running G1 and G2 again. `draws` holds the micro-batch's per-sample noise and inpainting masks.
    """

    draws: SampleDraws = field(default_factory=lambda: SampleDraws(noise=GeneratorNoise(), inpaint=None))
    person: PersonRepresentation | None = None
    layout: LayoutPrediction | None = None  # SGM's prediction, with its graph

    def represent(self, batch: TryOnBatch, config: ModelConfig) -> PersonRepresentation:
        if self.person is None:
            self.person = represent_person(batch.image, batch.label, batch.keypoints, config=config)
        return self.person


@dataclass(frozen=True)
class StageContext:
    """What stage forwards read besides the batch."""

    generators: TryOnGenerators
    model_config: ModelConfig
    weights: LossWeights
    vgg: VGG19Features | None  # None: perceptual terms are off
    fusion_region: str  # "predicted" (G2's region, as inference) or "ground_truth" (the worn garment)


@dataclass(frozen=True)
class GeneratorRole:
    """A generator phase of a stage: the submodule it trains and its discriminator, if any."""

    phase: str  # phase name in logs, e.g. "G1"
    module: str  # submodule of TryOnGenerators, e.g. "g1"
    discriminator: str | None = None  # submodule of TryOnDiscriminators, e.g. "d1"
    gan_weight: str | None = None  # LossWeights field of the adversarial term
    feature_matching_weight: str | None = None  # LossWeights field of the feature-matching term

    @property
    def discriminator_phase(self) -> str | None:
        return None if self.discriminator is None else self.discriminator.upper()


StageForward = Callable[[StageContext, TryOnBatch, frozenset[str], SharedFeatures], StepOutputs]


@dataclass(frozen=True)
class Stage:
    """A training stage: its generator roles (in training order) and its forward pass.

    `forward(context, batch, active, shared)` computes terms only for the generator phases in
    `active`, reusing and filling `shared`.
    `main` is the phase whose learning rate the logs report as `lr`.
    """

    name: str
    roles: tuple[GeneratorRole, ...]
    forward: StageForward
    main: str
    uses_vgg: bool = False  # has perceptual terms (when VGG weights are configured)


def sgm_condition(garment: Tensor, garment_mask: Tensor, body_layout: Tensor, pose_maps: Tensor) -> Tensor:
    """What G1 and G2 see besides the noise, in `SemanticGenerator`'s order: D1's and D2's condition."""
    return torch.cat([garment_mask, garment * garment_mask, body_layout, pose_maps], dim=1)


def fusion_condition(holes: Tensor, layout: Tensor, garment: Tensor, skin: Tensor) -> Tensor:
    """What G3 sees besides the noise, in `FusionGenerator`'s order: D3's condition."""
    return torch.cat([holes, layout, garment, skin], dim=1)


def sgm_forward(
    context: StageContext, batch: TryOnBatch, active: frozenset[str], shared: SharedFeatures
) -> StepOutputs:
    """Part 1: G1 predicts the layout, G2 the worn garment from G1's (detached, discrete) layout."""
    if not active & {"G1", "G2"}:
        return StepOutputs()
    weights = context.weights
    person = shared.represent(batch, context.model_config)
    layout = shared.layout = predict_layout(
        context.generators, person, batch.garment, batch.garment_mask, noise=shared.draws.noise
    )
    outputs = StepOutputs()
    if "G1" in active:
        target = layout_without_garment(person.labels, person.worn_garment)
        cross_entropy = layout_cross_entropy(
            layout.layout_logits, target, class_balance=weights.layout_class_balance
        )
        outputs.terms["G1"] = {"ce": Term(weights.layout_ce, cross_entropy)}
        outputs.adversarial["G1"] = AdversarialTarget(
            condition=sgm_condition(batch.garment, batch.garment_mask, person.body_layout, person.pose_maps),
            fake=layout.layout_logits.softmax(dim=1),
            real=one_hot_layout(target, dtype=batch.image.dtype),
        )
    if "G2" in active:
        outputs.terms["G2"] = {
            "bce": Term(weights.garment_bce, mask_bce(layout.garment_logits, person.worn_garment))
        }
        outputs.adversarial["G2"] = AdversarialTarget(
            condition=sgm_condition(
                batch.garment,
                batch.garment_mask,
                one_hot_layout(layout.labels, dtype=batch.image.dtype),
                person.pose_maps,
            ),
            fake=layout.garment_logits.sigmoid(),
            real=person.worn_garment,
        )
    return outputs


def warp_forward(
    context: StageContext, batch: TryOnBatch, active: frozenset[str], shared: SharedFeatures
) -> StepOutputs:
    """Part 2 with teacher forcing: the garment is warped onto the person's worn-garment mask.

    The garment pixels of the person image are the target of both the TPS-warped and the refined
    garment; the warped mask must cover the worn mask; the control grid stays smooth. The warped
    garment is compared cut out by its own warped mask, over the whole image (as ACGPN warps the
    masked garment): garment left outside the worn region costs as much as a hole inside it, so the
    colour term pulls the warp the same way as the mask term instead of ignoring spill-over.
    """
    if "warp" not in active:
        return StepOutputs()
    weights = context.weights
    person = shared.represent(batch, context.model_config)
    worn = person.worn_garment
    warp = context.generators.warper(garment=batch.garment, garment_mask=batch.garment_mask, target_mask=worn)
    target = person.image * worn
    warped = warp.warped_garment * warp.warped_mask
    terms = {
        "warped_l1": Term(weights.warped_l1, l1_loss(warped, target)),
        "warped_mask_l1": Term(weights.warped_mask_l1, l1_loss(warp.warped_mask, worn)),
        "warped_mask_dice": Term(weights.warped_mask_dice, mask_overlap_loss(warp.warped_mask, worn)),
        "tps_constraint": Term(weights.tps_constraint, tps_constraint_loss(warp.control_points)),
        "refined_l1": Term(weights.refined_l1, l1_loss(warp.refined_garment, target)),
        "composition_l1": Term(weights.composition_l1, l1_loss(warp.composition_mask, worn)),
    }
    perceptual = {
        "warped_vgg": (weights.warped_vgg, warped),
        "refined_vgg": (weights.refined_vgg, warp.refined_garment),
    }
    perceptual = {name: (weight, image) for name, (weight, image) in perceptual.items() if weight}
    if context.vgg is not None and perceptual:
        with torch.no_grad():
            target_features = context.vgg(target)
        for name, (weight, image) in perceptual.items():
            terms[name] = Term(weight, perceptual_loss(context.vgg(image), target_features))
    return StepOutputs(terms={"warp": terms})


GROUND_TRUTH_LOGIT = 10.0
"""Logit magnitude of a ground-truth layout written as a prediction (its argmax is what counts)."""


def ground_truth_layout(person: PersonRepresentation) -> LayoutPrediction:
    """The parsing map as a Part 1 prediction: G1's training target and G2's (the worn garment)."""
    labels = layout_without_garment(person.labels, person.worn_garment)
    one_hot = one_hot_layout(labels, dtype=person.image.dtype)
    return LayoutPrediction(
        layout_logits=(one_hot * 2 - 1) * GROUND_TRUTH_LOGIT,
        labels=labels,
        garment_logits=(person.worn_garment * 2 - 1) * GROUND_TRUTH_LOGIT,
    )


def fusion_forward(
    context: StageContext, batch: TryOnBatch, active: frozenset[str], shared: SharedFeatures
) -> StepOutputs:
    """Part 3: the frozen G1, G2 and warper run as in inference, then G3 renders the person.

    With `fusion_region` "predicted" (the default), G3 learns on exactly the inputs it gets at
    inference (G1's layout, G2's garment region and the garment warped onto it). ACGPN instead
    trains G3 on the ground-truth layout and garment region ("ground_truth": the parsing map with
    the worn garment as G1's target has it, and the worn garment's mask), which gives cleaner
    targets while G1 and G2 are poor but leaves a gap between what G3 sees in training and at test
    time.

    The micro-batch's inpainting masks (when drawn) are cut out of the person's arms, so that G3
    learns to draw arm skin from the layout and the skin colour, with the photo as the target
    there: a try-on that removes a sleeve needs exactly that. G3's composition mask, where it has
    one (`model.tryon_composition_mask`), is pulled towards the warped garment's mask inside the
    garment region (CP-VTON's mask loss).
    """
    if "G3" not in active:
        return StepOutputs()
    weights = context.weights
    config = context.model_config
    person = shared.represent(batch, config)
    noise = shared.draws.noise
    with torch.no_grad():
        if context.fusion_region == "ground_truth":
            layout = ground_truth_layout(person)
            region = person.worn_garment
        else:
            if shared.layout is None:
                layout = predict_layout(
                    context.generators, person, batch.garment, batch.garment_mask, noise=noise
                )
            else:
                layout = dataclasses.replace(
                    shared.layout,
                    layout_logits=shared.layout.layout_logits.detach(),
                    garment_logits=shared.layout.garment_logits.detach(),
                )
            region = new_garment_region(person, layout, config=config)
        warp = context.generators.warper(
            garment=batch.garment, garment_mask=batch.garment_mask, target_mask=region
        )
    inpaint = shared.draws.inpaint
    if inpaint is not None:
        inpaint = inpaint * region_mask(person.labels, ARM_LABELS, dtype=inpaint.dtype)
    fusion = fuse(context.generators, person, layout, region, warp, config=config, noise=noise, inpaint=inpaint)
    image = fusion.image
    terms = {"l1": Term(weights.tryon_l1, l1_loss(image, person.image))}
    composition_mask = fusion.render.composition_mask
    if composition_mask is not None:
        terms["composition_l1"] = Term(
            weights.tryon_composition_l1, l1_loss(composition_mask * region, warp.warped_mask * region)
        )
    if context.vgg is not None and weights.tryon_vgg:
        with torch.no_grad():
            real_features = context.vgg(person.image)
        terms["vgg"] = Term(weights.tryon_vgg, perceptual_loss(context.vgg(image), real_features))
    adversarial = AdversarialTarget(
        condition=fusion_condition(
            fusion.image_with_holes,
            one_hot_layout(fusion.composed_labels, dtype=image.dtype),
            warp.refined_garment,
            fusion.skin,
        ),
        fake=image,
        real=person.image,
    )
    return StepOutputs(terms={"G3": terms}, adversarial={"G3": adversarial})


SGM = Stage(
    name="sgm",
    roles=(
        GeneratorRole(
            phase="G1",
            module="g1",
            discriminator="d1",
            gan_weight="layout_gan",
            feature_matching_weight="sgm_feature_matching",
        ),
        GeneratorRole(
            phase="G2",
            module="g2",
            discriminator="d2",
            gan_weight="garment_gan",
            feature_matching_weight="sgm_feature_matching",
        ),
    ),
    forward=sgm_forward,
    main="G2",
)

WARP = Stage(
    name="warp",
    roles=(GeneratorRole(phase="warp", module="warper"),),
    forward=warp_forward,
    main="warp",
    uses_vgg=True,
)

FUSION = Stage(
    name="fusion",
    roles=(
        GeneratorRole(
            phase="G3",
            module="g3",
            discriminator="d3",
            gan_weight="tryon_gan",
            feature_matching_weight="tryon_feature_matching",
        ),
    ),
    forward=fusion_forward,
    main="G3",
    uses_vgg=True,
)

STAGES = {stage.name: stage for stage in (SGM, WARP, FUSION)}
"""The stages in training order."""


def joint_stage(stages: tuple[Stage, ...] = (SGM, WARP, FUSION)) -> Stage:
    """All modules in one step, as the original code trains them: each stage's forward on the same
    micro-batch, every phase. Used by the benchmark to compare a full step with the original's."""

    def forward(
        context: StageContext, batch: TryOnBatch, active: frozenset[str], shared: SharedFeatures
    ) -> StepOutputs:
        combined = StepOutputs()
        for stage in stages:
            outputs = stage.forward(context, batch, active, shared)
            combined.terms.update(outputs.terms)
            combined.adversarial.update(outputs.adversarial)
        return combined

    return Stage(
        name="joint",
        roles=tuple(role for stage in stages for role in stage.roles),
        forward=forward,
        main=stages[-1].main,
        uses_vgg=any(stage.uses_vgg for stage in stages),
    )
