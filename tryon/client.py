"""A small client of the try-on API for storefront integrators (standard library only).

    client = TryOnClient("https://tryon.example.com", token=STOREFRONT_KEY)
    png = client.try_on(avatar="model-07", garment=Path("shirt.jpg"), color="#1f6fb2")

Refusals raise `TryOnError` with the HTTP status and the server's message.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path


class TryOnError(RuntimeError):
    """The server refused a request (4xx) or failed (5xx); `status` and `message` say which and why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


@dataclass(frozen=True)
class TryOnClient:
    """Calls `POST /predictions/{model}` of a try-on server's inference API."""

    base_url: str  # the inference address, e.g. http://127.0.0.1:8080
    model: str = "tryon"
    token: str | None = None  # a storefront key of the gateway (or a bare TorchServe's inference key)
    timeout_s: float = 30.0

    def try_on(self, *, avatar: str, garment: bytes | Path, color: str | None = None) -> bytes:
        """The try-on PNG of `garment` (image bytes or a file) on `avatar`, recoloured when `color` is
        given ("#RRGGBB"); sent as JSON with the garment in base64."""
        document = {"avatar": avatar, "garment": base64.b64encode(_bytes(garment)).decode("ascii")}
        if color is not None:
            document["color"] = color
        return self.post_json(document)

    def try_on_form(self, *, avatar: str, garment: bytes | Path, color: str | None = None) -> bytes:
        """The same as `try_on`, sent as a multipart form with the raw image (no base64 overhead)."""
        fields = {"avatar": avatar, **({"color": color} if color is not None else {})}
        boundary = uuid.uuid4().hex
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
            for name, value in fields.items()
        ]
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="garment"; filename="garment"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode() + _bytes(garment) + b"\r\n"
        )
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        return self.post(body, content_type=f"multipart/form-data; boundary={boundary}")

    def post_json(self, document: object) -> bytes:
        return self.post(json.dumps(document).encode(), content_type="application/json")

    def post(self, body: bytes, *, content_type: str, path: str | None = None) -> bytes:
        """POST `body` to the model's predictions path (or `path`) and return the answer's bytes."""
        url = f"{self.base_url.rstrip('/')}{path or '/predictions/' + urllib.parse.quote(self.model)}"
        return self._send(urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": content_type}))

    def ping(self) -> bool:
        """Whether the server reports itself healthy (`GET /ping`)."""
        answer = self._send(urllib.request.Request(f"{self.base_url.rstrip('/')}/ping"))
        return json.loads(answer).get("status") == "Healthy"

    def _send(self, request: urllib.request.Request) -> bytes:
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:
                return answer.read()
        except urllib.error.HTTPError as error:
            raise TryOnError(error.code, _message(error.read())) from None


def _bytes(garment: bytes | Path) -> bytes:
    return Path(garment).read_bytes() if isinstance(garment, (str, Path)) else bytes(garment)


def _message(body: bytes) -> str:
    """The server's reason: our handler's `error`, TorchServe's own `message`, or the raw text."""
    try:
        document = json.loads(body)
    except ValueError:
        return body.decode("utf-8", errors="replace")[:500]
    if isinstance(document, dict):
        return str(document.get("error") or document.get("message") or document)
    return str(document)
