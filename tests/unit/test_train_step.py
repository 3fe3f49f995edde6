"""The training step: one phase code path, no host round-trips, exact accumulation, freezing, EMA,
per-sample noise, one VGG pass per image and a state that resumes bit for bit."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from tryon.config import LossWeights, ModelConfig, Resolution, StageConfig, TrainConfig
from tryon.data.dataset import TryOnDataset, collate
from tryon.data.synthetic import generate_dataset
from tryon.nets import VGG19Features
from tryon.train import trainer as trainer_module
from tryon.train.distributed import DistributedContext
from tryon.train.noise import SampleNoise
from tryon.train.phases import accumulate_gradients, discriminator_loss, generator_loss, r1_loss
from tryon.train.schedule import stage_schedule
from tryon.train.stages import FUSION, SGM, STAGES, WARP, SharedFeatures, Stage, joint_stage
from tryon.train.trainer import StageTrainer

SIZE = Resolution(64, 48)
HOST_READS = ("aten._local_scalar_dense", "aten.nonzero")


def tiny_model() -> ModelConfig:
    return ModelConfig.from_preset(
        "default",
        SIZE,
        base_width=4,
        max_width=16,
        depth=4,
        disc_width=4,
        tps_width=2,
        tps_levels=3,
        tps_hidden=8,
    )


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    generate_dataset(root, n_train=4, n_test=2, resolution=SIZE, seed=0, workers=1)
    dataset = TryOnDataset(root, phase="train", resolution=SIZE)
    return collate([dataset[index] for index in range(2)])


def make_trainer(stage=SGM, *, steps=10, frozen_after=None, vgg=None, **overrides) -> StageTrainer:
    config = TrainConfig(**{"precision": "fp32", **overrides})
    schedule = stage_schedule(
        StageConfig(max_steps=steps, frozen_after=frozen_after or {}), steps_per_epoch=1
    )
    trainer = StageTrainer(
        stage=stage,
        model_config=tiny_model(),
        config=config,
        schedule=schedule,
        context=DistributedContext(),
        vgg=vgg,
    )
    trainer.prepare()
    return trainer


def split(batch, *, rounds: int):
    size = len(batch) // rounds
    parts = []
    for start in range(0, len(batch), size):
        fields = {
            field.name: value[start : start + size]
            if isinstance(value := getattr(batch, field.name), torch.Tensor)
            else value
            for field in dataclasses.fields(batch)
        }
        fields["names"] = batch.names[start : start + size]
        parts.append((list(range(start, start + size)), dataclasses.replace(batch, **fields)))
    return parts


def biases_cancelled_by_instance_norm(module: nn.Module) -> set[str]:
    """Conv biases right before an instance norm: the norm subtracts them, so their gradient is zero
    in exact arithmetic and float noise in practice, which Adam turns into lr-sized random steps.
    They do not change what the network computes."""
    names = set()
    for prefix, child in module.named_modules():
        if isinstance(child, nn.Sequential):
            for index, (layer, following) in enumerate(zip(child, list(child)[1:])):
                if (
                    isinstance(layer, nn.Conv2d)
                    and isinstance(following, nn.InstanceNorm2d)
                    and layer.bias is not None
                ):
                    names.add(f"{prefix}.{index}.bias".lstrip("."))
    return names


def assert_same_weights(actual: nn.Module, expected: nn.Module, *, atol: float) -> None:
    cancelled = biases_cancelled_by_instance_norm(expected)
    for name, value in expected.state_dict().items():
        if name not in cancelled:
            torch.testing.assert_close(actual.state_dict()[name], value, rtol=0, atol=atol, msg=name)


class HostReads(TorchDispatchMode):
    """Records the ops that copy a tensor's value to the host (`.item()`, `.tolist()`, `if t:`, nonzero)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if str(func).startswith(HOST_READS):
            self.seen.append(str(func))
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("stage", [*STAGES.values(), joint_stage()], ids=lambda stage: stage.name)
def test_a_step_never_reads_a_value_back_to_the_host(batch, stage):
    trainer = make_trainer(stage, precision="bf16", d_regularizer="r1", r1_interval=1)
    micro_batches = split(batch, rounds=2)
    trainer.train_step(micro_batches, epoch=0)  # lazy state (optimizer moments) is created outside the check
    with HostReads() as reads:
        trainer.train_step(micro_batches, epoch=0)
    assert reads.seen == []
    assert trainer.stats.counts  # the losses were recorded, on the device


def test_every_gd_pair_runs_through_the_same_three_phase_losses():
    names = {
        stage.name: [phase.name for phase in make_trainer(stage, d_regularizer="r1").phases]
        for stage in STAGES.values()
    }
    assert names == {
        "sgm": ["D1", "D1reg", "G1", "D2", "D2reg", "G2"],
        "warp": ["warp"],
        "fusion": ["D3", "D3reg", "G3"],
    }
    losses = {
        phase.loss.func
        for stage in STAGES.values()
        for phase in make_trainer(stage, d_regularizer="r1").phases
    }
    assert losses == {generator_loss, discriminator_loss, r1_loss}


