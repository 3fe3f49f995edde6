"""TorchServe adapter: turns TorchServe's batch and context into `TryOnService` calls and back.

This is the only module that knows TorchServe's conventions (the initialisation call with no data,
request parameters as dicts, per-request status and headers on the context, backend metrics). All
request logic lives in `tryon.serve.service` and `tryon.serve.requests`.
"""

from __future__ import annotations

import json
import logging
import os
from http import HTTPStatus
from typing import Any

import torch

from tryon.serve.service import IncomingRequest, TryOnService

logger = logging.getLogger(__name__)

LATENCY_METRIC = "TryOnLatency"
"""Milliseconds of the try-on of one batch (networks only); declared in serving/metrics.yaml."""
BODY_PARAMETERS = ("body", "data")
"""Where TorchServe puts a request's body when it is not a form."""

MODEL_PARAMETER = "model_name"
"""The query parameter `/invocations?model_name=...` names the model with; not a request field."""

_service: TryOnService | None = None


def handle(data: list[dict[str, Any]] | None, context: Any) -> list[bytes] | None:
    """TorchServe's entry point: called once with `data=None` to load the model, then per batch."""
    global _service
    if data is None:
        _service = load_service(context)
        return None
    if _service is None:
        raise RuntimeError("the try-on model is not loaded: TorchServe did not initialise the handler")
    requests = [incoming_request(row, context, index) for index, row in enumerate(data)]
    batch = _service.handle(requests)
    for index, answer in enumerate(batch.answers):
        context.set_response_status(answer.status, HTTPStatus(answer.status).phrase, idx=index)
        context.set_response_content_type(index, answer.content_type)
    if batch.tryons:
        context.metrics.add_time(LATENCY_METRIC, batch.tryon_seconds * 1000, unit="ms")
    return [answer.body for answer in batch.answers]


def load_service(context: Any) -> TryOnService:
    """The service from the unpacked archive, on the GPU TorchServe assigned (CPU when there is none)."""
    properties = context.system_properties
    gpu = properties.get("gpu_id")
    device = f"cuda:{gpu}" if gpu is not None and torch.cuda.is_available() else "cpu"
    # The handler parses JSON itself, so that a malformed body is refused once with a clear message
    # instead of being logged with a traceback by TorchServe's decoder and passed on as bytes.
    os.environ["TS_DECODE_INPUT_REQUEST"] = "false"
    service = TryOnService.from_model_dir(properties["model_dir"], device=device)
    logger.info("try-on model loaded on %s with %d avatars", device, len(service.avatars))
    return service


def incoming_request(row: dict[str, Any], context: Any, index: int) -> IncomingRequest:
    """One request of TorchServe's batch: the body, its content type, and the other parameters
    (query string or form fields) as fields."""
    headers = {key.lower(): value for key, value in (context.get_all_request_header(index) or {}).items()}
    body = next((row[name] for name in BODY_PARAMETERS if name in row), None)
    fields = {key: value for key, value in row.items() if key not in (*BODY_PARAMETERS, MODEL_PARAMETER)}
    if isinstance(body, (dict, list)):  # decoded by TorchServe before the handler switched that off
        body = json.dumps(body).encode("utf-8")
    elif isinstance(body, str):
        body = body.encode("utf-8")
    return IncomingRequest(
        body=body,
        content_type=str(headers.get("content-type", "")),
        fields=fields,
        request_id=context.get_request_id(index) or "-",
    )
