"""Frozen configuration dataclasses, one per section of params.yaml.

Each section is read with `section_from_dict`, which refuses unknown keys so that a typo in
params.yaml fails loudly instead of silently falling back to a default.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from tryon.precision import PRECISIONS

SUPPORTED_RESOLUTIONS = ((256, 192), (512, 384), (1024, 768))
"""Resolutions of the public VITON/ACGPN datasets; smaller multiples of 16 serve tests and demos."""

RESOLUTION_MULTIPLE = 16


@dataclass(frozen=True)
class Resolution:
    """Image size as height x width in pixels."""

    height: int = 256
    width: int = 192

    def __post_init__(self) -> None:
        for name in ("height", "width"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0 or value % RESOLUTION_MULTIPLE:
                raise ValueError(
                    f"resolution {name}={value!r} must be a positive multiple of {RESOLUTION_MULTIPLE}"
                )

    @classmethod
    def parse(cls, text: str) -> Resolution:
        """Parse `HxW`, e.g. `256x192`."""
        try:
            height, width = (int(part) for part in text.lower().split("x"))
        except ValueError:
            raise ValueError(f"size {text!r} is not of the form HxW, e.g. 256x192") from None
        return cls(height=height, width=width)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)

    def __str__(self) -> str:
        return f"{self.height}x{self.width}"


@dataclass(frozen=True)
class DataConfig:
    """Where the dataset lives and what it must look like."""

    root: Path = Path("data")
    resolution: Resolution = field(default_factory=Resolution)
    max_image_pixels: int = 4096 * 4096  # larger files are refused as decompression bombs


@dataclass(frozen=True)
class SynthConfig:
    """The built-in synthetic dataset."""

    n_train: int = 64
    n_test: int = 16
    seed: int = 0

    def __post_init__(self) -> None:
        # Each unpaired ground truth wears another garment of its phase, so a phase needs two pairs.
        for name in ("n_train", "n_test"):
            if getattr(self, name) < 2:
                raise ValueError(f"synth.{name}={getattr(self, name)} must be at least 2")


SectionT = TypeVar("SectionT")


def _number(value: Any, *, where: str, integer: bool) -> int | float:
    """A YAML value as a number. YAML 1.1 reads `2e-4` (no dot) as a string, so numeric strings
    are parsed; booleans, other strings and non-finite values are refused, naming the key."""
    kind = "an integer" if integer else "a number"
    parsed = value
    if isinstance(value, str):
        try:
            parsed = float(value.strip())
        except ValueError:
            raise ValueError(f"{where}: expected {kind}, got the text {value!r}") from None
    if isinstance(parsed, bool) or not isinstance(parsed, int | float):
        raise ValueError(f"{where}: expected {kind}, got {value!r} ({type(value).__name__})")  # noqa: TRY004
    if not math.isfinite(parsed):
        raise ValueError(f"{where}: expected a finite number, got {value!r}")
    if integer:
        if parsed != int(parsed):
            raise ValueError(f"{where}: expected an integer, got {value!r}")
        return int(parsed)
    return float(parsed)


def coerce_value(value: Any, annotation: str, *, where: str) -> Any:
    """`value` read from YAML, checked against a config field's annotation (as written in this
    module: `int`, `float | None`, `dict[str, float]`, `tuple[float, float]`, `Path`, ...) and
    converted where the text means a number; a wrong type raises ValueError naming `where`."""
    annotation = annotation.replace(" ", "")
    if annotation.endswith("|None"):
        return None if value is None else coerce_value(value, annotation.removesuffix("|None"), where=where)
    if annotation in ("int", "float"):
        return _number(value, where=where, integer=annotation == "int")
    if annotation == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{where}: expected true or false, got {value!r} ({type(value).__name__})")
        return value
    if annotation == "str":
        if not isinstance(value, str):
            raise ValueError(f"{where}: expected a text, got {value!r} ({type(value).__name__})")
        return value
    if annotation == "Path":
        if not isinstance(value, str | Path):
            raise ValueError(f"{where}: expected a path, got {value!r} ({type(value).__name__})")
        return Path(value)
    if annotation == "Resolution":
        if isinstance(value, Resolution):
            return value
        try:
            if isinstance(value, str):
                return Resolution.parse(value)
            if isinstance(value, dict):
                return Resolution(**value)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{where}: {error}") from None
        raise ValueError(f"{where}: expected a size HxW such as 256x192, got {value!r}")
    if annotation.startswith("dict[str,"):
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected a mapping, got {value!r} ({type(value).__name__})")
        inner = annotation.removeprefix("dict[str,").removesuffix("]")
        return {str(key): coerce_value(item, inner, where=f"{where}.{key}") for key, item in value.items()}
    if annotation.startswith("tuple["):
        inner = annotation.removeprefix("tuple[").removesuffix("]").split(",")
        if not isinstance(value, list | tuple) or len(value) != len(inner):
            raise ValueError(f"{where}: expected a list of {len(inner)} values, got {value!r}")
        return tuple(
            coerce_value(item, kind, where=f"{where}[{index}]")
            for index, (item, kind) in enumerate(zip(value, inner, strict=True))
        )
    raise TypeError(f"{where}: no YAML conversion for a field of type {annotation}")


def coerce_fields(cls: type, values: dict[str, Any], *, where: str) -> dict[str, Any]:
    """Every value of a section checked and converted by its field's annotation (see `coerce_value`)."""
    annotations = {f.name: str(f.type) for f in dataclasses.fields(cls)}
    return {
        name: coerce_value(value, annotations[name], where=f"{where}.{name}") for name, value in values.items()
    }