def test_discriminator_regularisers_and_the_hinge_loss_train(batch):
    spectral = make_trainer(SGM, d_regularizer="spectral_norm")
    spectral.train_step(split(batch, rounds=1), epoch=0)
    assert any("parametrizations" in name for name, _ in spectral.discriminators.named_parameters())
    lazy = make_trainer(SGM, d_regularizer="r1", r1_interval=2, gan_loss="hinge")
    for _ in range(3):
        lazy.train_step(split(batch, rounds=1), epoch=0)
    assert lazy.stats.counts["D1reg/r1"] == 2 and lazy.stats.counts["D1/real"] == 3  # steps 0 and 2
    assert all(torch.isfinite(value) for value in lazy.stats.sums.values())


def test_the_generators_adversarial_loss_does_not_touch_the_discriminator(batch):
    trainer = make_trainer(SGM)
    shared = SharedFeatures(draws=trainer.noise.draw([0, 1], 0, reference=batch.image))
    outputs = SGM.forward(trainer.forward_context, batch, frozenset({"G1", "G2"}), shared)
    g1_phase = next(phase for phase in trainer.phases if phase.name == "G1")
    accumulate_gradients(
        g1_phase, outputs, gain=1.0, precision=trainer.precision, scaler=trainer.scaler, stats=trainer.stats
    )
    assert all(parameter.grad is not None for parameter in trainer.generators.g1.parameters())
    assert all(parameter.grad is None for parameter in trainer.discriminators.parameters())
    assert all(parameter.grad is None for parameter in trainer.generators.g2.parameters())
    assert set(trainer.stats.sums) == {"G1/ce", "G1/gan"}


def captured_gradients(monkeypatch, trainer, micro_batches) -> dict[str, torch.Tensor]:
    captured = {}

    def capture(phases, **kwargs):
        for phase in phases:
            for name, parameter in phase.module.named_parameters():
                if parameter.grad is not None:
                    captured[f"{phase.name}.{name}"] = parameter.grad.clone()
        return original(phases, **kwargs)

    original = trainer_module.step_optimizers
    monkeypatch.setattr(trainer_module, "step_optimizers", capture)
    trainer.train_step(micro_batches, epoch=0)
    monkeypatch.undo()
    return captured


def float64_trainer(stage: Stage) -> StageTrainer:
    """`make_trainer(stage)` with float64 weights (and float64 EMA and optimizer state)."""
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        return make_trainer(stage)
    finally:
        torch.set_default_dtype(default)


def in_float64(batch):
    """The batch with its floating tensors in float64."""
    return dataclasses.replace(
        batch,
        **{
            field.name: value.double()
            for field in dataclasses.fields(batch)
            if isinstance(value := getattr(batch, field.name), torch.Tensor) and value.is_floating_point()
        },
    )


@pytest.mark.parametrize("stage", [SGM, WARP, FUSION], ids=lambda stage: stage.name)
def test_accumulating_two_micro_batches_gives_the_gradient_of_the_whole_batch(monkeypatch, batch, stage):
    # Compared in float64. One batch of 2 and two of 1 sum in different orders; in float32 that moves
    # activations by ~1e-6, which now and then puts one of the ~10^5 ReLU inputs on the other side of
    # zero: that pixel's gradient is then passed in one run and blocked in the other, and the weights
    # below it differ by up to 5% of the largest gradient (about one seed in five, in every stage,
    # with or without noise or conv biases). In float64 the gradients agree to ~1e-14.
    batch = in_float64(batch)
    whole = captured_gradients(monkeypatch, float64_trainer(stage), split(batch, rounds=1))
    rounds = captured_gradients(monkeypatch, float64_trainer(stage), split(batch, rounds=2))
    assert whole.keys() == rounds.keys() and whole
    assert all(gradient.dtype == torch.float64 for gradient in whole.values())
    scale = max(gradient.abs().max() for gradient in whole.values())
    for name, gradient in whole.items():
        assert (rounds[name] - gradient).abs().max() <= 1e-4 * scale, name


class Unshared(dict):
    """A `StepOutputs.fake_scores` that keeps nothing: the generator phase runs its own pass."""

    def __setitem__(self, key, value) -> None:
        pass


def without_shared_fake_scores(trainer: StageTrainer) -> StageTrainer:
    stage = trainer.stage

    def forward(*args):
        outputs = stage.forward(*args)
        outputs.fake_scores = Unshared()
        return outputs

    trainer.stage = dataclasses.replace(stage, forward=forward)
    return trainer


