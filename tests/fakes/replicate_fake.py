"""A loopback fake of Replicate's HTTP API for official models, with the files it hosts.

Follows ../shared/providers.md ("Replicate") and Replicate's HTTP API reference:
- create `POST /v1/models/{owner}/{name}/predictions` → 201 and a prediction (`Prefer: wait=N`
  holds the answer until the prediction ends); get `GET /v1/predictions/{id}`; cancel
  `POST /v1/predictions/{id}/cancel`;
- a prediction is `{"id", "model", "input", "status", "output", "error", "logs",
  "urls": {"get", "cancel", "stream", "web"}, ...}`, status starting | processing | succeeded |
  failed | canceled;
- errors are RFC 7807 problem documents `{"title", "detail", "status"}` (422 adds
  `invalid_fields`), 429 carries Retry-After, and the safety filter fails a prediction with
  "... flagged as sensitive ... (E005)".

Unprompted it:
- answers 401 to a missing or wrong bearer token, 404 to a model it does not host, 422 to an input
  outside the model's schema;
- walks each prediction through `statuses`: the create's answer is observation 0 and each get the
  next one (the last repeating); a prompt holding a blocked word ends `failed` with E005; a
  succeeded prediction's output is one URL under `/files/`.

`script(stage, ...)` queues canned answers per stage (create, get, cancel, file); `gates[stage]`
holds answers so a test can cancel or time out a call in flight; `arrived(stage, n)` waits until
n calls of a stage have come in (all of them held, when the gate is closed).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.gate import Gate

__all__ = ["SENSITIVE", "ReplicateFake", "file_bytes", "problem"]

MODELS = ("google/imagen-4-fast", "google/imagen-4", "google/imagen-4-ultra")
ASPECTS = {"1:1", "16:9", "9:16", "4:3", "3:4"}
FORMATS = {"jpg", "png"}
SAFETY = {"block_low_and_above", "block_medium_and_above", "block_only_high"}
STAGES = ("create", "get", "cancel", "file")
TERMINAL = {"succeeded", "failed", "canceled"}
SENSITIVE = (
    "The input or output was flagged as sensitive. Please try again with different inputs. (E005)"
)


def file_bytes(prediction_id: str) -> bytes:
    return b"\xff\xd8\xff\xe0" + f"replicate-fake-{prediction_id}".encode() + b"\xff\xd9"


def problem(status: int, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"title": title, "detail": detail, "status": status, **extra}


@dataclass
class Recorded:
    stage: str
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class _Prediction:
    id: str
    model: str
    input: dict[str, Any]
    observations: int = 0
    status: str = "starting"
    canceled: bool = False


@dataclass
class ReplicateFake:
    api_token: str = "r8_fake_replicate_token"
    models: tuple[str, ...] = MODELS
    statuses: list[str] = field(default_factory=lambda: ["succeeded"])
    blocked_words: tuple[str, ...] = ("forbidden",)
    base_url: str = ""  # set by whoever serves the app
    calls: list[Recorded] = field(default_factory=list)
    predictions: dict[str, _Prediction] = field(default_factory=dict)
    canceled: list[str] = field(default_factory=list)
    gates: dict[str, Gate] = field(default_factory=lambda: {stage: Gate() for stage in STAGES})
    _scripted: dict[str, deque[tuple[int, bytes, dict[str, str]]]] = field(
        default_factory=lambda: defaultdict(deque)
    )
    _waiters: list[tuple[str, int, asyncio.Event]] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def script(
        self,
        stage: str,
        status: int,
        body: Any,
        *,
        headers: dict[str, str] | None = None,
        raw: bool = False,
    ) -> None:
        """Serve this answer to the next call of `stage`, before any checks. `raw` sends `body`
        as non-JSON bytes."""
        assert stage in STAGES, stage
        payload = (body.encode() if isinstance(body, str) else body) if raw else json.dumps(body)
        self._scripted[stage].append((status, payload, headers or {}))

    def stage_calls(self, stage: str) -> list[Recorded]:
        return [call for call in self.calls if call.stage == stage]

    async def arrived(self, stage: str, count: int) -> None:
        """Return once `count` calls of `stage` have been received."""
        if len(self.stage_calls(stage)) >= count:
            return
        event = asyncio.Event()
        self._waiters.append((stage, count, event))
        await event.wait()

    def adopt(self, pid: str, prompt: str = "adopted") -> None:
        """Track a prediction whose create answer was scripted, as if the fake had made it."""
        prediction = _Prediction(id=pid, model=self.models[0], input={"prompt": prompt})
        self.predictions[pid] = prediction
        self._observe(prediction)

    def open_all(self) -> None:
        for gate in self.gates.values():
            gate.open()

    def prediction_json(self, prediction: _Prediction) -> dict[str, Any]:
        url = f"{self.base_url}/v1/predictions/{prediction.id}"
        done = prediction.status in TERMINAL
        return {
            "id": prediction.id,
            "model": prediction.model,
            "version": "hidden",
            "input": prediction.input,
            "logs": "",
            "output": f"{self.base_url}/files/{prediction.id}.jpg"
            if prediction.status == "succeeded"
            else None,
            "error": SENSITIVE
            if prediction.status == "failed"
            else ("Prediction was canceled" if prediction.status == "canceled" else None),
            "status": prediction.status,
            "created_at": "2026-11-22T00:00:00.000Z",
            "completed_at": "2026-11-22T00:00:02.000Z" if done else None,
            "data_removed": False,
            "metrics": {"predict_time": 1.8} if done else {},
            "urls": {
                "get": url,
                "cancel": f"{url}/cancel",
                "stream": f"{self.base_url}/stream/{prediction.id}",
                "web": f"https://replicate.com/p/{prediction.id}",
            },
        }

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/models/{owner}/{name}/predictions", self._create)
        app.router.add_get("/v1/predictions/{pid}", self._get)
        app.router.add_post("/v1/predictions/{pid}/cancel", self._cancel)
        app.router.add_get("/files/{name}", self._file)
        return app

    # -- handlers ------------------------------------------------------------------------------

    async def _enter(self, stage: str, request: web.Request) -> web.Response | None:
        body: Any = None
        if request.can_read_body:
            raw = await request.read()
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw
        self.calls.append(
            Recorded(stage, request.method, request.path, dict(request.headers), body)
        )
        arrived = len(self.stage_calls(stage))
        for waiter in [w for w in self._waiters if w[0] == stage and arrived >= w[1]]:
            waiter[2].set()
            self._waiters.remove(waiter)
        await self.gates[stage].through()
        if self._scripted[stage]:
            status, payload, headers = self._scripted[stage].popleft()
            return web.Response(
                status=status, body=payload, headers=headers, content_type="application/json"
            )
        if stage != "file" and request.headers.get("Authorization") != f"Bearer {self.api_token}":
            return _json(
                401,
                problem(401, "Unauthenticated", "You did not pass a valid authentication token"),
            )
        return None

    def _observe(self, prediction: _Prediction) -> None:
        if prediction.status in TERMINAL:
            return
        status = self.statuses[min(prediction.observations, len(self.statuses) - 1)]
        prediction.observations += 1
        if status == "succeeded" and any(
            word in prediction.input["prompt"].lower() for word in self.blocked_words
        ):
            status = "failed"
        prediction.status = status

    async def _create(self, request: web.Request) -> web.Response:
        answer = await self._enter("create", request)
        if answer is not None:
            return answer
        model = f"{request.match_info['owner']}/{request.match_info['name']}"
        if model not in self.models:
            return _json(
                404, problem(404, "Not found", "The requested resource could not be found.")
            )
        body = self.calls[-1].body
        invalid = _validate(body)
        if invalid:
            return _json(
                422,
                problem(
                    422,
                    "Input validation failed",
                    "\n".join(f"- {f['field']}: {f['description']}" for f in invalid),
                    invalid_fields=invalid,
                ),
            )
        prediction = _Prediction(id=f"p{next(self._ids)}", model=model, input=body["input"])
        self.predictions[prediction.id] = prediction
        self._observe(prediction)
        return _json(201, self.prediction_json(prediction))

    async def _get(self, request: web.Request) -> web.Response:
        answer = await self._enter("get", request)
        if answer is not None:
            return answer
        prediction = self.predictions.get(request.match_info["pid"])
        if prediction is None:
            return _json(404, problem(404, "Not found", "The requested resource was not found."))
        self._observe(prediction)
        return _json(200, self.prediction_json(prediction))

    async def _cancel(self, request: web.Request) -> web.Response:
        answer = await self._enter("cancel", request)
        if answer is not None:
            return answer
        prediction = self.predictions.get(request.match_info["pid"])
        if prediction is None:
            return _json(404, problem(404, "Not found", "The requested resource was not found."))
        if prediction.status not in TERMINAL:
            prediction.status = "canceled"
            prediction.canceled = True
            self.canceled.append(prediction.id)
        return _json(200, self.prediction_json(prediction))

    async def _file(self, request: web.Request) -> web.Response:
        answer = await self._enter("file", request)
        if answer is not None:
            return answer
        pid = request.match_info["name"].removesuffix(".jpg")
        if pid not in self.predictions:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=file_bytes(pid), content_type="image/jpeg")


def _validate(body: Any) -> list[dict[str, str]]:
    if not isinstance(body, dict) or not isinstance(body.get("input"), dict):
        return [{"type": "required", "field": "input", "description": "input is required"}]
    given = body["input"]
    invalid = []
    if not isinstance(given.get("prompt"), str) or not given["prompt"].strip():
        invalid.append({"type": "required", "field": "input.prompt", "description": "required"})
    checks = [
        ("aspect_ratio", ASPECTS),
        ("output_format", FORMATS),
        ("safety_filter_level", SAFETY),
    ]
    for name, allowed in checks:
        if name in given and given[name] not in allowed:
            invalid.append(
                {
                    "type": "enum",
                    "field": f"input.{name}",
                    "description": f"{name} must be one of the following: {sorted(allowed)}",
                }
            )
    return invalid


def _json(status: int, body: Any) -> web.Response:
    return web.json_response(body, status=status)