def section_from_dict(cls: type[SectionT], values: dict[str, Any] | None, *, where: str) -> SectionT:
    """Build a frozen config section from a mapping, checking each value's type by its field.

    `where` names the section in messages (`params.yaml:train`), so a wrong type or an unknown key
    says which key of which file.
    """
    values = _mapping(values, where=where)
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; expected some of {sorted(known)}")
    return cls(**coerce_fields(cls, values, where=where))


def _mapping(values: Any, *, where: str) -> dict[str, Any]:
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ValueError(f"{where}: expected a mapping of keys to values, got {values!r}")  # noqa: TRY004
    return dict(values)


REFERENCE_RESOLUTION = Resolution(256, 192)
"""The size the presets' depth and discriminator scales are set for (ACGPN's)."""

REFERENCE_DISC_SCALES = 2  # pix2pixHD's and ACGPN's: full and half resolution


def doublings_above_reference(resolution: Resolution) -> int:
    """How many times `resolution` doubles 256x192 in both sides: 0 at 256x192 and below, 1 at
    512x384, 2 at 1024x768 (sizes in between count the doublings they complete)."""
    doublings = 0
    while (
        resolution.height >= REFERENCE_RESOLUTION.height * 2 ** (doublings + 1)
        and resolution.width >= REFERENCE_RESOLUTION.width * 2 ** (doublings + 1)
    ):
        doublings += 1
    return doublings


def resolution_scaled(resolution: Resolution, *, depth: int) -> dict[str, int]:
    """The rule by which the networks follow the resolution, written once.

    Each doubling of the size above 256x192 adds one U-Net level and one discriminator scale, so
    that the U-Net's bottleneck (16x12 at 256x192 with `depth` 5) and the coarsest discriminator
    scale's input (128x96) keep their size in pixels, and their receptive fields keep covering the
    same share of the person and the garment. At 256x192 and below nothing changes. The
    discriminator's layers per scale stay as they are: each scale's patches keep their size
    relative to the image that scale sees.
    """
    extra = doublings_above_reference(resolution)
    return {"depth": depth + extra, "disc_scales": REFERENCE_DISC_SCALES + extra}


PRESETS: dict[str, dict[str, int]] = {
    # Picked for speed at equal quality on the synthetic and VITON data: narrow full-resolution
    # layers, capacity in the deep levels where pixels are few.
    "default": {"base_width": 16, "depth": 5, "max_width": 128, "disc_width": 32},
    # The paper's widths: four 64..1024 U-Nets, about 140M generator parameters in all (at 256x192).
    "original": {"base_width": 64, "depth": 5, "max_width": 1024, "disc_width": 64},
}


