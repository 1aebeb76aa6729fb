"""A loopback fake of the Gemini API's Imagen method, `POST /v1beta/models/{model}:predict`.

Follows ../shared/providers.md ("Google Gemini API") and Google's JSON error model
(`google.rpc.Status`: `{"error": {"code", "message", "status", "details"}}`, with typed details
`type.googleapis.com/google.rpc.ErrorInfo` and `.../RetryInfo` whose `retryDelay` is a Duration
string such as "7s"). What it does unprompted, as the real service does:

- a missing or wrong `x-goog-api-key` → 400 INVALID_ARGUMENT, ErrorInfo reason API_KEY_INVALID;
- a model it does not know, or one listed in `retired` → 404 NOT_FOUND ("... is not found for API
  version v1beta, or is not supported for predict");
- `sampleCount` outside 1–4 or an unknown `aspectRatio` / `personGeneration` / `safetySetting`
  → 400 INVALID_ARGUMENT;
- a prompt holding one of `blocked_words` → 400 INVALID_ARGUMENT citing Responsible AI practices;
- otherwise `sampleCount` predictions of JPEG bytes, except the indices in `filtered`, which come
  back holding only `raiFilteredReason`.

`script()` queues canned answers served before any of that (429s, 5xx, malformed bodies);
`gate` holds answers so a test can time out or cancel a call in flight.
"""

from __future__ import annotations

import base64
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.gate import Gate

__all__ = ["DEFAULT_MODELS", "FILTER_REASON", "GeminiFake", "google_error", "jpeg_bytes"]

DEFAULT_MODELS = (
    "imagen-4.0-fast-generate-001",
    "imagen-4.0-generate-001",
    "imagen-4.0-ultra-generate-001",
)
FILTER_REASON = (
    "Your current safety filter threshold filtered out 1 generated image. You will not be "
    "charged for blocked images. Try rephrasing the prompt. Support codes: 56562880"
)
ASPECTS = {"1:1", "16:9", "9:16", "4:3", "3:4"}
PEOPLE = {"dont_allow", "allow_adult", "allow_all"}
SAFETY = {"block_low_and_above", "block_medium_and_above", "block_only_high"}


def jpeg_bytes(index: int) -> bytes:
    """A distinct small payload per sample, framed like a JPEG (SOI … EOI)."""
    return b"\xff\xd8\xff\xe0" + f"gemini-fake-{index}".encode() + b"\xff\xd9"


def google_error(
    code: int, status: str, message: str, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status, "details": details or []}}


@dataclass
class Recorded:
    model: str
    headers: dict[str, str]
    body: Any


@dataclass
class GeminiFake:
    api_key: str = "fake-gemini-key"
    models: tuple[str, ...] = DEFAULT_MODELS
    retired: set[str] = field(default_factory=set)
    blocked_words: tuple[str, ...] = ("forbidden",)
    filtered: set[int] = field(default_factory=set)
    calls: list[Recorded] = field(default_factory=list)
    gate: Gate = field(default_factory=Gate)
    base_url: str = ""  # set by whoever serves the app
    _scripted: deque[tuple[int, str | bytes, dict[str, str]]] = field(default_factory=deque)

    def script(
        self, status: int, body: Any, *, headers: dict[str, str] | None = None, raw: bool = False
    ) -> None:
        """Serve this answer to the next call, before any validation. `raw` sends `body` as
        non-JSON bytes (an HTML error page, a truncated answer)."""
        payload = (body.encode() if isinstance(body, str) else body) if raw else json.dumps(body)
        self._scripted.append((status, payload, headers or {}))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1beta/models/{call}", self._predict)
        return app

    async def _predict(self, request: web.Request) -> web.Response:
        model, _, method = request.match_info["call"].partition(":")
        try:
            body = await request.json()
        except json.JSONDecodeError:
            body = None
        self.calls.append(Recorded(model, dict(request.headers), body))
        await self.gate.through()
        if self._scripted:
            status, payload, headers = self._scripted.popleft()
            content_type = "application/json" if isinstance(payload, str) else "text/html"
            return web.Response(
                status=status, body=payload, headers=headers, content_type=content_type
            )
        if request.headers.get("x-goog-api-key") != self.api_key:
            return _json(
                400,
                google_error(
                    400,
                    "INVALID_ARGUMENT",
                    "API key not valid. Please pass a valid API key.",
                    [
                        {
                            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                            "reason": "API_KEY_INVALID",
                            "domain": "googleapis.com",
                            "metadata": {"service": "generativelanguage.googleapis.com"},
                        }
                    ],
                ),
            )
        if method != "predict" or model not in self.models or model in self.retired:
            return _json(
                404,
                google_error(
                    404,
                    "NOT_FOUND",
                    f"models/{model} is not found for API version v1beta, or is not supported "
                    "for predict. Call ListModels to see the list of available models and their "
                    "supported methods.",
                ),
            )
        problem = _validate(body)
        if problem:
            return _json(400, google_error(400, "INVALID_ARGUMENT", problem))
        prompt = body["instances"][0]["prompt"]
        if any(word in prompt.lower() for word in self.blocked_words):
            return _json(
                400,
                google_error(
                    400,
                    "INVALID_ARGUMENT",
                    "Image generation failed with the following error: The prompt could not be "
                    "submitted. This prompt contains sensitive words that violate Google's "
                    "Responsible AI practices. Try rephrasing the prompt.",
                ),
            )
        predictions = []
        for index in range(body["parameters"].get("sampleCount", 4)):
            if index in self.filtered:
                predictions.append({"raiFilteredReason": FILTER_REASON})
            else:
                predictions.append(
                    {
                        "bytesBase64Encoded": base64.b64encode(jpeg_bytes(index)).decode(),
                        "mimeType": "image/jpeg",
                    }
                )
        return _json(200, {"predictions": predictions})


def _validate(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "Invalid JSON payload received."
    instances = body.get("instances")
    if not isinstance(instances, list) or len(instances) != 1:
        return "Exactly one instance is supported."
    prompt = instances[0].get("prompt") if isinstance(instances[0], dict) else None
    if not isinstance(prompt, str) or not prompt.strip():
        return "instances[0].prompt is required."
    params = body.get("parameters") or {}
    count = params.get("sampleCount", 4)
    if not isinstance(count, int) or not 1 <= count <= 4:
        return "sampleCount must be between 1 and 4."
    if params.get("aspectRatio", "1:1") not in ASPECTS:
        return f"Unsupported aspect ratio: {params.get('aspectRatio')}"
    if params.get("personGeneration", "allow_adult") not in PEOPLE:
        return f"Unsupported personGeneration: {params.get('personGeneration')}"
    if params.get("safetySetting", "block_low_and_above") not in SAFETY:
        return f"Unsupported safetySetting: {params.get('safetySetting')}"
    return None


def _json(status: int, body: Any) -> web.Response:
    return web.json_response(body, status=status)
