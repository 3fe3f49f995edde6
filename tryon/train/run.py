"""`tryon train`: the stages in order, each starting from the previous stage's checkpoint."""

from __future__ import annotations

import logging
from pathlib import Path

from tryon.config import TRAINING_STAGES, ModelConfig, TrainConfig
from tryon.nets import VGG19Features, load_vgg19
from tryon.train.distributed import init_distributed, shutdown_distributed
from tryon.train.loop import run_stage
from tryon.train.state import CHECKPOINT_NAME

logger = logging.getLogger(__name__)


def stage_checkpoint(out_dir: Path, stage: str) -> Path:
    """Where a stage's checkpoint lives: OUT/{stage}/checkpoint.pt."""
    return Path(out_dir) / stage / CHECKPOINT_NAME


def select_stages(stage: str) -> list[str]:
    """`all` or one stage name to the list of stages to run, in order."""
    if stage == "all":
        return list(TRAINING_STAGES)
    if stage not in TRAINING_STAGES:
        raise ValueError(f"stage {stage!r} is not one of {(*TRAINING_STAGES, 'all')}")
    return [stage]


def perceptual_network(config: TrainConfig, *, announce: bool) -> VGG19Features | None:
    """The VGG19 of the perceptual terms, or None (said once, when `announce`) without configured weights.

    A configured path that does not hold torchvision's weights fails here, before any training.
    """
    if config.vgg_weights is None:
        if announce:
            logger.warning(
                "perceptual (VGG19) loss is off: train.vgg_weights is not set. Nothing is downloaded; put "
                "torchvision's vgg19-dcbb9e9d.pth on disk and set train.vgg_weights to use it."
            )
        return None
    return load_vgg19(config.vgg_weights)


def train(
    *,
    stage: str,  # sgm, warp, fusion or all
    data_root: Path,  # dataset root in the ACGPN/VITON layout
    out_dir: Path,  # run folder; each stage writes OUT/{stage}/
    model_config: ModelConfig,  # network sizes and resolution
    config: TrainConfig,  # the `train` section of params.yaml
    resume: bool = False,  # continue interrupted stages from their checkpoints
    device: str | None = None,  # cpu, cuda or cuda:N; None: CUDA if available (torchrun: LOCAL_RANK)
    progress: bool = True,  # tqdm progress bar
) -> Path:
    """Run one stage or all three and return the last stage's checkpoint (deployable as is).

    Each stage after the first starts from the previous stage's checkpoint, which must exist.
    Under `torchrun` every process calls this; rank 0 alone writes files.
    """
    stages = select_stages(stage)
    context = init_distributed(device)
    try:
        vgg = perceptual_network(config, announce=context.is_main)
        checkpoint = None
        for name in stages:
            index = TRAINING_STAGES.index(name)
            init_from = stage_checkpoint(out_dir, TRAINING_STAGES[index - 1]) if index else None
            if init_from is not None and not init_from.is_file():
                raise FileNotFoundError(
                    f"stage {name} starts from {init_from}, which does not exist; "
                    f"train stage {TRAINING_STAGES[index - 1]} into {out_dir} first (or use --stage all)"
                )
            checkpoint = run_stage(
                stage=name,
                data_root=data_root,
                run_dir=Path(out_dir) / name,
                model_config=model_config,
                config=config,
                init_from=init_from,
                resume=resume,
                context=context,
                vgg=vgg,
                progress=progress,
            )
        return checkpoint
    finally:
        shutdown_distributed()