@dataclass(frozen=True)
class ModelConfig:
    """Network sizes. Everything else (input channels, label count) derives from tryon.labels."""

    preset: str = "default"
    resolution: Resolution = field(default_factory=Resolution)
    base_width: int = PRESETS["default"]["base_width"]  # channels of the full-resolution U-Net level
    depth: int = PRESETS["default"]["depth"]  # U-Net levels; each halves the size and doubles the width
    # (from_preset adds one per doubling of the resolution above 256x192: `resolution_scaled`)
    max_width: int = PRESETS["default"]["max_width"]  # channel cap of the deepest levels
    disc_width: int = PRESETS["default"]["disc_width"]  # first PatchGAN layer's channels
    disc_layers: int = 3  # strided PatchGAN layers per scale
    disc_scales: int = REFERENCE_DISC_SCALES  # multi-scale discriminator: full and half resolution
    # at 256x192; from_preset adds one per doubling of the resolution (`resolution_scaled`)
    tps_grid: int = 5  # K of the K x K TPS control grid
    tps_width: int = 8  # first conv's channels in the TPS regressor; doubles per stride-2 level
    tps_levels: int = 6  # stride-2 conv levels of the TPS regressor (ACGPN's has 6, 8..256 channels)
    tps_hidden: int = 128  # hidden units of the regressor's head before the control-point offsets
    tps_max_offset: float = 0.5  # bound of the learned control-point offsets around the mask alignment
    # (normalised target-frame units: 0.5 is one control-grid spacing at K = 5)
    tps_align_moments: bool = True  # ours: the TPS starts from the moment alignment of the garment
    # mask onto the target mask (`tryon.ops.alignment`); False starts from the identity, as ACGPN
    tps_fit_steps: int = 30  # ours: at inference, gradient steps that fit the regressed control
    # points to the target mask (`tryon.ops.tps_fit`); 0 keeps the regressor's warp, as ACGPN
    tps_fit_lr: float = 0.03  # Adam step size of that fit, normalised coordinates
    tps_fit_constraint: float = 0.01  # weight of the second-order constraint in that fit
    tps_fit_height: int = 128  # the fit runs on the masks resized to at most this height
    noise_channels: int = 1  # Gaussian noise channel fed to the generators, as in ACGPN
    pose_radius: int = 5  # half side of each keypoint square in the pose maps, at 256x192
    garment_dilation: int = 1  # growth of G2's garment mask before composition, pixels at 256x192
    arm_hole_dilation: int = 10  # growth of occluded arms cut out of the person image, at 256x192
    keep_photo: bool = True  # keep the photo outside the repainted region (product); False: G3
    # renders the whole frame, as ACGPN does, for numbers comparable with the paper's
    tryon_composition_mask: bool = True  # ours: G3 composes its rendering with the warped garment
    # through a predicted mask (CP-VTON's try-on module); False: G3's rendering alone, as ACGPN

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ValueError(f"model preset {self.preset!r} is not one of {sorted(PRESETS)}")
        if self.tps_grid < 3:
            raise ValueError(f"tps_grid={self.tps_grid} must be at least 3 for the second-order constraint")
        if self.tps_fit_steps < 0 or self.tps_fit_height < 8:
            raise ValueError(
                f"tps_fit_steps={self.tps_fit_steps} must be at least 0 and tps_fit_height={self.tps_fit_height} "
                "at least 8"
            )

    @classmethod
    def from_preset(cls, preset: str, resolution: Resolution, **overrides: Any) -> ModelConfig:
        """The preset's widths at `resolution`, its depth and discriminator scales grown with the
        resolution (`resolution_scaled`), and explicit overrides applied on top of both."""
        if preset not in PRESETS:
            raise ValueError(f"model preset {preset!r} is not one of {sorted(PRESETS)}")
        values = {**PRESETS[preset], **resolution_scaled(resolution, depth=PRESETS[preset]["depth"])}
        return cls(preset=preset, resolution=resolution, **{**values, **overrides})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values; `from_dict` inverts it."""
        values = dataclasses.asdict(self)
        values["resolution"] = str(self.resolution)
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        return section_from_dict(cls, values, where="model config")


TRAINING_STAGES = ("sgm", "warp", "fusion")
"""ACGPN's training stages in order: layout (G1, G2), garment warp, content fusion (G3)."""

