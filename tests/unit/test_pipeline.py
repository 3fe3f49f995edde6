import pytest
import torch

from tests.helpers import TINY, tiny_model_config
from tryon import precision
from tryon.checkpoint import EMA_STATE, RAW_STATE, CheckpointMismatchError, load_checkpoint, save_checkpoint
from tryon.config import ModelConfig, Resolution
from tryon.labels import NUM_KEYPOINTS, NUM_LABELS, Label
from tryon.nets import TryOnGenerators
from tryon.pipeline import TryOnPipeline
from tryon.precision import resolve_precision
from tryon.steps import PersonRepresentation

SIZE = TINY


@pytest.fixture(scope="module")
def config():
    return tiny_model_config()


@pytest.fixture(scope="module")
def pipeline(config):
    torch.manual_seed(0)
    return TryOnPipeline(TryOnGenerators.from_config(config), config, precision="fp32")


def person_batch(batch: int):
    generator = torch.Generator().manual_seed(1)
    image = torch.rand(batch, 3, *SIZE.shape, generator=generator) * 2 - 1
    labels = torch.full((batch, *SIZE.shape), int(Label.BACKGROUND))
    labels[:, 20:50, 12:36] = Label.UPPER_CLOTHES
    labels[:, 25:45, 6:12] = Label.LEFT_ARM
    labels[:, 25:45, 36:42] = Label.RIGHT_ARM
    labels[:, 4:20, 16:32] = Label.FACE
    keypoints = torch.rand(batch, NUM_KEYPOINTS, 3, generator=generator) * torch.tensor([48.0, 64.0, 1.0])
    return image, labels, keypoints


def garment_batch(batch: int):
    generator = torch.Generator().manual_seed(2)
    garment = torch.rand(batch, 3, *SIZE.shape, generator=generator) * 2 - 1
    mask = torch.zeros(batch, 1, *SIZE.shape)
    mask[:, :, 10:54, 8:40] = 1
    return garment, mask


def test_pipeline_returns_the_try_on_and_its_intermediates(pipeline):
    person = pipeline.represent(*person_batch(2))
    garment, mask = garment_batch(2)
    torch.manual_seed(0)
    output = pipeline(person, garment, mask)
    assert output.image.shape == (2, 3, *SIZE.shape)
    assert output.image.abs().max() <= 1
    assert output.layout.layout_logits.shape == (2, NUM_LABELS, *SIZE.shape)
    assert output.composed_labels.shape == (2, 1, *SIZE.shape)
    assert output.warp.refined_garment.shape == (2, 3, *SIZE.shape)
    assert set(output.garment_region.unique().tolist()) <= {0.0, 1.0}
    # The person's old garment is always cut out of the image G3 sees, and outside the repainted
    # region the try-on is the person photo itself.
    assert (output.fusion.image_with_holes[:, :, 20:50, 12:36] == 0).all()
    kept = output.fusion.repainted == 0
    assert kept.any() and (output.fusion.repainted[:, :, 20:50, 12:36] == 1).all()
    assert torch.equal(output.image * kept, person.image * kept)


def test_one_person_representation_serves_many_garments(pipeline):
    image, labels, keypoints = person_batch(1)
    person = pipeline.represent(image, labels, keypoints)
    garment, mask = garment_batch(3)
    torch.manual_seed(0)
    shared = pipeline(person, garment, mask).image
    torch.manual_seed(0)
    repeated = pipeline(pipeline.represent(image.expand(3, -1, -1, -1), labels.expand(3, -1, -1),
                                           keypoints.expand(3, -1, -1)), garment, mask).image
    assert torch.allclose(shared, repeated, atol=1e-5)


def test_checkpoint_round_trip_gives_identical_try_ons(pipeline, config, tmp_path):
    state = pipeline.generators.state_dict()
    path = save_checkpoint(tmp_path / "c.pt", model_config=config, state={RAW_STATE: state, EMA_STATE: state})
    loaded = TryOnPipeline.from_checkpoint(path, expect=config, precision="fp32")
    person = pipeline.represent(*person_batch(1))
    garment, mask = garment_batch(1)
    torch.manual_seed(3)
    expected = pipeline(person, garment, mask).image
    torch.manual_seed(3)
    assert torch.equal(loaded(person, garment, mask).image, expected)
    assert loaded.config == config


def test_checkpoint_from_another_resolution_or_preset_is_refused_clearly(pipeline, config, tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", model_config=config, state={RAW_STATE: pipeline.generators.state_dict()})
    with pytest.raises(CheckpointMismatchError, match=r"resolution 64x48 \(configured: 128x96\)"):
        load_checkpoint(path, expect=tiny_model_config(Resolution(128, 96)))
    with pytest.raises(CheckpointMismatchError, match=r"preset default \(configured: original\)"):
        TryOnPipeline.from_checkpoint(path, expect=ModelConfig.from_preset("original", SIZE))


def test_broken_or_foreign_checkpoint_files_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="tryon train"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not readable"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match="not a tryon checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")


def test_bf16_pipeline_returns_float32_close_to_fp32(pipeline, config):
    fast = TryOnPipeline(pipeline.generators, config, precision="bf16")
    person = pipeline.represent(*person_batch(1))
    garment, mask = garment_batch(1)
    torch.manual_seed(4)
    reference = pipeline(person, garment, mask)
    torch.manual_seed(4)
    output = fast(person, garment, mask)
    assert output.image.dtype == output.warp.refined_garment.dtype == torch.float32
    # Random weights leave near-ties in G1's argmax, so compare the first network's logits, whose
    # inputs are identical in both runs, relative to their scale.
    logits, expected = output.layout.layout_logits, reference.layout.layout_logits
    assert (logits - expected).abs().mean() < 0.1 * expected.abs().mean()  # bf16: 8-bit mantissa
    with pytest.raises(ValueError, match="precision"):
        TryOnPipeline(pipeline.generators, config, precision="int4")


def test_auto_precision_resolves_as_training_does(pipeline, config, monkeypatch):
    assert TryOnPipeline(pipeline.generators, config).precision == resolve_precision("auto", "cpu")
    monkeypatch.setattr(precision, "cpu_bf16_native", lambda: False)  # an AVX2-only CPU
    emulated = TryOnPipeline(pipeline.generators, config, precision="auto")
    assert emulated.precision.name == "fp32"
    person = pipeline.represent(*person_batch(1))
    torch.manual_seed(4)
    output = emulated(person, *garment_batch(1))
    torch.manual_seed(4)
    assert torch.equal(output.image, pipeline(person, *garment_batch(1)).image)
    monkeypatch.setattr(precision, "cpu_bf16_native", lambda: True)
    assert TryOnPipeline(pipeline.generators, config, precision="auto").precision.name == "bf16"


def test_people_batch_by_expanding_one_person_and_concatenating_several(pipeline):
    image, labels, keypoints = person_batch(2)
    first = pipeline.represent(image[:1], labels[:1], keypoints[:1])
    second = pipeline.represent(image[1:], labels[1:], keypoints[1:])
    repeated = PersonRepresentation.batch([first] * 4)
    assert repeated.image.shape[0] == 4 and repeated.image.data_ptr() == first.image.data_ptr()
    assert repeated.pose_maps.stride(0) == 0  # a view: no copy per garment
    mixed = PersonRepresentation.batch([first, second, first])
    together = pipeline.represent(image, labels, keypoints)
    for name, value in vars(mixed).items():
        expected = torch.cat([vars(together)[name], vars(together)[name][:1]])
        assert torch.allclose(value, expected.to(value.dtype)), name
