"""A TorchServe server on this machine, for tests, `bench/serve.py` and trying the API by hand, and
the gateway in front of it as in a pod (`LocalGateway`).

`LocalServer` writes its own config.properties from the template `serving/config.properties` (all
addresses 127.0.0.1, free ports, `allowed_urls` only the model store, the model registered at start
with its batch size and delay), starts `torchserve` with a private temporary folder, waits until the
model's worker is ready and stops it with `torchserve --stop`. TorchServe keeps its pid file and its
workers' sockets in the temporary folder; a private one lets several servers run side by side.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from tryon.tools import installed_command

SERVING_DIR = Path(__file__).resolve().parents[2] / "serving"
"""The repository's serving/ folder: config.properties template and metrics.yaml."""
KEY_FILE = "key_file.json"
MAX_REQUEST_BYTES = 12 * 2**20  # above ServeLimits.max_body_bytes, so that our refusal answers first
POLL_S = 1.0


class ServerError(RuntimeError):
    """The local server did not start, did not become ready, or did not stop."""


@dataclass(frozen=True)
class Registration:
    """How the model is registered: TorchServe's batching and worker settings."""

    batch_size: int = 4  # requests the frontend gathers into one handler call
    max_batch_delay_ms: int = 50  # how long it waits for a batch to fill
    workers: int = 1  # worker processes, each with its own copy of the model
    response_timeout_s: int = 120

    def models_property(self, name: str, archive: str) -> str:
        """The `models=` value of config.properties."""
        settings = {
            "defaultVersion": True,
            "marName": archive,
            "minWorkers": self.workers,
            "maxWorkers": self.workers,
            "batchSize": self.batch_size,
            "maxBatchDelay": self.max_batch_delay_ms,
            "responseTimeout": self.response_timeout_s,
        }
        return json.dumps({name: {"1.0": settings}})


