"""A real TorchServe server with a tiny trained model: good and bad requests, batching settings,
token authorization, the gateway in front of it, probes, management and metrics APIs, refusal logs,
and a clean stop.

The server runs once for the module, bound to 127.0.0.1 on free ports, from its own folder, with
token authorization on as in production (the tests read the per-start keys from its key file).
"""

from __future__ import annotations

import base64
import io
import json
import signal
import struct
import subprocess
import sys
import urllib.error
import urllib.request
import zlib
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from tryon.cli import app
from tryon.client import TryOnClient, TryOnError
from tryon.config import load_params
from tryon.data.layout import DatasetLayout
from tryon.serve.local import LocalGateway, LocalServer, Registration, free_port, wait_until_healthy
from tryon.serve.requests import ServeLimits
from tryon.train import train

pytestmark = pytest.mark.slow

TINY_TRAINING = """
data:
  resolution: 64x48
model:
  base_width: 4
  max_width: 16
  depth: 3
  disc_width: 4
  tps_width: 2
  tps_levels: 3
  tps_hidden: 8
train:
  stages:
    sgm: {max_steps: 1}
    warp: {max_steps: 1}
    fusion: {max_steps: 1}
  batch_size: 2
  workers: 0
  checkpoint_interval: 100
  grid_interval: 100
"""
AVATARS = ("000001_0", "000002_0")
STOREFRONT_KEY = "storefront-key-for-the-tests"
REGISTRATION = Registration(batch_size=4, max_batch_delay_ms=100, workers=1)


