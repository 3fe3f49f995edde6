"""Frozen configuration dataclasses, one per section of params.yaml.

Each section is read with `section_from_dict`, which refuses unknown keys so that a typo in
params.yaml fails loudly instead of silently falling back to a default.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

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


SectionT = TypeVar("SectionT")


def section_from_dict(cls: type[SectionT], values: dict[str, Any] | None, *, where: str) -> SectionT:
    """Build a frozen config section from a mapping, converting nested sections and paths."""
    values = dict(values or {})
    known = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; expected some of {sorted(known)}")
    kwargs: dict[str, Any] = {}
    for name, value in values.items():
        annotation = str(known[name].type)
        if annotation == "Resolution":
            value = Resolution.parse(value) if isinstance(value, str) else Resolution(**value)
        elif annotation == "Path":
            value = Path(value)
        kwargs[name] = value
    return cls(**kwargs)


PRESETS: dict[str, dict[str, int]] = {
    # Picked for speed at equal quality on the synthetic and VITON data: narrow full-resolution
    # layers, capacity in the deep levels where pixels are few.
    "default": {"base_width": 16, "depth": 5, "max_width": 128, "disc_width": 32},
    # The paper's widths: four 64..1024 U-Nets, about 140M generator parameters in all.
    "original": {"base_width": 64, "depth": 5, "max_width": 1024, "disc_width": 64},
}


@dataclass(frozen=True)
class ModelConfig:
    """Network sizes. Everything else (input channels, label count) derives from tryon.labels."""

    preset: str = "default"
    resolution: Resolution = field(default_factory=Resolution)
    base_width: int = PRESETS["default"]["base_width"]  # channels of the full-resolution U-Net level
    depth: int = PRESETS["default"]["depth"]  # U-Net levels; each halves the size and doubles the width
    max_width: int = PRESETS["default"]["max_width"]  # channel cap of the deepest levels
    disc_width: int = PRESETS["default"]["disc_width"]  # first PatchGAN layer's channels
    disc_layers: int = 3  # strided PatchGAN layers per scale
    disc_scales: int = 2  # multi-scale discriminator: full and half resolution
    tps_grid: int = 5  # K of the K x K TPS control grid
    tps_width: int = 8  # first conv's channels in the TPS regressor; doubles per stride-2 level
    tps_levels: int = 6  # stride-2 conv levels of the TPS regressor (ACGPN's has 6, 8..256 channels)
    tps_hidden: int = 128  # hidden units of the regressor's head before the control-point offsets
    noise_channels: int = 1  # Gaussian noise channel fed to the generators, as in ACGPN
    pose_radius: int = 5  # half side of each keypoint square in the pose maps, at 256x192
    garment_dilation: int = 1  # growth of G2's garment mask before composition, pixels at 256x192
    arm_hole_dilation: int = 10  # growth of occluded arms cut out of the person image, at 256x192

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ValueError(f"model preset {self.preset!r} is not one of {sorted(PRESETS)}")
        if self.tps_grid < 3:
            raise ValueError(f"tps_grid={self.tps_grid} must be at least 3 for the second-order constraint")

    @classmethod
    def from_preset(cls, preset: str, resolution: Resolution, **overrides: Any) -> ModelConfig:
        """The preset's widths at `resolution`, with explicit overrides applied on top."""
        if preset not in PRESETS:
            raise ValueError(f"model preset {preset!r} is not one of {sorted(PRESETS)}")
        return cls(preset=preset, resolution=resolution, **{**PRESETS[preset], **overrides})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values; `from_dict` inverts it."""
        values = dataclasses.asdict(self)
        values["resolution"] = str(self.resolution)
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        return section_from_dict(cls, values, where="model config")


@dataclass(frozen=True)
class Params:
    """All of params.yaml."""

    data: DataConfig = field(default_factory=DataConfig)
    synth: SynthConfig = field(default_factory=SynthConfig)
    model: ModelConfig = field(default_factory=ModelConfig)


SECTIONS = {"data": DataConfig, "synth": SynthConfig, "model": ModelConfig}


def model_from_dict(values: dict[str, Any] | None, *, resolution: Resolution, where: str) -> ModelConfig:
    """The `model` section: a preset name plus explicit overrides, at the data's resolution.

    The resolution is taken from the `data` section only, so it is written once.
    """
    values = dict(values or {})
    if "resolution" in values:
        raise ValueError(f"{where}: set the resolution under data.resolution, not model.resolution")
    preset = values.pop("preset", "default")
    known = {f.name for f in dataclasses.fields(ModelConfig)} - {"preset", "resolution"}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; expected some of {sorted(known | {'preset'})}")
    return ModelConfig.from_preset(preset, resolution, **values)


def load_params(path: Path | None) -> Params:
    """Read params.yaml; a missing path gives the built-in defaults."""
    if path is None:
        return Params()
    raw = yaml.safe_load(Path(path).read_text()) or {}
    unknown = sorted(set(raw) - set(SECTIONS))
    if unknown:
        raise ValueError(f"{path}: unknown sections {unknown}; expected some of {sorted(SECTIONS)}")
    data = section_from_dict(DataConfig, raw.get("data"), where=f"{path}:data")
    return Params(
        data=data,
        synth=section_from_dict(SynthConfig, raw.get("synth"), where=f"{path}:synth"),
        model=model_from_dict(raw.get("model"), resolution=data.resolution, where=f"{path}:model"),
    )