GAN_LOSS_KINDS = ("lsgan", "hinge")
D_REGULARIZERS = ("none", "r1", "spectral_norm")
FUSION_REGIONS = ("predicted", "ground_truth")


@dataclass(frozen=True)
class StageConfig:
    """How long one training stage runs and when its modules stop training."""

    epochs: float = 200  # passes over the training set; ignored when max_steps is set
    max_steps: int | None = None  # optimizer steps of the stage, instead of epochs
    frozen_after: dict[str, float] = field(default_factory=dict)  # generator submodule -> epochs it trains
    budget_minutes: float | None = None  # wall-clock limit; the stage ends and is saved when it runs out

    def __post_init__(self) -> None:
        if self.epochs <= 0 and self.max_steps is None:
            raise ValueError(f"stage epochs={self.epochs} must be positive (or set max_steps)")
        if self.max_steps is not None and self.max_steps <= 0:
            raise ValueError(f"stage max_steps={self.max_steps} must be positive")
        if self.budget_minutes is not None and self.budget_minutes <= 0:
            raise ValueError(f"stage budget_minutes={self.budget_minutes} must be positive")


@dataclass(frozen=True)
class LossWeights:
    """Weights of the loss terms. Where a default differs from ACGPN's (its pix2pixHD_model.py and
    train.py), or the term is not in ACGPN, the comment says "ours" and why."""

    layout_ce: float = 10.0  # G1: cross-entropy against the layout without the worn garment (ACGPN: 10)
    layout_class_balance: float = 0.5  # G1: ours; classes weighted (max count / count) ** this per batch,
    # so thin arms weigh about as much as the background they are otherwise lost in; 0: unweighted
    layout_gan: float = 1.0  # G1: adversarial, against D1 (ACGPN: 1)
    garment_bce: float = 10.0  # G2: BCE against the worn-garment mask (ACGPN: 10)
    garment_gan: float = 1.0  # G2: adversarial, against D2 (ACGPN: 1)
    sgm_feature_matching: float = 0.0  # G1, G2: ACGPN matches discriminator features only for images
    warped_l1: float = 1.0  # warp: TPS-warped garment vs the person's garment pixels (ACGPN: 1)
    warped_mask_l1: float = 1.0  # warp: warped garment mask vs the worn-garment mask (ACGPN: 1)
    warped_mask_dice: float = 1.0  # warp: ours; multi-scale Dice of the warped mask on the worn mask,
    # a signal normalised by the garment's area, where the frame-averaged L1 above is tiny
    warped_vgg: float = 0.0  # warp: perceptual, warped garment (ACGPN: 1; ours 0, a VGG pass for a weak TPS signal)
    tps_constraint: float = 0.01  # warp: second-order constraint on the control grid (ours; ACGPN: 0.1 per
    # term of its own form; with the Dice term a stronger constraint keeps the grid near the alignment)
    refined_l1: float = 10.0  # warp: refined garment vs the person's garment pixels (ACGPN: 10)
    refined_vgg: float = 10.0  # warp: perceptual, refined garment, when vgg_weights is set (ACGPN: 10)
    composition_l1: float = 1.0  # warp: composition mask vs the worn mask, prefer copying the warp (ACGPN: 1)
    tryon_l1: float = 10.0  # G3: try-on vs the person image (ours; ACGPN: 1, with VGG on; without
    # pretrained VGG weights L1 is the main reconstruction signal)
    tryon_composition_l1: float = 1.0  # G3: ours; composition mask vs the warped garment's mask in the region
    tryon_vgg: float = 10.0  # G3: perceptual, when vgg_weights is set (ACGPN: 10)
    tryon_gan: float = 1.0  # G3: adversarial, against D3 (ACGPN: 1)
    tryon_feature_matching: float = 10.0  # G3: D3 feature matching (ACGPN: lambda_feat 10)


