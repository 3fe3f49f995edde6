"""The try-on service (batches of requests, one answer each), its TorchServe adapter with a mock
context, and the model archive export with its refusals."""

from __future__ import annotations

import ast
import base64
import io
import json
import logging
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers import TINY, tiny_model_config
from tryon.checkpoint import EMA_STATE, RAW_STATE, UnfinishedCheckpointError, load_checkpoint, save_checkpoint
from tryon.config import Resolution
from tryon.data.dataset import image_to_tensor, tensor_to_image
from tryon.data.layout import DatasetLayout
from tryon.nets import TryOnGenerators
from tryon.pipeline import TryOnPipeline
from tryon.serve import service as service_module
from tryon.serve import torchserve
from tryon.serve.avatars import AvatarTable, build_avatars
from tryon.serve.export import ExportError, export_archive
from tryon.serve.requests import prepare_garment_photo
from tryon.serve.service import IncomingRequest, TryOnService

CONFIG = tiny_model_config()


@pytest.fixture(scope="module")
def finished_checkpoint(tmp_path_factory) -> Path:
    """A finished fusion-stage checkpoint of random generators whose EMA differs from the raw weights."""
    torch.manual_seed(0)
    raw = TryOnGenerators.from_config(CONFIG).state_dict()
    ema = {name: value + 0.01 if value.is_floating_point() else value for name, value in raw.items()}
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "checkpoint.pt", model_config=CONFIG,
                           state={RAW_STATE: raw, EMA_STATE: ema, "stage": "fusion", "finished": True, "step": 3})


