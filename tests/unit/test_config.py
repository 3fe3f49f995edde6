from pathlib import Path

import pytest

from tryon.config import ModelConfig, Resolution, load_params


def test_resolution_parses_and_refuses_bad_sizes():
    assert Resolution.parse("512x384").shape == (512, 384)
    with pytest.raises(ValueError, match="HxW"):
        Resolution.parse("512")
    with pytest.raises(ValueError, match="multiple of 16"):
        Resolution(height=250, width=192)


def test_params_file_applies_preset_and_shares_the_data_resolution(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("data:\n  resolution: 512x384\nmodel:\n  preset: original\n  tps_grid: 7\n")
    params = load_params(path)
    assert params.model.resolution == params.data.resolution == Resolution(512, 384)
    assert params.model.base_width == 64 and params.model.tps_grid == 7


@pytest.mark.parametrize(("text", "message"), [
    ("data:\n  resolutoin: 256x192\n", "unknown keys.*resolutoin"),
    ("trian: {}\n", "unknown sections"),
    ("model:\n  resolution: 256x192\n", "data.resolution"),
    ("model:\n  preset: huge\n", "preset 'huge'"),
])
def test_params_file_mistakes_fail_loudly(tmp_path, text, message):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_params(path)


def test_model_config_round_trips_through_its_dict():
    config = ModelConfig.from_preset("original", Resolution(1024, 768))
    values = config.to_dict()
    assert values["resolution"] == "1024x768" and values["preset"] == "original"


def test_numbers_yaml_reads_as_text_work_as_numbers(tmp_path):
    path = tmp_path / "params.yaml"
    # YAML 1.1 reads 2e-4 and 1e3 (no dot) as strings.
    path.write_text(
        "train:\n  lr: 2e-4\n  log_interval: 1e3\n  stages:\n    sgm: {max_steps: '40', budget_minutes: 1e-1}\n"
    )
    train = load_params(path).train
    assert train.lr == 2e-4 and isinstance(train.lr, float)
    assert train.log_interval == 1000 and isinstance(train.log_interval, int)
    assert train.stages["sgm"].max_steps == 40 and train.stages["sgm"].budget_minutes == 0.1


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("train:\n  lr: fast\n", "train.lr", "a number"),
        ("train:\n  batch_size: 2.5\n", "train.batch_size", "an integer"),
        ("train:\n  batch_size: true\n", "train.batch_size", "an integer"),
        ("train:\n  noise: 'no'\n", "train.noise", "true or false"),
        ("train:\n  betas: [0.5]\n", "train.betas", "a list of 2"),
        ("train:\n  betas: [0.5, x]\n", r"train.betas\[1\]", "a number"),
        (
            "train:\n  stages: {sgm: {frozen_after: {g1: soon}}}\n",
            "train.stages.sgm.frozen_after.g1",
            "a number",
        ),
        ("train:\n  weights: {tryon_l1: .nan}\n", "train.weights.tryon_l1", "finite"),
        ("model:\n  tps_grid: nine\n", "model.tps_grid", "an integer"),
        ("model:\n  preset: 3\n", "model.preset", "a text"),
        ("data:\n  resolution: 256\n", "data.resolution", "HxW"),
        ("eval:\n  inception_weights: [a]\n", "eval.inception_weights", "a path"),
        ("train: [1, 2]\n", "train", "a mapping"),
    ],
)
def test_a_value_of_the_wrong_type_names_its_key(tmp_path, text, key, expected):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=f"params.yaml:{key}: .*{expected}"):
        load_params(path)


@pytest.mark.parametrize(
    ("size", "depth", "scales", "bottleneck"),
    [
        ("128x96", 5, 2, (8, 6)),
        ("256x192", 5, 2, (16, 12)),
        ("512x384", 6, 3, (16, 12)),
        ("1024x768", 7, 4, (16, 12)),
    ],
)
def test_depth_and_discriminator_scales_follow_the_resolution(size, depth, scales, bottleneck):
    resolution = Resolution.parse(size)
    for preset in ("default", "original"):
        config = ModelConfig.from_preset(preset, resolution)
        assert (config.depth, config.disc_scales, config.disc_layers) == (depth, scales, 3)
        shrink = 2 ** (config.depth - 1)
        assert (resolution.height // shrink, resolution.width // shrink) == bottleneck
        # The coarsest discriminator scale sees at most 128x96, as at 256x192.
        assert resolution.height // 2 ** (config.disc_scales - 1) == min(resolution.height, 256) // 2
    assert ModelConfig.from_preset("default", resolution, depth=4, disc_scales=1).depth == 4  # overrides win


def test_the_demo_networks_keep_their_measured_size():
    params = load_params(Path(__file__).resolve().parents[2] / "params.yaml")
    assert params.model.resolution == Resolution(128, 96)
    assert (params.model.depth, params.model.disc_scales, params.model.disc_layers) == (5, 2, 3)
