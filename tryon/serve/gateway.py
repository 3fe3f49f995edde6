"""The API gateway in front of TorchServe: one set of storefront keys for every replica.

TorchServe's token authorization makes new random keys at every start, one set per process, so a
Service that balances over several replicas cannot give storefronts one key. The gateway runs beside
TorchServe in each pod (a second container of the same image) and is the pod's only inference
entry. It accepts the storefront keys of a file mounted from a Kubernetes Secret (several at once, so
that a key can be replaced without downtime; the file is read again whenever it changes), and it
forwards the try-on API to TorchServe on 127.0.0.1 with the pod's own inference key, read from
TorchServe's key file (read again whenever TorchServe rewrites it).

Routes:
- `POST`/`PUT /predictions/{model}[/{version}]`, `POST /invocations`, `GET /ping`: with a storefront
  key (`Authorization: Bearer KEY`), forwarded as they are;
- `GET /healthz`, without a key: TorchServe's `/ping` with the pod's key, for the readiness probe.

A body over `ServeLimits.max_body_bytes` is refused before it is read, and at most `max_in_flight`
requests are forwarded at once (the next wait, their bodies unread, then get 503). Every refusal is
JSON, `{"status": CODE, "error": MESSAGE}`, as the handler's own; every request is logged once, with
its request id, never with its body or key. SIGTERM stops it after the requests in flight.

    python -m tryon.serve.gateway --listen 0.0.0.0:8080 --upstream http://127.0.0.1:8085 \\
        --key-file /var/run/torchserve/key_file.json --client-keys /etc/tryon/keys/keys
"""

from __future__ import annotations

import argparse
import hmac
import http.client
import json
import logging
import os
import re
import signal
import sys
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Generic, NoReturn, TypeVar

from tryon.serve.requests import RequestError, ServeLimits, error_body

logger = logging.getLogger(__name__)

MIN_KEY_CHARS = 16  # a storefront key shorter than this is refused when the file is read
DRAIN_BYTES = 16 * 2**20  # a refused request's body up to this size is read and dropped, so that the
# client, which sends its whole body before it reads the answer, gets the refusal and not a reset
BEARER = re.compile(r"Bearer\s+(\S+)\s*")
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
HEALTHY = "Healthy"
ROUTES = (  # (path pattern, methods) of the API the gateway forwards
    (re.compile(r"/predictions/[^/]+(/[^/]+)?"), ("POST", "PUT")),
    (re.compile(r"/invocations"), ("POST",)),
    (re.compile(r"/ping"), ("GET",)),
)
HEALTH_PATH = "/healthz"

T = TypeVar("T")


class GatewayError(RuntimeError):
    """The gateway cannot serve: no usable storefront key, or an unreadable key file."""


