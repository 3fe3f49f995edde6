"""Loss functions for training the try-on networks: pure functions of tensors, no state.

Everything returns a 0-dim float32 tensor on the inputs' device and never reads a value back to the
host, so the training step can sum, log and backpropagate them without synchronising. Inputs may be
bf16 or fp16 under autocast; the reductions run in float32.

Discriminator outputs follow `tryon.nets.MultiScaleDiscriminator`: one list per scale of that
scale's block outputs, the last being the patch logits.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from tryon.ops.tps import second_order_constraint

DiscriminatorOutput = Sequence[Sequence[Tensor]]
"""Per scale, the block outputs of one discriminator pass; the last of each is the patch logits."""

GAN_LOSSES = ("lsgan", "hinge")

VGG_LAYER_WEIGHTS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)
"""pix2pixHD's weights of relu1_1 .. relu5_1 in the perceptual loss: deep layers count most."""


def _logits(output: DiscriminatorOutput) -> list[Tensor]:
    return [scale[-1].float() for scale in output]


def _check_kind(kind: str) -> None:
    if kind not in GAN_LOSSES:
        raise ValueError(f"GAN loss {kind!r} is not one of {GAN_LOSSES}")


def discriminator_real_loss(output: DiscriminatorOutput, *, kind: str = "lsgan") -> Tensor:
    """The discriminator's loss on real inputs, summed over scales.

    LSGAN: mean (D(x) - 1)^2 (pix2pixHD's default). Hinge: mean relu(1 - D(x)).
    """
    _check_kind(kind)
    if kind == "lsgan":
        return sum(((logits - 1) ** 2).mean() for logits in _logits(output))
    return sum(F.relu(1 - logits).mean() for logits in _logits(output))


def discriminator_fake_loss(output: DiscriminatorOutput, *, kind: str = "lsgan") -> Tensor:
    """The discriminator's loss on generated inputs, summed over scales.

    LSGAN: mean D(x)^2. Hinge: mean relu(1 + D(x)).
    """
    _check_kind(kind)
    if kind == "lsgan":
        return sum((logits**2).mean() for logits in _logits(output))
    return sum(F.relu(1 + logits).mean() for logits in _logits(output))


def generator_gan_loss(output: DiscriminatorOutput, *, kind: str = "lsgan") -> Tensor:
    """The generator's adversarial loss on the discriminator's view of its output, summed over scales.

    LSGAN: mean (D(G(z)) - 1)^2. Hinge: mean -D(G(z)).
    """
    _check_kind(kind)
    if kind == "lsgan":
        return sum(((logits - 1) ** 2).mean() for logits in _logits(output))
    return sum(-logits.mean() for logits in _logits(output))


def feature_matching_loss(fake: DiscriminatorOutput, real: DiscriminatorOutput) -> Tensor:
    """pix2pixHD's feature matching: L1 between the discriminator's intermediate features of the
    generated and the real input (the real ones detached), summed over layers, averaged over scales.

    The patch logits (each scale's last output) are left out, as in pix2pixHD.
    """
    per_scale = [
        sum(
            F.l1_loss(f.float(), r.detach().float())
            for f, r in zip(fake_scale[:-1], real_scale[:-1], strict=True)
        )
        for fake_scale, real_scale in zip(fake, real, strict=True)
    ]
    return sum(per_scale) / len(per_scale)


def perceptual_loss(fake: Sequence[Tensor], real: Sequence[Tensor]) -> Tensor:
    """VGG19 perceptual loss from precomputed features (`tryon.nets.VGG19Features` outputs).

    Taking features instead of images lets the caller run VGG once per image and reuse the
    activations for every term that compares them. The real features are detached.
    """
    if len(fake) != len(VGG_LAYER_WEIGHTS) or len(real) != len(VGG_LAYER_WEIGHTS):
        raise ValueError(
            f"expected {len(VGG_LAYER_WEIGHTS)} VGG activations, got {len(fake)} and {len(real)}"
        )
    return sum(
        weight * F.l1_loss(f.float(), r.detach().float())
        for weight, f, r in zip(VGG_LAYER_WEIGHTS, fake, real, strict=True)
    )


def l1_loss(output: Tensor, target: Tensor) -> Tensor:
    """Mean absolute difference (float32 reduction)."""
    return F.l1_loss(output.float(), target.float())


MAX_CLASS_WEIGHT = 10.0
"""Cap of a class's weight: a class of a few stray pixels must not outweigh the layout."""


