"""The gateway in front of TorchServe, against a stand-in upstream on 127.0.0.1: storefront keys
from a file that changes under it, the pod's key forwarded instead, refusals before forwarding, the
readiness endpoint, and an unreachable upstream."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from tryon.serve.gateway import (
    MIN_KEY_CHARS,
    GatewayError,
    GatewayServer,
    GatewaySettings,
    accepts,
    bearer_token,
    parse_client_keys,
)
from tryon.serve.local import free_port

STOREFRONT = "storefront-key-0123456789"
NEXT_STOREFRONT = "storefront-key-abcdefghij"
POD_KEY = "pod-inference-key"


class Upstream(BaseHTTPRequestHandler):
    """TorchServe's stand-in: answers /ping and /predictions/*, and records what reached it."""

    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[dict]] = []
    healthy = True
    hold: ClassVar[threading.Event | None] = None  # when set, a prediction waits for it

    def do_GET(self) -> None:
        self._record(b"")
        status = "Healthy" if Upstream.healthy else "Unhealthy"
        self._send(
            200 if Upstream.healthy else 500, "application/json", json.dumps({"status": status}).encode()
        )

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self._record(body)
        if Upstream.hold is not None:
            Upstream.hold.wait(timeout=10)
        self._send(200, "image/png", b"\x89PNG" + body[:8])

    def _record(self, body: bytes) -> None:
        Upstream.seen.append(
            {
                "path": self.path,
                "authorization": self.headers.get("Authorization"),
                "content_type": self.headers.get("Content-Type"),
                "body": body,
            }
        )

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def running(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return thread


@pytest.fixture()
def upstream():
    Upstream.seen, Upstream.healthy, Upstream.hold = [], True, None
    server = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    running(server)
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture()
def keys(tmp_path):
    client_keys = tmp_path / "keys"
    client_keys.write_text(f"# storefront keys\n{STOREFRONT}\n\n")
    key_file = tmp_path / "key_file.json"
    key_file.write_text(
        json.dumps({"inference": {"key": POD_KEY}, "management": {"key": "m"}, "API": {"key": "a"}})
    )
    return client_keys, key_file


def start_gateway(upstream: str, client_keys, key_file, **limits) -> tuple[GatewayServer, str]:
    settings = GatewaySettings(upstream=upstream, client_keys=client_keys, key_file=key_file, **limits)
    server = GatewayServer(("127.0.0.1", 0), settings)
    running(server)
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture()
def gateway(upstream, keys):
    server, url = start_gateway(upstream, *keys)
    yield url
    server.shutdown()
    server.server_close()


def call(
    url: str,
    *,
    key: str | None = None,
    body: bytes | None = None,
    method: str | None = None,
    headers: dict | None = None,
) -> tuple[int, dict, bytes]:
    headers = {"Content-Type": "application/json", **(headers or {})}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_a_storefront_request_reaches_torchserve_with_the_pods_key_not_the_storefronts(gateway):
    status, headers, body = call(
        f"{gateway}/predictions/tryon?x=1",
        key=STOREFRONT,
        body=b'{"avatar": "a"}',
        headers={"X-Request-Id": "req-7"},
    )
    assert (status, headers["Content-Type"], body) == (200, "image/png", b'\x89PNG{"avatar')
    assert headers["X-Request-Id"] == "req-7"
    (seen,) = Upstream.seen
    assert seen == {
        "path": "/predictions/tryon?x=1",
        "authorization": f"Bearer {POD_KEY}",
        "content_type": "application/json",
        "body": b'{"avatar": "a"}',
    }


@pytest.mark.parametrize("key", [None, "wrong-key-0123456789", POD_KEY])
def test_a_missing_or_unknown_key_is_refused_before_torchserve(gateway, key):
    status, headers, body = call(f"{gateway}/predictions/tryon", key=key, body=b"{}")
    assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
    assert json.loads(body)["status"] == 401 and "key" in json.loads(body)["error"]
    assert Upstream.seen == []


def test_keys_and_the_pods_key_are_read_again_when_their_files_change(gateway, keys):
    client_keys, key_file = keys
    client_keys.write_text(f"{NEXT_STOREFRONT}\n")  # the Secret after a rotation
    key_file.write_text(json.dumps({"inference": {"key": "restarted-pod-key"}}))  # TorchServe restarted
    assert call(f"{gateway}/predictions/tryon", key=STOREFRONT, body=b"{}")[0] == 401
    assert call(f"{gateway}/predictions/tryon", key=NEXT_STOREFRONT, body=b"{}")[0] == 200
    assert Upstream.seen[-1]["authorization"] == "Bearer restarted-pod-key"


def test_an_oversized_body_is_refused_unread_and_other_paths_are_not_forwarded(upstream, keys):
    server, url = start_gateway(upstream, *keys, max_body_bytes=1000)
    try:
        status, _, body = call(f"{url}/predictions/tryon", key=STOREFRONT, body=bytes(1001))
        assert status == 413 and "1001 bytes" in json.loads(body)["error"]
        assert call(f"{url}/predictions/tryon", key=STOREFRONT, body=bytes(1000))[0] == 200
        assert call(f"{url}/models", key=STOREFRONT)[0] == 404  # management routes never pass
        assert call(f"{url}/predictions/../models", key=STOREFRONT, body=b"{}")[0] == 404
        assert call(f"{url}/predictions/tryon", key=STOREFRONT, method="GET")[0] == 405
        assert call(f"{url}/ping", key=STOREFRONT)[0] == 200
    finally:
        server.shutdown()
        server.server_close()
    assert [seen["path"] for seen in Upstream.seen] == ["/predictions/tryon", "/ping"]


def test_healthz_needs_no_key_and_follows_torchserves_ping(gateway):
    assert call(f"{gateway}/healthz")[:1] == (200,)
    assert Upstream.seen[-1] == {
        "path": "/ping",
        "authorization": f"Bearer {POD_KEY}",
        "content_type": None,
        "body": b"",
    }
    Upstream.healthy = False
    status, _, body = call(f"{gateway}/healthz")
    assert status == 503 and "Unhealthy" in json.loads(body)["error"]


def test_an_unreachable_torchserve_or_a_missing_key_file_is_a_503_with_the_reason(keys, tmp_path):
    client_keys, key_file = keys
    server, url = start_gateway(f"http://127.0.0.1:{free_port()}", client_keys, key_file)
    try:
        status, _, body = call(f"{url}/predictions/tryon", key=STOREFRONT, body=b"{}")
        assert status == 503 and "not reachable" in json.loads(body)["error"]
        key_file.unlink()  # TorchServe not started yet
        status, _, body = call(f"{url}/healthz")
        assert status == 503 and "has not written its keys" in json.loads(body)["error"]
    finally:
        server.shutdown()
        server.server_close()


def test_the_keys_file_must_hold_real_keys():
    assert parse_client_keys(f"# comment\n\n  {STOREFRONT}  \n{NEXT_STOREFRONT}\n") == (
        STOREFRONT,
        NEXT_STOREFRONT,
    )
    for text in ("", "# only a comment\n", "short\n", f"{STOREFRONT} {STOREFRONT}\n"):
        with pytest.raises(GatewayError):
            parse_client_keys(text)
    assert len("x" * MIN_KEY_CHARS) == MIN_KEY_CHARS and parse_client_keys("x" * MIN_KEY_CHARS)


def test_a_gateway_does_not_start_without_usable_keys(upstream, tmp_path):
    (tmp_path / "keys").write_text("too-short\n")
    for client_keys in (tmp_path / "keys", tmp_path / "missing"):
        with pytest.raises(GatewayError):
            GatewayServer(("127.0.0.1", 0), GatewaySettings(upstream=upstream, client_keys=client_keys))


def test_bearer_tokens_are_parsed_and_compared_exactly():
    assert bearer_token(f"Bearer {STOREFRONT}") == STOREFRONT
    assert (
        bearer_token("Basic abc") is None and bearer_token(None) is None and bearer_token("Bearer ") is None
    )
    assert accepts((STOREFRONT, NEXT_STOREFRONT), NEXT_STOREFRONT)
    assert not accepts((STOREFRONT,), STOREFRONT[:-1]) and not accepts((STOREFRONT,), None)


def test_requests_over_the_in_flight_bound_wait_unread_and_then_get_503(upstream, keys):
    server, url = start_gateway(upstream, *keys, max_in_flight=1, timeout_s=0.3)
    try:
        assert server.slots.acquire(timeout=1)  # the one slot, taken by a request still in TorchServe
        status, _, body = call(f"{url}/predictions/tryon", key=STOREFRONT, body=b"{}")
        assert status == 503 and "busy" in json.loads(body)["error"]
        assert Upstream.seen == []
        server.slots.release()
        assert call(f"{url}/predictions/tryon", key=STOREFRONT, body=b"{}")[0] == 200
    finally:
        server.shutdown()
        server.server_close()


def test_a_stopping_gateway_finishes_the_requests_in_flight(upstream, keys):
    server, url = start_gateway(upstream, *keys)
    Upstream.hold = threading.Event()
    answers = []
    request = threading.Thread(
        target=lambda: answers.append(call(f"{url}/predictions/tryon", key=STOREFRONT, body=b"{}"))
    )
    request.start()
    while not Upstream.seen:  # the request is inside TorchServe
        time.sleep(0.01)
    server.shutdown()  # what SIGTERM does; no new connections from here
    closing = threading.Thread(target=server.server_close)  # waits for the request's thread
    closing.start()
    closing.join(timeout=0.3)
    assert closing.is_alive() and not answers
    Upstream.hold.set()
    closing.join(timeout=10)
    request.join(timeout=10)
    assert [status for status, _, _ in answers] == [200]