@dataclass(frozen=True)
class Endpoints:
    inference: str
    management: str
    metrics: str


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LocalServer:
    """Serve one model archive from a private working folder (`with LocalServer(...) as server:`)."""

    def __init__(
        self,
        *,
        archive: Path,
        workdir: Path,
        registration: Registration | None = None,
        token_auth: bool = True,
        startup_timeout_s: float = 120.0,
        serving_dir: Path = SERVING_DIR,
        port: int | None = None,  # inference port; management and metrics take the next two; None: free ports
    ) -> None:
        self.archive = Path(archive)
        self.model = self.archive.stem
        self.workdir = Path(workdir)
        self.registration = registration or Registration()
        self.token_auth = token_auth
        self.startup_timeout_s = startup_timeout_s
        self.serving_dir = Path(serving_dir)
        ports = [free_port() for _ in range(3)] if port is None else [port, port + 1, port + 2]
        self.endpoints = Endpoints(*(f"http://127.0.0.1:{port}" for port in ports))
        self.grpc_ports = (free_port(), free_port())  # TorchServe's gRPC APIs (inference, management), unused
        self.process: subprocess.Popen | None = None
        self.log = self.workdir / "torchserve.out"

    @property
    def model_store(self) -> Path:
        return self.workdir / "model-store"

    @property
    def tmp(self) -> Path:
        return self.workdir / "tmp"

    def write_config(self) -> Path:
        """config.properties from the template, for this server's ports and folders."""
        template = (self.serving_dir / "config.properties").read_text()
        ports = [int(url.rsplit(":", 1)[1]) for url in (self.endpoints.inference, self.endpoints.management, self.endpoints.metrics)]
        text = template.format(
            inference_port=ports[0],
            management_port=ports[1],
            metrics_port=ports[2],
            grpc_inference_port=self.grpc_ports[0],
            grpc_management_port=self.grpc_ports[1],
            model_store=self.model_store,
            allowed_urls=f"file://{re.escape(str(self.model_store))}/[^/]+\\.mar",
            disable_token_authorization=str(not self.token_auth).lower(),
            max_request_size=MAX_REQUEST_BYTES,
            max_response_size=MAX_REQUEST_BYTES,
            metrics_config=self.serving_dir / "metrics.yaml",
            workers=self.registration.workers,
            job_queue_size=1000,
        )
        text += f"load_models={self.archive.name}\nmodels={self.registration.models_property(self.model, self.archive.name)}\n"
        path = self.workdir / "config.properties"
        path.write_text(text)
        return path

    def environment(self) -> dict[str, str]:
        # TMPDIR holds torchserve's pid file, TEMP the JVM's temporary folder and the workers' sockets.
        return {**os.environ, "TMPDIR": str(self.tmp), "TEMP": str(self.tmp)}

    def start(self) -> LocalServer:
        """Start TorchServe and wait until the model answers; ServerError with the log's tail if not."""
        self.model_store.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.archive, self.model_store / self.archive.name)
        config = self.write_config()
        command = [
            _torchserve(), "--start", "--foreground", "--ncs",
            "--ts-config", str(config), "--model-store", str(self.model_store),
        ]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                command, cwd=self.workdir, env=self.environment(), stdout=log, stderr=subprocess.STDOUT
            )
        self.wait_ready()
        return self

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise ServerError(f"torchserve exited with {self.process.returncode}:\n{self.log_tail()}")
            if self.model_ready():
                return
            time.sleep(POLL_S)
        self.stop()
        raise ServerError(f"torchserve did not serve {self.model} within {self.startup_timeout_s:.0f} s:\n{self.log_tail()}")

    def model_ready(self) -> bool:
        """Whether the management API lists a READY worker for the model."""
        try:
            with self.open("GET", f"{self.endpoints.management}/models/{self.model}", api="management") as answer:
                described = json.loads(answer.read())
        except (OSError, ServerError, ValueError):
            return False
        workers = described[0].get("workers", []) if described else []
        return any(worker.get("status") == "READY" for worker in workers)

    def keys(self) -> dict[str, str]:
        """The per-start API keys (inference, management) when token auth is on; empty otherwise."""
        if not self.token_auth:
            return {}
        path = self.workdir / KEY_FILE
        if not path.is_file():
            raise ServerError(f"{path} not written yet")
        document = json.loads(path.read_text())
        return {api: document[api]["key"] for api in ("inference", "management")}

    def token(self, api: str = "inference") -> str | None:
        return self.keys().get(api)

    def open(self, method: str, url: str, *, api: str, data: bytes | None = None, headers: dict | None = None):
        """An HTTP request with the API's key when token auth is on; raises urllib's HTTPError on 4xx/5xx."""
        headers = dict(headers or {})
        token = self.token(api)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        return urllib.request.urlopen(request, timeout=30)

    def stop(self, timeout_s: float = 60.0) -> int:
        """`torchserve --stop`, then wait for the process; returns its exit status."""
        if self.process is None:
            return 0
        subprocess.run([_torchserve(), "--stop"], cwd=self.workdir, env=self.environment(),
                       capture_output=True, timeout=timeout_s, check=False)
        status = _wait_or_kill(self.process, timeout_s)
        self.process = None
        return status

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class LocalGateway:
    """The gateway (`python -m tryon.serve.gateway`) in front of a running `LocalServer`, as in a pod:
    on 127.0.0.1 (at `port`, or a free one), with the storefront keys of `client_keys` and the server's own key
    from its key file (`with LocalGateway(...) as gateway:`)."""

    def __init__(
        self,
        *,
        server: LocalServer,
        client_keys: Path,
        log: Path,
        port: int | None = None,  # None: a free port
        startup_timeout_s: float = 60.0,
    ) -> None:
        self.server = server
        self.client_keys = Path(client_keys)
        self.log = Path(log)
        self.startup_timeout_s = startup_timeout_s
        self.url = f"http://127.0.0.1:{free_port() if port is None else port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> LocalGateway:
        """Start it and wait until its /healthz answers 200; ServerError with its log's tail if not."""
        command = [
            sys.executable, "-m", "tryon.serve.gateway", "--listen", self.url.removeprefix("http://"),
            "--upstream", self.server.endpoints.inference, "--client-keys", str(self.client_keys),
        ]
        if self.server.token_auth:
            command += ["--key-file", str(self.server.workdir / KEY_FILE)]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        if wait_until_healthy(self.url, process=self.process, timeout_s=self.startup_timeout_s):
            return self
        self.stop()
        raise ServerError(f"the gateway did not become ready:\n{self.log.read_text(errors='replace')[-4000:]}")

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM (the requests in flight finish first); returns its exit status."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.terminate()
        status = _wait_or_kill(self.process, timeout_s)
        self.process = None
        return status

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def wait_until_healthy(url: str, *, process: subprocess.Popen, timeout_s: float) -> bool:
    """Whether the gateway at `url` answers `GET /healthz` with 200 within `timeout_s`, while `process`
    (the one serving it) runs."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=5):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def _wait_or_kill(process: subprocess.Popen, timeout_s: float) -> int:
    """The process's exit status once it ends, killing it after `timeout_s`."""
    try:
        return process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait(timeout=timeout_s)


def _torchserve() -> str:
    path = installed_command("torchserve")
    if path is None:
        raise ServerError("torchserve is not installed: pip install -e '.[serve]' (and Java 17)")
    return path
