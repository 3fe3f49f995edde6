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