@pytest.mark.parametrize("stage", [SGM, FUSION], ids=lambda stage: stage.name)
def test_one_discriminator_pass_on_the_fakes_gives_both_losses_their_gradients(monkeypatch, batch, stage):
    batch = in_float64(batch)
    shared = float64_trainer(stage)
    passes = []
    trained = [role.discriminator for role in stage.roles if role.discriminator]
    for name in trained:
        shared.discriminators.get_submodule(name).register_forward_hook(
            lambda module, args, output: passes.append(module)
        )
    gradients = captured_gradients(monkeypatch, shared, split(batch, rounds=2))
    # Per micro-batch, each discriminator sees the real and the generated input once.
    assert len(passes) == 2 * 2 * len(trained)
    reference = captured_gradients(
        monkeypatch, without_shared_fake_scores(float64_trainer(stage)), split(batch, rounds=2)
    )
    assert gradients.keys() == reference.keys() and any(name.startswith("D") for name in gradients)
    for name, gradient in reference.items():
        torch.testing.assert_close(gradients[name], gradient, rtol=1e-9, atol=1e-12, msg=name)


def test_a_module_frozen_mid_stage_takes_its_ema_weights_and_its_pair_stops(batch):
    trainer = make_trainer(SGM, frozen_after={"g1": 1})
    trainer.train_step(split(batch, rounds=1), epoch=0)
    d1_before = copy.deepcopy(trainer.discriminators.d1.state_dict())
    trainer.train_step(split(batch, rounds=1), epoch=0)
    assert not any(parameter.requires_grad for parameter in trainer.generators.g1.parameters())
    for name, value in trainer.generators.g1.state_dict().items():
        assert torch.equal(value, trainer.ema.g1.state_dict()[name])
    assert trainer.active_phases() == {"G2"}
    for name, value in trainer.discriminators.d1.state_dict().items():
        assert torch.equal(value, d1_before[name])
    assert "G1/ce" not in trainer.stats.sums or trainer.stats.counts["G1/ce"] == 1


def test_generators_outside_the_stage_run_frozen_with_their_ema_weights():
    trainer = make_trainer(FUSION)
    for name in ("g1", "g2", "warper"):
        module = getattr(trainer.generators, name)
        assert not module.training and not any(parameter.requires_grad for parameter in module.parameters())
    assert all(parameter.requires_grad for parameter in trainer.generators.g3.parameters())


def test_warp_submodules_can_freeze_separately(batch):
    trainer = make_trainer(WARP, frozen_after={"warper.refine": 1})
    for _ in range(2):  # the second step freezes the refinement U-Net (with its EMA weights)
        trainer.train_step(split(batch, rounds=1), epoch=0)
    refine = copy.deepcopy(trainer.generators.warper.refine.state_dict())
    regressor = copy.deepcopy(trainer.generators.warper.regressor.state_dict())
    trainer.train_step(split(batch, rounds=1), epoch=0)
    assert all(
        torch.equal(value, refine[name])
        for name, value in trainer.generators.warper.refine.state_dict().items()
    )
    assert not all(
        torch.equal(value, regressor[name])
        for name, value in trainer.generators.warper.regressor.state_dict().items()
    )
    with pytest.raises(ValueError, match="does not train"):
        make_trainer(WARP, frozen_after={"g1": 1})


def test_noise_and_inpainting_masks_depend_on_sample_epoch_and_slot_only(batch):
    noise = SampleNoise(seed=0, enabled=True, channels=1, inpaint_masks=True)
    reference = batch.image
    pair = noise.draw([3, 5], 2, reference=reference)
    single = noise.draw([5], 2, reference=reference[:1])
    assert torch.equal(single.noise.g1, pair.noise.g1[1:])
    assert torch.equal(single.inpaint, pair.inpaint[1:])
    assert pair.noise.g1.shape == (2, 1, *reference.shape[-2:])
    assert not torch.equal(single.noise.g2, pair.noise.g1[1:])
    later = noise.draw([5], 3, reference=reference[:1])
    assert not torch.equal(later.noise.g1, pair.noise.g1[1:])
    assert not torch.equal(later.inpaint, pair.inpaint[1:])
    off = SampleNoise(seed=0, enabled=False, channels=1, inpaint_masks=False).draw([3, 5], 2, reference=reference)
    assert not off.noise.g3.any() and off.inpaint is None
    with pytest.raises(ValueError, match="indices"):
        noise.draw([1], 0, reference=reference)


def test_a_restored_state_continues_bit_for_bit(batch):
    micro_batches = split(batch, rounds=1)
    first = make_trainer(FUSION, precision="bf16")
    first.train_step(micro_batches, epoch=0)
    state = copy.deepcopy(first.state_dict())
    second = make_trainer(FUSION, precision="bf16")
    second.load_state_dict(state)
    first.train_step(micro_batches, epoch=0)
    second.train_step(micro_batches, epoch=0)
    for name, value in first.state_dict()["generators"].items():
        assert torch.equal(value, second.state_dict()["generators"][name]), name
    assert second.step == 2