def _default_stages() -> dict[str, StageConfig]:
    # The full recipe: G1 and the warp module train 20 epochs and are then frozen; G2 and G3 train 200.
    return {
        "sgm": StageConfig(epochs=200, frozen_after={"g1": 20}),
        "warp": StageConfig(epochs=20),
        "fusion": StageConfig(epochs=200),
    }


@dataclass(frozen=True)
class TrainConfig:
    """The `train` section: schedule, optimisation, speed switches and logging of `tryon train`.

    The defaults are ACGPN's full recipe; params.yaml holds a demo-sized schedule.
    """

    stages: dict[str, StageConfig] = field(default_factory=_default_stages)  # sgm, warp, fusion
    batch_size: int = 8  # effective batch of one optimizer step, over all devices and accumulation rounds
    batch_per_device: int | None = None  # micro-batch per device; None: batch_size / devices (no accumulation)
    lr: float = 2e-4  # Adam learning rate, as ACGPN
    betas: tuple[float, float] = (0.5, 0.999)  # Adam betas, as ACGPN
    decay_start: float = 0.5  # fraction of a module's training after which its lr decays linearly to 0
    ema_decay: float = 0.999  # generator weight EMA per step
    ema_warmup: int = 10  # decay is min(ema_decay, (1 + t) / (ema_warmup + t)) at step t; 0 disables
    gan_loss: str = "lsgan"  # lsgan (pix2pixHD, ACGPN) or hinge
    d_regularizer: str = "none"  # none, r1 or spectral_norm
    r1_gamma: float = 10.0  # R1 weight is gamma / 2
    r1_interval: int = 16  # lazy R1: every this many steps, scaled by the interval
    weights: LossWeights = field(default_factory=LossWeights)
    noise: bool = True  # Gaussian noise channel per sample, derived from (seed, epoch, sample)
    fusion_region: str = "predicted"  # G3 trains on G1/G2's layout and region (as inference) or the ground truth
    arm_masks: bool = True  # fusion: cut random strokes and blobs out of the arms for G3 to inpaint (ACGPN)
    precision: str = "auto"  # auto (bf16 where native, else fp16 on CUDA, else fp32), bf16, fp16, fp32
    channels_last: bool = False  # NHWC networks and images (the CPU trains discriminators NHWC anyway)
    compile: bool = False  # torch.compile the U-Nets, discriminators and VGG
    checkpointing: bool = False  # recompute U-Net levels in the backward pass (1024x768 on 16 GB)
    fused_optimizer: bool = True  # fused Adam (one kernel for all parameters, no host sync)
    workers: int = 4  # DataLoader processes per device
    log_interval: int = 50  # steps between stats.jsonl lines, TensorBoard scalars and progress updates
    checkpoint_interval: int = 1000  # steps between checkpoints (also written at the end of a stage)
    grid_interval: int = 500  # steps between image grids (also written at the end of a stage)
    grid_samples: int = 4  # rows of an image grid
    seed: int = 0  # weights, data order and noise
    vgg_weights: Path | None = None  # torchvision VGG19 weights for the perceptual loss; None: no VGG loss

    def __post_init__(self) -> None:
        missing = [stage for stage in TRAINING_STAGES if stage not in self.stages]
        unknown = sorted(set(self.stages) - set(TRAINING_STAGES))
        if missing or unknown:
            raise ValueError(
                f"train.stages must name exactly {TRAINING_STAGES}; missing {missing}, unknown {unknown}"
            )
        choices = {
            "precision": PRECISIONS,
            "gan_loss": GAN_LOSS_KINDS,
            "d_regularizer": D_REGULARIZERS,
            "fusion_region": FUSION_REGIONS,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"train.{name}={getattr(self, name)!r} is not one of {allowed}")
        positive = ("batch_size", "r1_interval", "log_interval", "checkpoint_interval", "grid_interval")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"train.{name}={getattr(self, name)} must be positive")
        if self.batch_per_device is not None and self.batch_per_device <= 0:
            raise ValueError(f"train.batch_per_device={self.batch_per_device} must be positive")
        if not 0 <= self.decay_start <= 1:
            raise ValueError(f"train.decay_start={self.decay_start} must be a fraction in [0, 1]")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"train.ema_decay={self.ema_decay} must be in [0, 1)")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (paths as strings); `train_from_dict` inverts it."""
        values = dataclasses.asdict(self)
        values["vgg_weights"] = None if self.vgg_weights is None else str(self.vgg_weights)
        values["betas"] = list(self.betas)
        return values


def train_from_dict(values: dict[str, Any] | None, *, where: str) -> TrainConfig:
    """The `train` section; `stages` may name only some stages, the others keep the full recipe."""
    values = _mapping(values, where=where)
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; expected some of {sorted(known)}")
    stages = _default_stages()
    raw_stages = _mapping(values.pop("stages", None), where=f"{where}.stages")
    unknown_stages = sorted(set(raw_stages) - set(TRAINING_STAGES))
    if unknown_stages:
        raise ValueError(
            f"{where}.stages: unknown stages {unknown_stages}; expected some of {TRAINING_STAGES}"
        )
    for name, stage in raw_stages.items():
        stages[name] = section_from_dict(StageConfig, stage, where=f"{where}.stages.{name}")
    weights = {}
    if "weights" in values:
        weights["weights"] = section_from_dict(LossWeights, values.pop("weights"), where=f"{where}.weights")
    return TrainConfig(stages=stages, **weights, **coerce_fields(TrainConfig, values, where=where))


@dataclass(frozen=True)
class EvalConfig:
    """The `eval` section: local weights of metric networks and the quality gate."""

    inception_weights: Path = Path("weights/inception-2015-12-05.pt")  # TorchScript FID Inception; FID/KID skipped if absent
    max_regression: float = 0.01  # relative worsening of a metric that fails the quality gate

    def __post_init__(self) -> None:
        if self.max_regression < 0:
            raise ValueError(f"eval.max_regression={self.max_regression} must be >= 0")


@dataclass(frozen=True)
class Params:
    """All of params.yaml."""

    data: DataConfig = field(default_factory=DataConfig)
    synth: SynthConfig = field(default_factory=SynthConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


SECTIONS = {"data": DataConfig, "synth": SynthConfig, "model": ModelConfig, "train": TrainConfig, "eval": EvalConfig}


def model_from_dict(values: dict[str, Any] | None, *, resolution: Resolution, where: str) -> ModelConfig:
    """The `model` section: a preset name plus explicit overrides, at the data's resolution.

    The resolution is taken from the `data` section only, so it is written once.
    """
    values = _mapping(values, where=where)
    if "resolution" in values:
        raise ValueError(f"{where}: set the resolution under data.resolution, not model.resolution")
    preset = coerce_value(values.pop("preset", "default"), "str", where=f"{where}.preset")
    known = {f.name for f in dataclasses.fields(ModelConfig)} - {"preset", "resolution"}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; expected some of {sorted(known | {'preset'})}")
    return ModelConfig.from_preset(preset, resolution, **coerce_fields(ModelConfig, values, where=where))


def load_params(path: Path | None) -> Params:
    """Read params.yaml; a missing path gives the built-in defaults."""
    if path is None:
        return Params()
    try:
        raw = _mapping(yaml.safe_load(Path(path).read_text()), where=str(path))
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not valid YAML ({' '.join(str(error).split())})") from None
    unknown = sorted(set(raw) - set(SECTIONS))
    if unknown:
        raise ValueError(f"{path}: unknown sections {unknown}; expected some of {sorted(SECTIONS)}")
    data = section_from_dict(DataConfig, raw.get("data"), where=f"{path}:data")
    return Params(
        data=data,
        synth=section_from_dict(SynthConfig, raw.get("synth"), where=f"{path}:synth"),
        model=model_from_dict(raw.get("model"), resolution=data.resolution, where=f"{path}:model"),
        train=train_from_dict(raw.get("train"), where=f"{path}:train"),
        eval=section_from_dict(EvalConfig, raw.get("eval"), where=f"{path}:eval"),
    )