def parse_client_keys(text: str) -> tuple[str, ...]:
    """The storefront keys of a keys file: one per line; blank lines and `#` comments are skipped.

    Raises GatewayError when there is none or one is shorter than MIN_KEY_CHARS or holds a space."""
    keys = tuple(
        line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    )
    if not keys:
        raise GatewayError("the storefront keys file holds no key")
    for number, key in enumerate(keys, start=1):
        if len(key) < MIN_KEY_CHARS or any(character.isspace() for character in key):
            raise GatewayError(
                f"storefront key {number} is not a key: at least {MIN_KEY_CHARS} characters without spaces "
                "(make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
    return keys


def parse_inference_key(text: str) -> str:
    """The inference key of TorchServe's key_file.json."""
    try:
        return json.loads(text)["inference"]["key"]
    except (ValueError, KeyError, TypeError) as error:
        raise GatewayError(f"TorchServe's key file has no inference key ({error})") from None


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer TOKEN` header; None without one."""
    match = BEARER.fullmatch(header or "")
    return match.group(1) if match else None


def accepts(keys: tuple[str, ...], token: str | None) -> bool:
    """Whether `token` is one of `keys`. Every key is compared, in constant time, whatever matches."""
    if token is None:
        return False
    found = False
    for key in keys:
        found |= hmac.compare_digest(key.encode(), token.encode())
    return found


def allowed_methods(path: str) -> tuple[str, ...] | None:
    """The methods the gateway forwards for `path` (without its query); None for any other path,
    and for one with a `.` or `..` segment."""
    if any(segment in (".", "..") for segment in path.split("/")):
        return None
    for pattern, methods in ROUTES:
        if pattern.fullmatch(path):
            return methods
    return None


class WatchedFile(Generic[T]):
    """A small file's parsed contents, parsed again whenever the file changes.

    A Secret's mounted file is replaced by a new one when the Secret changes, and TorchServe
    rewrites its key file at start; the file's inode, size and modification time tell.
    """

    def __init__(self, path: Path, parse: Callable[[str], T], *, missing: str) -> None:
        self.path = Path(path)
        self.parse = parse
        self.missing = missing  # the GatewayError's message when the file does not exist
        self._lock = threading.Lock()
        self._signature: tuple[int, int, int] | None = None
        self._value: T | None = None

    def value(self) -> T:
        """The parsed contents; GatewayError when the file is missing or does not parse."""
        try:
            status = os.stat(self.path)
        except FileNotFoundError:
            raise GatewayError(f"{self.missing}: no {self.path}") from None
        signature = (status.st_ino, status.st_size, status.st_mtime_ns)
        with self._lock:
            if signature != self._signature:
                self._value = self.parse(self.path.read_text())
                self._signature = signature
            return self._value


@dataclass(frozen=True)
class GatewaySettings:
    """Where the gateway forwards to and which keys it reads."""

    upstream: str  # TorchServe's inference address, e.g. http://127.0.0.1:8085
    client_keys: Path  # the storefront keys, one per line (a Secret's file)
    key_file: Path | None = None  # TorchServe's key_file.json; None when its token authorization is off
    max_body_bytes: int = ServeLimits().max_body_bytes
    timeout_s: float = 150.0  # above the registration's 120 s response timeout
    max_in_flight: int = 16  # requests forwarded at once; the next wait, unread, for a free slot,
    # which bounds the memory their bodies take (16 x 8 MiB)


class GatewayServer(ThreadingHTTPServer):
    """The HTTP server: one thread per connection; stopping waits for the requests in flight."""

    daemon_threads = False
    block_on_close = True

    def __init__(self, address: tuple[str, int], settings: GatewaySettings) -> None:
        upstream = urllib.parse.urlsplit(settings.upstream)
        if upstream.scheme != "http" or not upstream.hostname or not upstream.port:
            raise GatewayError(f"upstream must be http://HOST:PORT, not {settings.upstream!r}")
        self.settings = settings
        self.upstream = (upstream.hostname, upstream.port)
        self.client_keys = WatchedFile(settings.client_keys, parse_client_keys, missing="no storefront keys")
        self.client_keys.value()  # a missing or bad keys file stops the start, with its reason
        self.slots = threading.BoundedSemaphore(settings.max_in_flight)
        self.pod_key = (
            WatchedFile(settings.key_file, parse_inference_key, missing="TorchServe has not written its keys")
            if settings.key_file is not None
            else None
        )
        super().__init__(address, GatewayHandler)


class GatewayHandler(BaseHTTPRequestHandler):
    """Authenticates, checks the size, forwards, and answers; one log line per request."""

    protocol_version = "HTTP/1.1"  # keep-alive for storefronts that send many requests
    timeout = 60  # seconds a connection may stay silent: idle keep-alives do not hold a stop
    server: GatewayServer

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def log_message(self, format: str, *args: object) -> None:
        logger.debug(format, *args)  # the one line per request is `_serve`'s

    def _serve(self, method: str) -> None:
        started = time.perf_counter()
        request_id = self.headers.get("X-Request-Id", "")
        if not REQUEST_ID.fullmatch(request_id):
            request_id = uuid.uuid4().hex
        target = urllib.parse.urlsplit(self.path)
        path = target.path
        try:
            status, content_type, body = self._answer(method, target, request_id)
        except (RequestError, GatewayError) as error:
            refusal = error if isinstance(error, RequestError) else RequestError(503, str(error))
            status, content_type, body = refusal.status, "application/json", error_body(refusal)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Request-Id", request_id)
        if status == 401:
            self.send_header("WWW-Authenticate", 'Bearer realm="tryon"')
        self.end_headers()
        self.wfile.write(body)
        logger.info(
            "%s %s %s -> %d in %.0f ms",
            request_id,
            method,
            path,
            status,
            (time.perf_counter() - started) * 1e3,
        )

    def _answer(
        self, method: str, target: urllib.parse.SplitResult, request_id: str
    ) -> tuple[int, str, bytes]:
        path = target.path
        if path == HEALTH_PATH and method == "GET":
            return self._health(request_id)
        methods = allowed_methods(path)
        if methods is None:
            self._refuse(404, f"no route {path}: the API is POST /predictions/{{model}}")
        if method not in methods:
            self._refuse(405, f"{path} takes {' or '.join(methods)}, not {method}")
        if not accepts(self.server.client_keys.value(), bearer_token(self.headers.get("Authorization"))):
            self._refuse(401, "missing or unknown key: send Authorization: Bearer <storefront key>")
        if not self.server.slots.acquire(timeout=self.server.settings.timeout_s):
            self._refuse(503, f"busy: {self.server.settings.max_in_flight} requests in flight; try again")
        try:
            headers = {"X-Request-Id": request_id}
            body = None
            if method != "GET":
                body = self._body()
                headers["Content-Type"] = self.headers.get("Content-Type", "application/octet-stream")
            # Only the path and the query go on, whatever form the request line had.
            forwarded = urllib.parse.urlunsplit(("", "", path, target.query, ""))
            return self._forward(method, forwarded, body, headers)
        finally:
            self.server.slots.release()

    def _declared_length(self) -> int | None:
        length = self.headers.get("Content-Length")
        return int(length) if length is not None and length.isdigit() else None

    def _refuse(self, status: int, message: str) -> NoReturn:
        """Answer `status` without forwarding: drop a body small enough to read, else close."""
        length = self._declared_length()
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        if length is not None and length <= DRAIN_BYTES and not chunked:
            while length > 0:
                chunk = self.rfile.read(min(length, 2**16))
                if not chunk:
                    break
                length -= len(chunk)
        elif length is not None or chunked:
            self.close_connection = True
        raise RequestError(status, message)

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._refuse(411, "send the body with a Content-Length, not chunked")
        length = self.headers.get("Content-Length")
        if length is None:
            self._refuse(411, "a Content-Length is required")
        if not length.isdigit():
            self._refuse(400, f"Content-Length is not a number: {length[:40]!r}")
        limit = self.server.settings.max_body_bytes
        if int(length) > limit:
            self._refuse(413, f"the body is {int(length)} bytes; at most {limit} are accepted")
        return self.rfile.read(int(length))

    def _forward(
        self, method: str, target: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, str, bytes]:
        if self.server.pod_key is not None:
            headers["Authorization"] = f"Bearer {self.server.pod_key.value()}"
        connection = http.client.HTTPConnection(*self.server.upstream, timeout=self.server.settings.timeout_s)
        try:
            connection.request(method, target, body=body, headers=headers)
            answer = connection.getresponse()
            return answer.status, answer.getheader("Content-Type", "application/octet-stream"), answer.read()
        except TimeoutError:
            raise RequestError(504, "the model server did not answer in time") from None
        except OSError as error:
            raise RequestError(
                503, f"the model server is not reachable ({error.__class__.__name__})"
            ) from None
        finally:
            connection.close()

    def _health(self, request_id: str) -> tuple[int, str, bytes]:
        status, _, body = self._forward("GET", "/ping", None, {"X-Request-Id": request_id})
        try:
            said = json.loads(body).get("status", "")
        except (ValueError, AttributeError):
            said = ""
        if status == 200 and said == HEALTHY:
            return 200, "application/json", json.dumps({"status": HEALTHY}).encode()
        detail = said or body[:200].decode(errors="replace")
        raise RequestError(503, f"the model server is not ready: HTTP {status}: {detail}")


def parse_listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, not {value!r}")
    return host, int(port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--listen", type=parse_listen, default=("0.0.0.0", 8080), help="HOST:PORT to serve on."
    )
    parser.add_argument("--upstream", default="http://127.0.0.1:8085", help="TorchServe's inference address.")
    parser.add_argument(
        "--key-file", type=Path, help="TorchServe's key_file.json (omit when its token auth is off)."
    )
    parser.add_argument("--client-keys", type=Path, required=True, help="Storefront keys, one per line.")
    parser.add_argument(
        "--timeout", type=float, default=GatewaySettings.timeout_s, help="Seconds to wait for TorchServe."
    )
    parser.add_argument(
        "--max-in-flight",
        type=int,
        default=GatewaySettings.max_in_flight,
        help="Requests forwarded at once; the next wait for a free slot.",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = GatewaySettings(
        upstream=args.upstream,
        client_keys=args.client_keys,
        key_file=args.key_file,
        timeout_s=args.timeout,
        max_in_flight=args.max_in_flight,
    )
    host, port = args.listen
    try:
        server = GatewayServer((host, port), settings)
    except (GatewayError, OSError) as error:
        print(f"gateway: {error}", file=sys.stderr)
        return 2

    def stop(*_: object) -> None:
        # `shutdown` waits for `serve_forever` to return, which runs in this (the main) thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    logger.info("gateway on %s:%d, forwarding to %s", host, server.server_address[1], settings.upstream)
    server.serve_forever()
    server.server_close()  # waits for the requests in flight
    logger.info("gateway stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