def test_ema_follows_the_trained_weights(batch):
    trainer = make_trainer(WARP, ema_decay=0.5, ema_warmup=0)
    before = copy.deepcopy(trainer.ema.warper.state_dict())
    trainer.train_step(split(batch, rounds=1), epoch=0)
    for name, value in trainer.ema.warper.named_parameters():
        expected = 0.5 * before[name] + 0.5 * trainer.generators.warper.get_parameter(name)
        torch.testing.assert_close(value, expected)


def counting_vgg() -> tuple[VGG19Features, list[int]]:
    vgg = VGG19Features()
    calls = []
    vgg.register_forward_hook(lambda module, args, output: calls.append(args[0].shape[0]))
    return vgg, calls


@pytest.mark.parametrize(
    ("stage", "weights", "terms"),
    [
        (WARP, {}, {"refined_vgg"}),
        (WARP, {"warped_vgg": 1.0}, {"warped_vgg", "refined_vgg"}),
        (FUSION, {}, {"vgg"}),
        (FUSION, {"tryon_vgg": 0.0}, set()),
    ],
    ids=["warp", "warp-warped-too", "fusion", "fusion-off"],
)
def test_each_image_goes_through_vgg_once_per_step(batch, stage, weights, terms):
    vgg, calls = counting_vgg()
    trainer = make_trainer(stage, vgg=vgg, weights=LossWeights(**weights))
    trainer.train_step(split(batch, rounds=1), epoch=0)
    # One pass for the target (warp: the garment pixels; fusion: the person), one per compared
    # image, however many terms use them; none when every perceptual weight is 0.
    assert len(calls) == (len(terms) + 1 if terms else 0)
    assert {name.split("/")[1] for name in trainer.stats.sums if "vgg" in name} == terms


def test_the_full_step_computes_the_layout_once(batch):
    g1_calls = []
    trainer = make_trainer(joint_stage())
    trainer.generators.g1.register_forward_hook(lambda module, args, output: g1_calls.append(1))
    trainer.train_step(split(batch, rounds=1), epoch=0)
    assert len(g1_calls) == 1  # SGM's prediction serves the fusion stage too


def test_the_benchmarks_joint_step_trains_every_module(batch):
    trainer = make_trainer(joint_stage())
    before = copy.deepcopy(trainer.generators.state_dict())
    trainer.train_step(split(batch, rounds=1), epoch=0)
    for name in ("g1", "g2", "warper", "g3"):
        changed = [
            not torch.equal(value, before[f"{name}.{key}"])
            for key, value in getattr(trainer.generators, name).state_dict().items()
        ]
        assert any(changed), name


def test_fused_and_foreach_optimizers_agree(batch):
    fused = make_trainer(WARP, fused_optimizer=True)
    foreach = make_trainer(WARP, fused_optimizer=False)
    for trainer in (fused, foreach):
        trainer.train_step(split(batch, rounds=1), epoch=0)
    assert_same_weights(fused.generators.warper, foreach.generators.warper, atol=1e-6)


def test_the_cpu_trains_the_discriminators_in_nhwc_as_it_would_in_nchw(batch):
    nhwc = make_trainer(SGM)
    nchw = make_trainer(SGM)
    nchw.discriminators.to(memory_format=torch.contiguous_format)  # before any optimizer state exists
    assert nhwc.discriminators.d1.scales[0].memory_format == torch.channels_last
    assert nchw.discriminators.d1.scales[0].memory_format == torch.contiguous_format
    for trainer in (nhwc, nchw):
        for _ in range(2):
            trainer.train_step(split(batch, rounds=1), epoch=0)
    assert_same_weights(nhwc.discriminators, nchw.discriminators, atol=1e-5)
    assert_same_weights(nhwc.generators.g1, nchw.generators.g1, atol=1e-5)
    assert (
        nhwc.discriminators.d2.scales[1].blocks[1][0].weight.is_contiguous(memory_format=torch.channels_last)
    )


def test_channels_last_training_matches_the_default_layout(batch):
    default = make_trainer(WARP)
    nhwc = make_trainer(WARP, channels_last=True)
    default.train_step(split(batch, rounds=1), epoch=0)
    device = torch.device("cpu")
    nhwc.train_step(
        [
            (indices, trainer_module.to_device(part, device, channels_last=True))
            for indices, part in split(batch, rounds=1)
        ],
        epoch=0,
    )
    assert nhwc.generators.warper.refine.head.weight.is_contiguous(memory_format=torch.channels_last)
    assert_same_weights(nhwc.generators.warper, default.generators.warper, atol=1e-5)
