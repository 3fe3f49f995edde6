"""Readiness probe for Kubernetes that works with TorchServe's token authorization on.

TorchServe answers `GET /ping` only with the inference key, which it writes at start into
`key_file.json` in its working folder. An exec probe inside the pod reads that key and pings the
inference port on 127.0.0.1; `/ping` says "Healthy" once every model has its minimum of workers
ready. The metrics port (`GET /metrics`) needs no key and serves as the liveness probe.

    python -m tryon.serve.probe --url http://127.0.0.1:8080 --key-file /home/model-server/key_file.json
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

HEALTHY = "Healthy"


def inference_key(key_file: Path) -> str | None:
    """The inference key from TorchServe's key file; None when there is no file (token auth off)."""
    if not key_file.is_file():
        return None
    return json.loads(key_file.read_text())["inference"]["key"]


def ping(url: str, *, key_file: Path, timeout_s: float = 5.0) -> tuple[bool, str]:
    """(healthy, what the server said) for `GET {url}/ping`."""
    request = urllib.request.Request(f"{url.rstrip('/')}/ping")
    key = inference_key(key_file)
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as answer:
            status = json.loads(answer.read()).get("status", "")
    except urllib.error.HTTPError as error:
        return False, f"HTTP {error.code}: {error.read()[:200].decode(errors='replace')}"
    except (OSError, ValueError) as error:
        return False, f"no answer: {error}"
    return status == HEALTHY, status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="TorchServe's inference address.")
    parser.add_argument("--key-file", type=Path, default=Path("key_file.json"), help="TorchServe's key_file.json.")
    parser.add_argument("--timeout", type=float, default=5.0, help="Seconds to wait for the answer.")
    args = parser.parse_args(argv)
    healthy, said = ping(args.url, key_file=args.key_file, timeout_s=args.timeout)
    print(said)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
