"""The try-on service: a batch of raw requests in, one answer per request out, whatever the server.

`TryOnService.handle` parses and checks every request (`tryon.serve.requests`), looks its avatar up,
recolours the garment when asked, runs all the valid ones through `TryOnPipeline` as one batch (the
avatars' stored representations, one avatar repeated without copying) and encodes each try-on as
PNG. A bad request gets its 4xx answer and the others in the batch go on; an unexpected failure
while reading one request answers that request 500 and logs the traceback. Each refusal is logged
once, with the request's id and reason, never with its bytes.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from tryon.data.dataset import image_to_tensor, tensor_to_image
from tryon.pipeline import TryOnPipeline
from tryon.serve.avatars import AvatarTable, UnknownAvatar
from tryon.serve.requests import (
    NOT_FOUND,
    PreparedGarment,
    RequestError,
    ServeLimits,
    encode_png,
    error_body,
    parse_request,
    prepare_garment_photo,
    recolour,
)
from tryon.steps import PersonRepresentation

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "tryon.pt"
AVATARS_FILE = "avatars.pt"
SETTINGS_FILE = "serving.json"
PNG = "image/png"
JSON = "application/json"
INTERNAL_ERROR = 500


@dataclass(frozen=True)
class IncomingRequest:
    """What any HTTP server hands over: the body, its content type, and query or form fields."""

    body: bytes | None
    content_type: str = ""
    fields: Mapping[str, str | bytes] = field(default_factory=dict)
    request_id: str = "-"


@dataclass(frozen=True)
class Answer:
    """One response: HTTP status, content type and body; `reason` is set for refusals."""

    status: int
    content_type: str
    body: bytes
    reason: str | None = None


@dataclass(frozen=True)
class BatchAnswer:
    """The answers in request order, and the seconds the try-on itself took (0 when none ran)."""

    answers: list[Answer]
    tryon_seconds: float
    tryons: int


@dataclass(frozen=True)
class ServeSettings:
    """What an archive's `serving.json` holds besides the weights and avatars."""

    limits: ServeLimits = field(default_factory=ServeLimits)
    precision: str = "auto"  # as TryOnPipeline: bf16 where native, else fp32 on CPUs

    def to_json(self) -> str:
        return json.dumps({"limits": asdict(self.limits), "precision": self.precision}, indent=2)

    @classmethod
    def from_json(cls, text: str) -> ServeSettings:
        values = json.loads(text)
        return cls(limits=ServeLimits(**values.get("limits", {})), precision=values.get("precision", "auto"))


class TryOnService:
    """A loaded model with its avatars, answering batches of requests."""

    def __init__(self, pipeline: TryOnPipeline, avatars: AvatarTable, *, limits: ServeLimits | None = None) -> None:
        avatars.check_fits(pipeline.config, where="the service's avatars")
        self.pipeline = pipeline
        self.avatars = avatars.to(pipeline.device)
        self.limits = limits or ServeLimits()

    @classmethod
    def from_model_dir(cls, model_dir: Path, *, device: str | torch.device = "cpu") -> TryOnService:
        """Load what `tryon.serve.export.export_archive` packed (an unpacked archive folder)."""
        model_dir = Path(model_dir)
        settings = ServeSettings.from_json((model_dir / SETTINGS_FILE).read_text())
        pipeline = TryOnPipeline.from_checkpoint(model_dir / WEIGHTS_FILE, device=device, precision=settings.precision)
        return cls(pipeline, AvatarTable.load(model_dir / AVATARS_FILE), limits=settings.limits)

    def handle(self, requests: Sequence[IncomingRequest]) -> BatchAnswer:
        """Answer every request; valid ones are tried on together as one batch."""
        answers: list[Answer | None] = [None] * len(requests)
        people: list[PersonRepresentation] = []
        garments: list[PreparedGarment] = []
        accepted: list[int] = []
        for index, request in enumerate(requests):
            try:
                person, garment = self.prepare(request)
            except RequestError as error:
                logger.warning("refused request %s: %d %s", request.request_id, error.status, error.message)
                answers[index] = Answer(error.status, JSON, error_body(error), reason=error.message)
                continue
            except Exception:  # a defect of ours: this request fails, the batch goes on
                logger.exception("failed request %s while reading it", request.request_id)
                failure = RequestError(INTERNAL_ERROR, "the server failed to read this request; it is logged")
                answers[index] = Answer(failure.status, JSON, error_body(failure), reason=failure.message)
                continue
            people.append(person)
            garments.append(garment)
            accepted.append(index)
        seconds = 0.0
        if accepted:
            started = time.perf_counter()
            images = self.try_on(people, garments)
            seconds = time.perf_counter() - started
            for index, image in zip(accepted, images, strict=True):
                answers[index] = Answer(200, PNG, encode_png(image))
        return BatchAnswer(answers=[answer for answer in answers if answer is not None], tryon_seconds=seconds,
                           tryons=len(accepted))

    def prepare(self, request: IncomingRequest) -> tuple[PersonRepresentation, PreparedGarment]:
        """Parse, look the avatar up, decode and prepare (and recolour) the garment."""
        parsed = parse_request(request.body, content_type=request.content_type, fields=request.fields, limits=self.limits)
        try:
            person = self.avatars.person(parsed.avatar)
        except UnknownAvatar as error:
            raise RequestError(NOT_FOUND, str(error)) from None
        garment = prepare_garment_photo(parsed.garment, resolution=self.pipeline.config.resolution, limits=self.limits)
        if parsed.colour is not None:
            garment = PreparedGarment(image=recolour(garment.image, garment.mask, parsed.colour), mask=garment.mask)
        return person, garment

    def try_on(self, people: Sequence[PersonRepresentation], garments: Sequence[PreparedGarment]) -> list[np.ndarray]:
        """(H, W, 3) uint8 try-ons of `garments` on `people`, as one batch."""
        device = self.pipeline.device
        garment = torch.stack([image_to_tensor(item.image) for item in garments]).to(device)
        mask = torch.stack([torch.from_numpy(item.mask).float()[None] for item in garments]).to(device)
        output = self.pipeline(PersonRepresentation.batch(people), garment, mask)
        return [tensor_to_image(image) for image in output.image]