def png_header_claiming(width: int, height: int) -> bytes:
    """A small PNG whose header claims `width` x `height` (its pixel data is a few zero bytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(1000))) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def archive(tmp_path_factory, tiny_dataset) -> Path:
    """Train a tiny model (one step per stage), add two avatars and export it, through the CLI."""
    folder = tmp_path_factory.mktemp("served_model")
    params = folder / "params.yaml"
    params.write_text(TINY_TRAINING)
    settings = load_params(params)
    checkpoint = train(stage="all", data_root=tiny_dataset, out_dir=folder / "models", model_config=settings.model,
                       config=settings.train, device="cpu", progress=False)
    runner = CliRunner()
    people = [argument for name in AVATARS for argument in ("--person", f"{name}.jpg")]
    added = runner.invoke(app, ["avatars", "add", "--avatars", str(folder / "avatars.pt"), "--data", str(tiny_dataset),
                                "--checkpoint", str(checkpoint), *people])
    assert added.exit_code == 0, added.output
    exported = runner.invoke(app, ["export", "--checkpoint", str(checkpoint), "--avatars", str(folder / "avatars.pt"),
                                   "--out", str(folder / "tryon.mar")])
    assert exported.exit_code == 0, exported.output
    return folder / "tryon.mar"


@pytest.fixture(scope="module")
def server(archive, tmp_path_factory):
    local = LocalServer(archive=archive, workdir=tmp_path_factory.mktemp("torchserve"), registration=REGISTRATION,
                        token_auth=True, startup_timeout_s=180)
    local.start()
    yield local
    local.stop()


@pytest.fixture(scope="module")
def client(server) -> TryOnClient:
    return TryOnClient(server.endpoints.inference, model="tryon", token=server.token("inference"), timeout_s=120)


@pytest.fixture(scope="module")
def garment(tiny_dataset) -> bytes:
    return DatasetLayout(tiny_dataset, "test").garment("000003_1.jpg").read_bytes()


def decoded(png: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    return np.asarray(image)


def test_a_good_request_returns_a_png_at_the_models_resolution(client, garment):
    plain = decoded(client.try_on(avatar=AVATARS[0], garment=garment))
    assert plain.shape == (64, 48, 3)
    red = decoded(client.try_on(avatar=AVATARS[0], garment=garment, color="#d01010"))
    assert red.shape == (64, 48, 3) and not np.array_equal(plain, red)
    assert decoded(client.try_on_form(avatar=AVATARS[1], garment=garment)).shape == (64, 48, 3)
    raw = client.post(garment, content_type="image/jpeg", path=f"/invocations?model_name=tryon&avatar={AVATARS[1]}")
    assert decoded(raw).shape == (64, 48, 3)


def test_concurrent_requests_for_several_avatars_all_succeed(client, garment):
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda i: client.try_on(avatar=AVATARS[i % 2], garment=garment), range(6)))
    assert all(decoded(answer).shape == (64, 48, 3) for answer in answers)


def bad_requests(garment: bytes) -> dict[str, tuple[int, bytes, str, str]]:
    """name -> (expected status, body, content type, words the message must hold)."""
    good = base64.b64encode(garment).decode()

    def document(**fields) -> bytes:
        return json.dumps(fields).encode()

    return {
        "invalid base64": (400, document(avatar=AVATARS[0], garment="not*base64!"), "application/json", "base64"),
        "not an image": (400, document(avatar=AVATARS[0], garment=base64.b64encode(b"hello" * 50).decode()),
                         "application/json", "not an image"),
        "truncated image": (400, document(avatar=AVATARS[0], garment=base64.b64encode(garment[: len(garment) // 2]).decode()),
                            "application/json", "truncated"),
        "image over the pixel limit": (413, document(avatar=AVATARS[0], garment=base64.b64encode(png_header_claiming(20000, 20000)).decode()),
                                       "application/json", "max_image_pixels"),
        "body over the size limit": (413, b"x" * (ServeLimits().max_body_bytes + 1), "application/json", "over the limit"),
        "unknown avatar": (404, document(avatar="nobody", garment=good), "application/json", "unknown avatar 'nobody'"),
        "malformed colour": (400, document(avatar=AVATARS[0], garment=good, color="red"), "application/json", "malformed colour"),
        "missing field": (400, document(garment=good), "application/json", "missing field 'avatar'"),
        "malformed JSON": (400, b'{"avatar": ', "application/json", "not valid JSON"),
        "raw body without avatar": (400, garment, "image/jpeg", "missing field 'avatar'"),
    }


def worker_pids(server) -> list[int]:
    with server.open("GET", f"{server.endpoints.management}/models/tryon", api="management") as answer:
        return [worker["pid"] for worker in json.loads(answer.read())[0]["workers"]]


def test_every_bad_input_gets_its_4xx_with_a_message_and_the_next_good_request_succeeds(server, client, garment):
    workers = worker_pids(server)
    for name, (status, body, content_type, words) in bad_requests(garment).items():
        with pytest.raises(TryOnError) as refused:
            client.post(body, content_type=content_type)
        assert refused.value.status == status, (name, refused.value)
        assert words in refused.value.message, (name, refused.value.message)
        assert decoded(client.try_on(avatar=AVATARS[0], garment=garment)).shape == (64, 48, 3), name
    assert worker_pids(server) == workers  # the same worker process answered them all


def test_each_refusal_is_logged_once_with_its_reason_and_never_with_the_image(server, garment):
    log = (server.workdir / "logs" / "model_log.log").read_text()
    refusals = [line for line in log.splitlines() if "refused request" in line]
    assert len(refusals) == len(bad_requests(garment))
    assert sum("unknown avatar 'nobody'" in line for line in refusals) == 1
    assert base64.b64encode(garment).decode()[:40] not in log


def test_token_authorization_is_on_with_keys_that_last_as_long_as_the_server(server, client):
    with pytest.raises(urllib.error.HTTPError) as anonymous:
        urllib.request.urlopen(f"{server.endpoints.inference}/ping", timeout=10)
    assert anonymous.value.code in (400, 401)
    assert client.ping()
    # TorchServe's default expiry (60 min) would fail every /ping, and so the readiness probe, after an hour.
    expiry = json.loads((server.workdir / "key_file.json").read_text())["inference"]["expiration time"]
    assert datetime.fromisoformat(expiry[:19]).replace(tzinfo=UTC) > datetime.now(UTC) + timedelta(days=365)
    with urllib.request.urlopen(f"{server.endpoints.metrics}/metrics", timeout=10) as liveness:
        assert liveness.status == 200  # the liveness probe's endpoint needs no key


def test_the_management_api_lists_the_model_with_its_batching(server):
    with server.open("GET", f"{server.endpoints.management}/models", api="management") as answer:
        assert [model["modelName"] for model in json.loads(answer.read())["models"]] == ["tryon"]
    with server.open("GET", f"{server.endpoints.management}/models/tryon", api="management") as answer:
        described = json.loads(answer.read())[0]
    assert described["batchSize"] == REGISTRATION.batch_size
    assert described["maxBatchDelay"] == REGISTRATION.max_batch_delay_ms
    assert described["workers"][0]["status"] == "READY"
    config = (server.workdir / "config.properties").read_text()
    assert "management_address=http://127.0.0.1:" in config and "allowed_urls=file://" in config


def test_the_metrics_endpoint_reports_the_requests_and_the_try_on_latency(server):
    with urllib.request.urlopen(f"{server.endpoints.metrics}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    totals = [line for line in text.splitlines() if line.startswith("ts_inference_requests_total") and 'model_name="tryon"' in line]
    assert totals and float(totals[0].rsplit(" ", 1)[1]) >= 10
    latency = [line for line in text.splitlines() if line.startswith("TryOnLatency{")]
    assert latency and float(latency[0].rsplit(" ", 1)[1]) > 0
    assert any(line.startswith("Requests4XX{") for line in text.splitlines())


def test_the_load_script_measures_latency_and_errors_against_the_server(server, client, garment, tmp_path):
    sys.path.append(str(Path(__file__).resolve().parents[2] / "bench"))
    import serve as bench_serve

    result = bench_serve.run_load(lambda: client.try_on(avatar=AVATARS[0], garment=garment), requests=6, concurrency=3)
    assert (result.requests, result.errors, len(result.latencies)) == (6, 0, 6)
    assert result.throughput > 0 and result.percentile(0.5) <= result.percentile(0.95) <= result.percentile(0.99)
    failing = bench_serve.run_load(lambda: client.try_on(avatar="nobody", garment=garment), requests=2, concurrency=2)
    assert (failing.errors, failing.latencies) == (2, ())
    line = bench_serve.row(result, entry="gateway")
    assert line.startswith("| gateway | 3 | 6 | 0 | ") and line.count("|") == bench_serve.HEADER.splitlines()[0].count("|")

    archive, photo, avatars = bench_serve.build_model(tmp_path, size="64x48", preset="default", avatars=2)
    assert archive.is_file() and len(avatars) == 2 and photo[:2] == b"\xff\xd8"
    assert bench_serve.catalog_seconds_per_tryon(tmp_path, garment=photo, garments=2, batch_size=2) > 0


@pytest.fixture(scope="module")
def gateway(server, tmp_path_factory):
    """The gateway in front of the server, as in the pod."""
    folder = tmp_path_factory.mktemp("gateway")
    (folder / "keys").write_text(f"{STOREFRONT_KEY}\n")
    local = LocalGateway(server=server, client_keys=folder / "keys", log=folder / "gateway.log")
    local.start()
    yield local
    local.stop()


def test_storefronts_call_through_the_gateway_with_their_key_across_a_new_server_key(server, gateway, garment):
    # Last before the stop: it replaces the server's inference key, which the `client` fixture holds.
    url = gateway.url
    with urllib.request.urlopen(f"{url}/healthz", timeout=10) as ready:  # the readiness probe, without a key
        assert json.loads(ready.read()) == {"status": "Healthy"}
    storefront = TryOnClient(url, model="tryon", token=STOREFRONT_KEY, timeout_s=120)
    assert decoded(storefront.try_on(avatar=AVATARS[0], garment=garment)).shape == (64, 48, 3)
    for key in (None, server.token("inference")):  # the server's own key is not a storefront key
        with pytest.raises(TryOnError) as refused:
            TryOnClient(url, model="tryon", token=key).try_on(avatar=AVATARS[0], garment=garment)
        assert refused.value.status == 401
    with pytest.raises(TryOnError) as unknown:  # TorchServe's own refusals come back as they are
        storefront.try_on(avatar="nobody", garment=garment)
    assert unknown.value.status == 404
    old_key = server.token("inference")
    api_key = json.loads((server.workdir / "key_file.json").read_text())["API"]["key"]
    request = urllib.request.Request(f"{server.endpoints.management}/token?type=inference",
                                     headers={"Authorization": f"Bearer {api_key}"})
    with urllib.request.urlopen(request, timeout=10):
        pass  # TorchServe makes a new inference key and rewrites its key file
    assert server.token("inference") != old_key
    assert decoded(storefront.try_on(avatar=AVATARS[1], garment=garment)).shape == (64, 48, 3)
    assert gateway.stop() == 0  # SIGTERM, as Kubernetes stops a pod: a clean exit
    log = gateway.log.read_text()
    assert " POST /predictions/tryon -> 200 " in log and " POST /predictions/tryon -> 401 " in log
    assert base64.b64encode(garment).decode()[:40] not in log and STOREFRONT_KEY not in log


def test_tryon_serve_with_storefront_keys_answers_through_the_gateway_until_ctrl_c(archive, garment, tmp_path):
    keys = tmp_path / "keys"
    keys.write_text(f"{STOREFRONT_KEY}\n")
    port = free_port()
    command = [sys.executable, "-m", "tryon.cli", "serve", "--archive", str(archive), "--workdir", str(tmp_path / "serve"),
               "--port", str(port), "--storefront-keys", str(keys)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        assert wait_until_healthy(url, process=process, timeout_s=180)
        storefront = TryOnClient(url, model="tryon", token=STOREFRONT_KEY, timeout_s=120)
        assert decoded(storefront.try_on(avatar=AVATARS[0], garment=garment)).shape == (64, 48, 3)
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C
        output = process.communicate(timeout=120)[0]
    assert process.returncode == 0, output
    assert f"storefronts call {url}/predictions/tryon" in output and "serve: stopping" in output
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{url}/healthz", timeout=5)


def test_the_server_stops_cleanly(server):
    assert server.stop() == 0
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{server.endpoints.metrics}/metrics", timeout=5)