def class_balance_weights(labels: Tensor, num_classes: int, *, power: float) -> Tensor:
    """(B, num_classes) weights (max count / count) ** power of the classes in each sample's id map.

    Within a sample the most frequent class (the background) weighs 1 and rarer ones more, so thin
    regions such as arms are not drowned by the pixels around them; power 0 gives equal weights.
    Weights are capped at `MAX_CLASS_WEIGHT`, so that a few stray pixels cannot dominate a sample's
    loss (and make its gradient hang on their last bits). Absent classes get weight 1 (they contribute
    no pixels). Per sample, so that a batch split into
    micro-batches gets the same weights; counted on the device, without a host round-trip.
    """
    ids = labels.reshape(labels.shape[0], -1).long()
    # scatter_add, not one_hot or bincount: those check the ids' range on the host.
    counts = torch.zeros(ids.shape[0], num_classes, device=ids.device).scatter_add_(
        1, ids, torch.ones_like(ids, dtype=torch.float32)
    )
    weights = (counts.amax(dim=1, keepdim=True) / counts.clamp_min(1)).pow(power).clamp_max(MAX_CLASS_WEIGHT)
    return torch.where(counts > 0, weights, torch.ones_like(weights))


def layout_cross_entropy(logits: Tensor, labels: Tensor, *, class_balance: float = 0.0) -> Tensor:
    """Pixel-wise cross-entropy of (B, C, H, W) layout logits against (B, 1, H, W) or (B, H, W) ids.

    G1's loss against `tryon.ops.composition.layout_without_garment`. With `class_balance` > 0 each
    sample's pixels are weighted by `class_balance_weights` (a weighted mean per sample), and the
    samples are averaged.
    """
    target = (labels[:, 0] if labels.dim() == 4 else labels).long()
    if not class_balance:
        return F.cross_entropy(logits.float(), target)
    per_pixel = F.cross_entropy(logits.float(), target, reduction="none").flatten(1)  # (B, H * W)
    weights = class_balance_weights(target, logits.shape[1], power=class_balance)
    pixel_weights = weights.gather(1, target.flatten(1))
    return ((per_pixel * pixel_weights).sum(dim=1) / pixel_weights.sum(dim=1)).mean()


DICE_EPSILON = 1e-6


def mask_overlap_loss(mask: Tensor, target: Tensor, *, scales: int = 3) -> Tensor:
    """1 - soft Dice overlap of (B, 1, H, W) masks in [0, 1], averaged over samples and over `scales`
    successively 2x average-pooled copies.

    A mask L1 averaged over the frame is tiny for a garment that covers a few percent of it, and a
    warped mask's gradient lives only on its one-pixel edge; Dice is normalised by the masks' areas,
    and the pooled copies have edges a few pixels wide, so the TPS is pulled towards the target
    from further away.
    """
    mask, target = mask.float(), target.float()
    losses = []
    for scale in range(scales):
        if scale:
            mask, target = F.avg_pool2d(mask, 2, ceil_mode=True), F.avg_pool2d(target, 2, ceil_mode=True)
        overlap = (mask * target).sum(dim=(1, 2, 3))
        total = mask.sum(dim=(1, 2, 3)) + target.sum(dim=(1, 2, 3))
        # The epsilon only settles two empty masks (a perfect match) without dividing by zero.
        losses.append(1 - (2 * overlap + DICE_EPSILON) / (total + DICE_EPSILON))
    return torch.stack(losses).mean()


def mask_bce(logits: Tensor, target: Tensor) -> Tensor:
    """Binary cross-entropy of (B, 1, H, W) mask logits against a {0, 1} mask (G2's loss)."""
    return F.binary_cross_entropy_with_logits(logits.float(), target.float())


def tps_constraint_loss(control_points: Tensor) -> Tensor:
    """Mean over the batch of the second-order constraint on the TPS control grid
    (`tryon.ops.tps.second_order_constraint`)."""
    return second_order_constraint(control_points.float()).mean()


def r1_penalty(discriminator_output: DiscriminatorOutput, real_inputs: Sequence[Tensor]) -> Tensor:
    """R1 (Mescheder et al. 2018): mean squared norm of the gradient of the real logits with respect
    to the real input, for discriminator regularisation. `real_inputs` (a conditional
    discriminator's condition and image, taken together as one input) must require grad and be
    what produced `discriminator_output`; the graph is kept so that the penalty can be
    backpropagated. Multiply by gamma / 2 for the usual weighting.
    """
    score = sum(logits.sum() for logits in _logits(discriminator_output))
    gradients = torch.autograd.grad(score, list(real_inputs), create_graph=True)
    return sum(
        gradient.float().square().sum(dim=tuple(range(1, gradient.dim()))) for gradient in gradients
    ).mean()
