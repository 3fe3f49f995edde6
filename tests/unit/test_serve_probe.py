"""The readiness probe's verdict without a server: no answer is unhealthy, and the key file is optional."""

from __future__ import annotations

import json

from tryon.serve import probe
from tryon.serve.local import free_port


def test_no_server_is_unhealthy_and_the_probe_exits_1(tmp_path, capsys):
    url = f"http://127.0.0.1:{free_port()}"
    healthy, said = probe.ping(url, key_file=tmp_path / "missing.json", timeout_s=2)
    assert not healthy and said.startswith("no answer")
    assert probe.main(["--url", url, "--key-file", str(tmp_path / "missing.json"), "--timeout", "2"]) == 1
    assert "no answer" in capsys.readouterr().out


def test_the_inference_key_comes_from_torchserves_key_file(tmp_path):
    key_file = tmp_path / "key_file.json"
    key_file.write_text(json.dumps({"management": {"key": "m"}, "inference": {"key": "i-key"}, "API": {"key": "a"}}))
    assert probe.inference_key(key_file) == "i-key"
    assert probe.inference_key(tmp_path / "none.json") is None