@pytest.fixture(scope="module")
def avatars(tiny_dataset, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("avatars") / "avatars.pt"
    build_avatars(data_root=tiny_dataset, out=path, config=CONFIG, persons=["000001_0.jpg", "000002_0.jpg"])
    return path


@pytest.fixture(scope="module")
def service(finished_checkpoint, avatars) -> TryOnService:
    pipeline = TryOnPipeline.from_checkpoint(finished_checkpoint, precision="fp32")
    return TryOnService(pipeline, AvatarTable.load(avatars))


@pytest.fixture(scope="module")
def garment(tiny_dataset) -> bytes:
    return DatasetLayout(tiny_dataset, "test").garment("000003_1.jpg").read_bytes()


def as_json(**fields) -> IncomingRequest:
    return IncomingRequest(body=json.dumps(fields).encode(), content_type="application/json", request_id="r")


def test_a_request_is_the_pipeline_on_the_stored_avatar_and_the_prepared_garment(service, garment):
    torch.manual_seed(5)
    batch = service.handle([as_json(avatar="000002_0", garment=base64.b64encode(garment).decode())])
    assert [answer.status for answer in batch.answers] == [200] and batch.tryons == 1 and batch.tryon_seconds > 0
    answer = np.asarray(Image.open(io.BytesIO(batch.answers[0].body)))

    prepared = prepare_garment_photo(garment, resolution=TINY)
    torch.manual_seed(5)
    expected = service.pipeline(service.avatars.person("000002_0"), image_to_tensor(prepared.image)[None],
                                torch.from_numpy(prepared.mask).float()[None, None]).image[0]
    np.testing.assert_array_equal(answer, tensor_to_image(expected))


def test_bad_requests_get_their_answer_and_the_good_ones_in_the_batch_go_on(service, garment, caplog):
    good = base64.b64encode(garment).decode()
    requests = [
        as_json(avatar="000001_0", garment=good),
        as_json(avatar="nobody", garment=good),
        IncomingRequest(body=garment, content_type="image/jpeg", fields={"avatar": "000002_0", "color": "#20a040"}),
        as_json(avatar="000001_0", garment="###"),
        IncomingRequest(body=garment[:300], content_type="image/jpeg", fields={"avatar": "000001_0"}),
        as_json(avatar="000001_0", garment=good, color="#12345"),
    ]
    with caplog.at_level(logging.WARNING, logger="tryon.serve.service"):
        batch = service.handle(requests)
    assert [answer.status for answer in batch.answers] == [200, 404, 200, 400, 400, 400]
    assert batch.tryons == 2
    for answer in batch.answers:
        if answer.status == 200:
            assert answer.content_type == "image/png"
            assert np.asarray(Image.open(io.BytesIO(answer.body))).shape == (64, 48, 3)
        else:
            assert answer.content_type == "application/json"
            assert json.loads(answer.body) == {"status": answer.status, "error": answer.reason}
    refusals = [record.getMessage() for record in caplog.records]
    assert len(refusals) == 4 and "unknown avatar 'nobody'" in refusals[0]
    assert not any(good[:32] in message for message in refusals)


def test_many_garments_on_one_avatar_run_as_one_batch_on_the_avatars_own_tensors(service, garment, monkeypatch):
    prepared = [prepare_garment_photo(garment, resolution=TINY)] * 3
    person = service.avatars.person("000001_0")
    calls = []
    original = TryOnPipeline.__call__

    def spy(pipeline, people, garments, masks):
        calls.append((people.image.shape[0], people.image.data_ptr(), garments.shape[0]))
        return original(pipeline, people, garments, masks)

    monkeypatch.setattr(TryOnPipeline, "__call__", spy)
    images = service.try_on([person] * 3, prepared)
    assert calls == [(3, person.image.data_ptr(), 3)]  # one pass; the representation expanded, not copied
    assert len(images) == 3 and all(image.shape == (64, 48, 3) for image in images)
    calls.clear()
    service.try_on([person, service.avatars.person("000002_0")], prepared[:2])
    assert [call[0] for call in calls] == [2]


class MockContext:
    """What TorchServe hands a handler: system properties, per-request headers, status and metrics."""

    def __init__(self, model_dir: Path, headers: list[dict[str, str]]) -> None:
        self.system_properties = {"model_dir": str(model_dir), "gpu_id": None}
        self.headers = headers
        self.status: dict[int, tuple[int, str]] = {}
        self.content_types: dict[int, str] = {}
        self.metrics = self
        self.times: list[tuple[str, float]] = []

    def get_all_request_header(self, index: int) -> dict[str, str]:
        return self.headers[index]

    def get_request_id(self, index: int) -> str:
        return f"id-{index}"

    def set_response_status(self, code: int, phrase: str = "", idx: int = 0) -> None:
        self.status[idx] = (code, phrase)

    def set_response_content_type(self, index: int, value: str) -> None:
        self.content_types[index] = value

    def add_time(self, name: str, value: float, idx=None, unit: str = "ms") -> None:
        self.times.append((name, value))


def test_the_torchserve_handler_only_adapts_the_service(finished_checkpoint, avatars, garment, tmp_path, monkeypatch):
    archive = export_archive(checkpoint=finished_checkpoint, avatars=avatars, out=tmp_path / "tryon.mar")
    with zipfile.ZipFile(archive) as packed:
        packed.extractall(tmp_path / "model")
    monkeypatch.setattr(torchserve, "_service", None)
    monkeypatch.delenv("TS_DECODE_INPUT_REQUEST", raising=False)
    rows = [
        {"body": json.dumps({"avatar": "000001_0", "garment": base64.b64encode(garment).decode()}).encode()},
        {"body": garment, "avatar": b"000002_0", "model_name": "tryon"},
        {"avatar": "000002_0", "color": "#zzzzzz", "garment": garment},
    ]
    headers = [{"Content-Type": "application/json"}, {"content-type": "image/jpeg"},
               {"Content-Type": "multipart/form-data; boundary=b"}]
    context = MockContext(tmp_path / "model", headers)
    assert torchserve.handle(None, context) is None
    assert torchserve._service is not None and torchserve._service.pipeline.device.type == "cpu"
    assert os.environ["TS_DECODE_INPUT_REQUEST"] == "false"
    bodies = torchserve.handle(rows, context)
    assert context.status == {0: (200, "OK"), 1: (200, "OK"), 2: (400, "Bad Request")}
    assert context.content_types == {0: "image/png", 1: "image/png", 2: "application/json"}
    assert "malformed colour" in json.loads(bodies[2])["error"]
    assert [name for name, _ in context.times] == ["TryOnLatency"] and context.times[0][1] > 0


def test_the_archive_holds_the_ema_weights_config_avatars_and_a_one_line_handler(finished_checkpoint, avatars, tmp_path):
    archive = export_archive(checkpoint=finished_checkpoint, avatars=avatars, out=tmp_path / "models" / "tryon.mar")
    with zipfile.ZipFile(archive) as packed:
        names = sorted(packed.namelist())
        packed.extractall(tmp_path / "model")
        manifest = json.loads(packed.read("MAR-INF/MANIFEST.json"))
        handler = packed.read("handler.py").decode()
    assert names == ["MAR-INF/MANIFEST.json", "avatars.pt", "handler.py", "serving.json", "tryon.pt"]
    assert manifest["model"]["modelName"] == "tryon" and manifest["model"]["handler"] == "handler.py"
    statements = ast.parse(handler).body
    imports = [ast.unparse(node) for node in statements if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert imports == ["from tryon.serve.torchserve import handle"]
    assert not [node for node in statements if isinstance(node, (ast.FunctionDef, ast.ClassDef))]
    packed_weights = load_checkpoint(tmp_path / "model" / "tryon.pt")
    original = load_checkpoint(finished_checkpoint)
    assert set(packed_weights.state) == {EMA_STATE, "stage", "finished"} and packed_weights.model_config == CONFIG
    for name, value in original.state[EMA_STATE].items():
        assert torch.equal(packed_weights.state[EMA_STATE][name], value), name
    assert AvatarTable.load(tmp_path / "model" / "avatars.pt").ids == ("000001_0", "000002_0")
    assert not list(tmp_path.joinpath("models").glob(".*")), "no staging files are left beside the archive"


def test_export_refuses_what_cannot_be_served(finished_checkpoint, avatars, tmp_path):
    finished = load_checkpoint(finished_checkpoint)

    def variant(name: str, **changes) -> Path:
        state = {key: value for key, value in {**finished.state, **changes}.items() if value is not None}
        return save_checkpoint(tmp_path / name, model_config=CONFIG, state=state)

    out = tmp_path / "tryon.mar"
    with pytest.raises(UnfinishedCheckpointError, match="from stage warp, not fusion"):
        export_archive(checkpoint=variant("warp.pt", stage="warp"), avatars=avatars, out=out)
    with pytest.raises(UnfinishedCheckpointError, match="stopped at step 3 before it finished"):
        export_archive(checkpoint=variant("stopped.pt", finished=False), avatars=avatars, out=out)
    with pytest.raises(ExportError, match="no EMA weights"):
        export_archive(checkpoint=variant("raw.pt", **{EMA_STATE: None}), avatars=avatars, out=out)
    other = AvatarTable.empty(tiny_model_config(Resolution(128, 96)))
    with pytest.raises(ExportError, match="built at 128x96"):
        export_archive(checkpoint=finished_checkpoint, avatars=other.save(tmp_path / "o.pt"), out=out)
    with pytest.raises(ExportError, match="is empty"):
        export_archive(checkpoint=finished_checkpoint, avatars=AvatarTable.empty(CONFIG).save(tmp_path / "e.pt"), out=out)
    with pytest.raises(ExportError, match="NAME.mar"):
        export_archive(checkpoint=finished_checkpoint, avatars=avatars, out=tmp_path / "tryon.zip")
    assert not out.exists()


def test_an_unexpected_failure_on_one_request_answers_it_500_and_the_batch_goes_on(service, garment, monkeypatch, caplog):
    original = service_module.recolour

    def broken(image, mask, colour):
        if colour == (1, 2, 3):
            raise RuntimeError("a defect")
        return original(image, mask, colour)

    monkeypatch.setattr(service_module, "recolour", broken)
    good = base64.b64encode(garment).decode()
    with caplog.at_level(logging.ERROR, logger="tryon.serve.service"):
        batch = service.handle([as_json(avatar="000001_0", garment=good, color="#010203"),
                                as_json(avatar="000001_0", garment=good, color="#102030")])
    assert [answer.status for answer in batch.answers] == [500, 200]
    assert "failed request r" in caplog.text and "a defect" in caplog.text
