"""A loopback fake of RunComfy's model API: an asynchronous queue.

Written from RunComfy's documentation, not from our client:
- ../shared/seeds/002_*.txt (RunComfy's Imagen 4 Fast page): submit `POST /v1/models/{model_id}`
  with `{prompt, negative_prompt, aspect_ratio (16:9|4:3|1:1|3:4|9:16, default 16:9), seed}`,
  Bearer auth, answer `{request_id, status_url, result_url, cancel_url}`; status
  `GET /v1/requests/{id}/status` in `in_queue` | `in_progress` | `completed` | `cancelled`;
  result `GET /v1/requests/{id}/result` (the current state while not complete) with
  `output.image` or `output.images`; cancel `POST /v1/requests/{id}/cancel`, queued jobs only.
- docs.runcomfy.com/model-apis/error-codes: 400001 invalid id, 400002 no balance, 400004 bad
  token, 403001 not yours, 404001 not found; bodies carry "the HTTP code, error code, error
  message, and sometimes a detail field".
- ../shared/providers.md: cancel answers 202 `{"outcome": "cancelled" | "not_cancellable"}`;
  a result `status` of `succeeded` | `failed`.

[I] (inferred): the JSON key names of error bodies (this fake sends `code` = the HTTP status,
`error_code`, `message`, `detail`), the HTTP statuses paired with each error code, `queue_position`
counting from 1, the failure text under `error`, and 422/422001 for a body that fails the schema
(this fake is stricter than the docs say: it refuses fields the input schema does not list).

A job does not run on a timer: each status poll advances it one step along its plan (the last step
repeats), so a test decides exactly how long a job stays queued. A step may be a `Stall`: that
poll is held until the test releases it, and then answers the step after it.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import web

from tests.fakes.loopback import LoopbackServer
from tests.fakes.scripting import Recorded, Reply, Script, Stall, jpeg_bytes

__all__ = ["ASPECT_RATIOS", "DEFAULT_SEED", "MODEL_ID", "Job", "Plan", "RunComfyFake"]

MODEL_ID = "google-deepmind/imagen-4/fast/text-to-image"
ASPECT_RATIOS = {"16:9", "4:3", "1:1", "3:4", "9:16"}
DEFAULT_SEED = 37644189  # the schema's default


@dataclass
class Plan:
    """How one job behaves: the statuses successive polls see, then the result."""

    steps: list[str | Stall] = field(
        default_factory=lambda: ["in_queue", "in_progress", "completed"]
    )
    outcome: str = "succeeded"  # or "failed"
    error: str = "Generation failed"
    output: str = "image"  # "image" -> output.image, "images" -> output.images


@dataclass
class Job:
    request_id: str
    model_id: str
    input: dict[str, Any]
    plan: Plan
    state: str = "in_queue"
    polls: int = 0
    position: int = 0  # the next step of the plan
    cancel_requests: int = 0


class RunComfyFake:
    """RunComfy on 127.0.0.1. Hand `base_url` to the client."""

    def __init__(self, *, api_key: str = "rc-fake-key-7d3a9b1e") -> None:
        self.api_key = api_key
        self.models = {MODEL_ID}
        self.requests: list[Recorded] = []
        self.jobs: dict[str, Job] = {}
        self.plans: deque[Plan] = deque()  # taken in submit order; then the default plan
        self.downloads: list[str] = []
        self.script = Script()
        self.advertised_base: str | None = None  # where the URLs in a submit answer point
        self._ids = itertools.count(1)
        self._polled = asyncio.Condition()
        self.app = web.Application()
        self.app.router.add_post("/v1/models/{model_id:.+}", self._submit)
        self.app.router.add_get("/v1/requests/{request_id}/status", self._status)
        self.app.router.add_get("/v1/requests/{request_id}/result", self._result)
        self.app.router.add_post("/v1/requests/{request_id}/cancel", self._cancel)
        self.app.router.add_get("/images/{name}", self._image)
        self._server = LoopbackServer(self.app)

    @property
    def base_url(self) -> str:
        return self._server.base_url

    async def __aenter__(self) -> RunComfyFake:
        await self._server.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.script.release_all()
        for plan in self.plans:
            for step in plan.steps:
                if isinstance(step, Stall):
                    step.release.set()
        for job in self.jobs.values():
            for step in job.plan.steps:
                if isinstance(step, Stall):
                    step.release.set()
        await self._server.stop()

    # -- scripting -----------------------------------------------------------------------------

    def fail_next(
        self,
        route: str,
        status: int,
        error_code: int | None,
        message: str,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        """The next request on `route` ("submit", "status", "result", "image") fails."""
        self.script.add(
            route, Reply(status, _error_body(status, error_code, message), headers=headers or {})
        )

    def reply_next(self, route: str, *replies: Reply) -> None:
        self.script.add(route, *replies)

    async def until_polled(self, jobs: int) -> None:
        """Wait until `jobs` different jobs have been polled at least once."""
        async with self._polled:
            await self._polled.wait_for(
                lambda: sum(1 for job in self.jobs.values() if job.polls) >= jobs
            )

    def submitted(self) -> list[dict[str, Any]]:
        return [job.input for job in self.jobs.values()]

    # -- handlers ------------------------------------------------------------------------------

    def _authorised(self, recorded: Recorded) -> bool:
        return recorded.headers.get("authorization") == f"Bearer {self.api_key}"

    async def _enter(
        self, request: web.Request, route: str
    ) -> tuple[Recorded, web.Response | None]:
        recorded = await Recorded.of(request)
        self.requests.append(recorded)
        scripted = await self.script.play(route)
        if scripted is not None:
            return recorded, scripted
        if not self._authorised(recorded):
            return recorded, _error(401, 400004, "Invalid or expired token.")
        return recorded, None

    async def _submit(self, request: web.Request) -> web.Response:
        recorded, early = await self._enter(request, "submit")
        if early is not None:
            return early
        model_id = request.match_info["model_id"]
        if model_id not in self.models:
            return _error(400, 400001, f"Invalid model id: {model_id}")
        body = recorded.body
        problems = _validate(body)
        if problems:
            return web.json_response(
                {**_error_body(422, 422001, "Validation Error"), "detail": problems}, status=422
            )
        request_id = f"req-{next(self._ids):04d}"
        plan = self.plans.popleft() if self.plans else Plan()
        self.jobs[request_id] = Job(request_id, model_id, dict(body), plan)
        own = f"{self.advertised_base or self.base_url}/v1/requests/{request_id}"
        return web.json_response(
            {
                "request_id": request_id,
                "status_url": f"{own}/status",
                "result_url": f"{own}/result",
                "cancel_url": f"{own}/cancel",
            }
        )

    async def _status(self, request: web.Request) -> web.Response:
        _, early = await self._enter(request, "status")
        if early is not None:
            return early
        job = self.jobs.get(request.match_info["request_id"])
        if job is None:
            return _error(404, 404001, "Request not found.")
        if job.state != "cancelled":
            steps = job.plan.steps
            step = steps[min(job.position, len(steps) - 1)]
            job.position += 1
            if isinstance(step, Stall):  # hold this poll, then answer the step after it
                await self._count_poll(job)
                await step.hold()
                step = steps[min(job.position, len(steps) - 1)]
                job.position += 1
                job.state = step if isinstance(step, str) else "in_progress"
            else:
                job.state = step
                await self._count_poll(job)
        answer: dict[str, Any] = {"request_id": job.request_id, "status": job.state}
        if job.state == "in_queue":
            queued = [j for j in self.jobs.values() if j.state == "in_queue"]
            answer["queue_position"] = queued.index(job) + 1
        return web.json_response(answer)

    async def _count_poll(self, job: Job) -> None:
        async with self._polled:
            job.polls += 1
            self._polled.notify_all()

    async def _result(self, request: web.Request) -> web.Response:
        _, early = await self._enter(request, "result")
        if early is not None:
            return early
        job = self.jobs.get(request.match_info["request_id"])
        if job is None:
            return _error(404, 404001, "Request not found.")
        if job.state != "completed":
            return web.json_response({"request_id": job.request_id, "status": job.state})
        answer: dict[str, Any] = {
            "request_id": job.request_id,
            "status": job.plan.outcome,
            "created_at": "2026-11-22T10:00:00Z",
            "finished_at": "2026-11-22T10:00:03Z",
        }
        if job.plan.outcome == "failed":
            answer["error"] = job.plan.error
            return web.json_response(answer)
        url = f"{self.base_url}/images/{job.request_id}.jpg"
        answer["output"] = {"image": url} if job.plan.output == "image" else {"images": [url]}
        return web.json_response(answer)

    async def _cancel(self, request: web.Request) -> web.Response:
        _, early = await self._enter(request, "cancel")
        if early is not None:
            return early
        job = self.jobs.get(request.match_info["request_id"])
        if job is None:
            return _error(404, 404001, "Request not found.")
        job.cancel_requests += 1
        if job.state == "in_queue":
            job.state = "cancelled"
            return web.json_response({"outcome": "cancelled"}, status=202)
        return web.json_response({"outcome": "not_cancellable"}, status=202)

    async def _image(self, request: web.Request) -> web.Response:
        self.downloads.append(request.path)
        scripted = await self.script.play("image")
        if scripted is not None:
            return scripted
        job = self.jobs.get(request.match_info["name"].removesuffix(".jpg"))
        if job is None or job.state != "completed":
            return web.Response(status=404, text="not found")
        return web.Response(
            body=jpeg_bytes(job.input.get("seed", DEFAULT_SEED)), content_type="image/jpeg"
        )


def _validate(body: Any) -> list[dict[str, Any]]:
    """The input schema of the model page, as a list of validation details."""
    if not isinstance(body, dict):
        return [{"loc": ["body"], "msg": "Input should be an object"}]
    problems = []
    if not isinstance(body.get("prompt"), str) or not body["prompt"].strip():
        problems.append({"loc": ["body", "prompt"], "msg": "Field required"})
    if "negative_prompt" in body and not isinstance(body["negative_prompt"], str):
        problems.append({"loc": ["body", "negative_prompt"], "msg": "Input should be a string"})
    if body.get("aspect_ratio", "16:9") not in ASPECT_RATIOS:
        problems.append(
            {"loc": ["body", "aspect_ratio"], "msg": "Input should be an allowed ratio"}
        )
    if "seed" in body and type(body["seed"]) is not int:
        problems.append({"loc": ["body", "seed"], "msg": "Input should be an integer"})
    unknown = set(body) - {"prompt", "negative_prompt", "aspect_ratio", "seed"}
    problems.extend(
        {"loc": ["body", key], "msg": "Extra inputs are not permitted"} for key in unknown
    )
    return problems


def _error_body(status: int, error_code: int | None, message: str) -> dict[str, Any]:
    body: dict[str, Any] = {"code": status, "message": message}
    if error_code is not None:
        body["error_code"] = error_code
    return body


def _error(status: int, error_code: int, message: str) -> web.Response:
    return web.json_response(_error_body(status, error_code, message), status=status)
