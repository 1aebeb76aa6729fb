"""A loopback fake of fal.ai's queue API, with the files it hosts.

Follows ../shared/providers.md ("fal.ai") and fal's documentation of the queue ("Inference API":
submit → `request_id`, `status_url`, `response_url`, `cancel_url`, whose paths hold only owner/app,
not the model's own path; status answers 202 while IN_QUEUE / IN_PROGRESS and 200 when COMPLETED;
cancel answers 202 CANCELLATION_REQUESTED or 400 ALREADY_COMPLETED), its model errors (422 with
`{"detail": [{"loc", "msg", "type"}]}`, `type` content_policy_violation for refused content, header
`X-Fal-Retryable`) and its request errors (`{"detail": "...", "error_type": "..."}`).

Unprompted it:
- answers 401 to a missing or wrong `Authorization: Key ...`, 404 to a model it does not offer,
  422 (typed `detail`) to a body outside the model's schema;
- walks each request through `statuses` (one per status poll, the last one repeating);
- answers the result with `num_images` images hosted at `/files/...` and the seed used (the one
  sent, else its own), or with 422 content_policy_violation when the prompt holds a blocked word.

`script(stage, ...)` queues canned answers per stage (submit, status, result, cancel, file);
`gates[stage]` holds answers of that stage so a test can cancel or time out a call in flight.
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.gate import Gate

__all__ = ["CONTENT_POLICY_DETAIL", "FalFake", "file_bytes"]

MODELS = ("fal-ai/imagen4/preview/fast", "fal-ai/imagen4/preview", "fal-ai/imagen4/preview/ultra")
SIZES = {
    "1:1": (1024, 1024),
    "16:9": (1408, 768),
    "9:16": (768, 1408),
    "4:3": (1280, 896),
    "3:4": (896, 1280),
}
STAGES = ("submit", "status", "result", "cancel", "file")
CONTENT_POLICY_DETAIL = [
    {
        "loc": ["body", "prompt"],
        "msg": "The content could not be processed because it contained material flagged by a "
        "content checker.",
        "type": "content_policy_violation",
        "url": "https://docs.fal.ai/errors#content_policy_violation",
    }
]


def file_bytes(request_id: str, index: int) -> bytes:
    return b"\xff\xd8\xff\xe0" + f"fal-fake-{request_id}-{index}".encode() + b"\xff\xd9"


@dataclass
class Recorded:
    stage: str
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class _Job:
    model: str
    body: dict[str, Any]
    polls: int = 0
    last_status: str = "IN_QUEUE"
    cancelled: bool = False


@dataclass
class FalFake:
    api_key: str = "fake-fal-key"
    models: tuple[str, ...] = MODELS
    statuses: list[str] = field(default_factory=lambda: ["IN_QUEUE", "IN_PROGRESS", "COMPLETED"])
    blocked_words: tuple[str, ...] = ("forbidden",)
    default_seed: int = 424242
    base_url: str = ""  # set by whoever serves the app
    calls: list[Recorded] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    jobs: dict[str, _Job] = field(default_factory=dict)
    gates: dict[str, Gate] = field(default_factory=lambda: {stage: Gate() for stage in STAGES})
    _scripted: dict[str, deque[tuple[int, bytes, dict[str, str]]]] = field(
        default_factory=lambda: defaultdict(deque)
    )
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

    def open_all(self) -> None:
        for gate in self.gates.values():
            gate.open()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/files/{name}", self._file)
        app.router.add_get("/{owner}/{app}/requests/{rid}/status", self._status)
        app.router.add_put("/{owner}/{app}/requests/{rid}/cancel", self._cancel)
        app.router.add_get("/{owner}/{app}/requests/{rid}", self._result)
        app.router.add_post("/{model:.+}", self._submit)
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
        await self.gates[stage].through()
        if self._scripted[stage]:
            status, payload, headers = self._scripted[stage].popleft()
            return web.Response(
                status=status, body=payload, headers=headers, content_type="application/json"
            )
        if stage != "file" and request.headers.get("Authorization") != f"Key {self.api_key}":
            return _json(401, {"detail": "No user found for Key ID and Secret"})
        return None

    async def _submit(self, request: web.Request) -> web.Response:
        answer = await self._enter("submit", request)
        if answer is not None:
            return answer
        model = request.match_info["model"]
        if model not in self.models:
            return _json(404, {"detail": f"Application '{model}' not found"})
        body = self.calls[-1].body
        problems = _validate(body)
        if problems:
            return _json(422, {"detail": problems})
        rid = f"req-{next(self._ids)}"
        self.jobs[rid] = _Job(model=model, body=body)
        owner, app = model.split("/")[:2]
        base = f"{self.base_url}/{owner}/{app}/requests/{rid}"
        return _json(
            200,
            {
                "request_id": rid,
                "response_url": base,
                "status_url": f"{base}/status",
                "cancel_url": f"{base}/cancel",
                "queue_position": 0,
            },
        )

    async def _status(self, request: web.Request) -> web.Response:
        answer = await self._enter("status", request)
        if answer is not None:
            return answer
        job = self.jobs.get(request.match_info["rid"])
        if job is None:
            return _json(404, {"detail": "Request not found"})
        status = self.statuses[min(job.polls, len(self.statuses) - 1)]
        job.polls += 1
        job.last_status = status
        if status == "IN_QUEUE":
            return _json(202, {"status": status, "queue_position": 3, "response_url": ""})
        if status == "IN_PROGRESS":
            return _json(202, {"status": status, "logs": []})
        return _json(200, {"status": status, "logs": [], "metrics": {"inference_time": 1.2}})

    async def _result(self, request: web.Request) -> web.Response:
        answer = await self._enter("result", request)
        if answer is not None:
            return answer
        rid = request.match_info["rid"]
        job = self.jobs.get(rid)
        if job is None:
            return _json(404, {"detail": "Request not found"})
        if job.last_status != "COMPLETED":
            return _json(400, {"detail": "Request is still in progress"})
        if any(word in job.body["prompt"].lower() for word in self.blocked_words):
            return _json(422, {"detail": CONTENT_POLICY_DETAIL})
        width, height = SIZES[job.body.get("aspect_ratio", "1:1")]
        count = job.body.get("num_images", 1)
        return _json(
            200,
            {
                "images": [
                    {
                        "url": f"{self.base_url}/files/{rid}-{index}.jpg",
                        "content_type": "image/jpeg",
                        "file_name": f"{rid}-{index}.jpg",
                        "width": width,
                        "height": height,
                    }
                    for index in range(count)
                ],
                "seed": job.body.get("seed", self.default_seed),
                "prompt": job.body["prompt"],
            },
        )

    async def _cancel(self, request: web.Request) -> web.Response:
        answer = await self._enter("cancel", request)
        if answer is not None:
            return answer
        rid = request.match_info["rid"]
        job = self.jobs.get(rid)
        if job is None:
            return _json(404, {"detail": "Request not found"})
        if job.last_status == "COMPLETED":
            return _json(400, {"status": "ALREADY_COMPLETED"})
        job.cancelled = True
        self.cancelled.append(rid)
        return _json(202, {"status": "CANCELLATION_REQUESTED"})

    async def _file(self, request: web.Request) -> web.Response:
        answer = await self._enter("file", request)
        if answer is not None:
            return answer
        name = request.match_info["name"].removesuffix(".jpg")
        rid, _, index = name.rpartition("-")
        if rid not in self.jobs or not index.isdigit():
            return web.Response(status=404, text="Not Found")
        return web.Response(body=file_bytes(rid, int(index)), content_type="image/jpeg")


def _validate(body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, dict):
        return [{"loc": ["body"], "msg": "Input should be an object", "type": "model_type"}]
    problems = []
    if not isinstance(body.get("prompt"), str) or not body["prompt"].strip():
        problems.append({"loc": ["body", "prompt"], "msg": "Field required", "type": "missing"})
    count = body.get("num_images", 1)
    if not isinstance(count, int) or not 1 <= count <= 4:
        problems.append(
            {
                "loc": ["body", "num_images"],
                "msg": "Input should be less than or equal to 4",
                "type": "less_than_equal",
            }
        )
    if body.get("aspect_ratio", "1:1") not in SIZES:
        problems.append(
            {"loc": ["body", "aspect_ratio"], "msg": "Input should be ...", "type": "literal_error"}
        )
    if "seed" in body and not isinstance(body["seed"], int):
        problems.append(
            {"loc": ["body", "seed"], "msg": "Input should be an integer", "type": "int_type"}
        )
    return problems


def _json(status: int, body: Any) -> web.Response:
    return web.json_response(body, status=status)
