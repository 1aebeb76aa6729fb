"""A loopback fake of Runware's REST API (`POST /v1`, a JSON array of tasks), `imageInference` only.

Written from Runware's documentation, not from our client:
- ../shared/seeds/000_*.txt, Runware's page for Imagen 4 Fast (`google:2@3`): every option, its
  range, and four real request/response pairs (one item per image: taskType, taskUUID, imageUUID,
  imageURL, seed, cost). That page lists two safety modes for the model: "none" and "fast".
- runware.ai/docs/platform/errors: `{"errors":[{code,message,parameter,taskType,taskUUID,
  documentation}]}` (sometimes with `"data":[]`), errors scoped to the failing task; HTTP 400
  validation, 401 no valid key, 402 balance, 403 key lacks permission, 429/503/504 transient.
- ../shared/providers.md: Bearer auth or a first `authentication` task; the legacy error shape
  `{"error":true,"errorId":..,"errorMessage":..}`; Imagen sizes; numberResults capped at 4
  by Google.

[I] (inferred, not documented): the `code` strings for validation failures other than
`invalidApiKey` (we follow the `invalid<Parameter>` pattern seen in a real `invalidWidth` answer),
`invalidModel` for an unknown model (the message is a real one), `invalidProviderContent` for
Google's moderation, the seeds given to results 2..n when a seed is sent (seed+1, seed+2, ...),
and the refusal of a taskUUID already used.

Served images are tiny real JPEGs at `/image/{imageUUID}.jpg` on the fake itself.
"""

from __future__ import annotations

import base64
import random
import uuid
from types import TracebackType
from typing import Any

from aiohttp import web

from tests.fakes.loopback import LoopbackServer
from tests.fakes.scripting import Recorded, Reply, Script, Stall, jpeg_bytes

__all__ = ["IMAGEN_SIZES", "MODEL_PRICES", "RunwareFake"]

MODEL_PRICES = {"google:2@3": 0.02, "google:2@1": 0.04, "google:2@2": 0.06}
IMAGEN_SIZES = {(1024, 1024), (1408, 768), (768, 1408), (1280, 896), (896, 1280)}
GOOGLE_MAX_RESULTS = 4
MAX_SEED = 2**63 - 1
UNKNOWN_MODEL_MESSAGE = (
    "Invalid value for model parameter. "
    "Model must be an string value representing a valid AIR identifier."
)


def _is_int(value: Any) -> bool:
    return type(value) is int


def _uuid4(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return False
    return parsed.version == 4 and str(parsed) == value.lower()


class RunwareFake:
    """Runware on 127.0.0.1. `url` is the endpoint to hand to the client as its base URL."""

    def __init__(
        self,
        *,
        api_key: str = "rw-fake-key-5f1c9d2e",
        blocked_words: tuple[str, ...] = ("forbidden-subject",),
        nsfw_words: tuple[str, ...] = ("nsfw-marker",),
    ) -> None:
        self.api_key = api_key
        self.blocked_words = blocked_words
        self.nsfw_words = nsfw_words
        self.requests: list[Recorded] = []
        self.downloads: list[str] = []
        self.script = Script()
        self._seen_task_uuids: set[str] = set()
        self._images: dict[str, bytes] = {}
        self.app = web.Application()
        self.app.router.add_post("/v1", self._tasks)
        self.app.router.add_get("/image/{name}", self._image)
        self._server = LoopbackServer(self.app)

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self._server.url("/v1")

    async def __aenter__(self) -> RunwareFake:
        await self._server.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.script.release_all()
        await self._server.stop()

    # -- scripting -----------------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        code: str,
        message: str,
        *,
        parameter: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """The next task request fails with the documented `errors` shape."""
        error: dict[str, Any] = {"code": code, "message": message, "taskType": "imageInference"}
        if parameter:
            error["parameter"] = parameter
        self.script.add("tasks", Reply(status, {"errors": [error]}, headers=headers or {}))

    def fail_next_legacy(self, status: int, error_id: int, message: str) -> None:
        """The next task request fails with the legacy `{"error": true, ...}` shape."""
        body = {"error": True, "errorId": error_id, "errorMessage": message}
        self.script.add("tasks", Reply(status, body))

    def reply_next(self, *replies: Reply) -> None:
        self.script.add("tasks", *replies)

    def stall_next(self) -> Stall:
        stall = Stall()
        self.script.add("tasks", stall)
        return stall

    def fail_next_download(self, status: int) -> None:
        self.script.add("image", Reply(status, text="", content_type="text/plain"))

    @property
    def tasks(self) -> list[dict[str, Any]]:
        """Every imageInference task received, in order."""
        return [
            task
            for recorded in self.requests
            if isinstance(recorded.body, list)
            for task in recorded.body
            if isinstance(task, dict) and task.get("taskType") == "imageInference"
        ]

    # -- handlers ------------------------------------------------------------------------------

    async def _tasks(self, request: web.Request) -> web.Response:
        recorded = await Recorded.of(request)
        self.requests.append(recorded)
        scripted = await self.script.play("tasks")
        if scripted is not None:
            return scripted

        tasks = recorded.body
        if not isinstance(tasks, list) or not tasks:
            return _errors(400, [_error("invalidTaskArray", "The body must be an array of tasks.")])
        if not self._authenticated(recorded.headers, tasks):
            return _errors(
                401,
                [
                    {
                        "code": "invalidApiKey",
                        "message": "Invalid API key. Get one at https://my.runware.ai/signup",
                        "parameter": "apiKey",
                        "taskType": "authentication",
                    }
                ],
            )
        data: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for task in tasks:
            if not isinstance(task, dict):
                errors.append(_error("invalidTask", "Every task must be an object."))
                continue
            if task.get("taskType") == "authentication":
                continue
            if task.get("taskType") != "imageInference":
                errors.append(
                    _error("invalidTaskType", "Unsupported taskType.", parameter="taskType")
                )
                continue
            problem = self._validate(task)
            if problem:
                errors.append(problem)
                continue
            self._seen_task_uuids.add(task["taskUUID"])
            data.extend(self._results(task, request))
        if errors:
            if data:  # errors are scoped to the failing task; the others still succeed
                return web.json_response({"data": data, "errors": errors})
            return _errors(400, errors)
        return web.json_response({"data": data})

    async def _image(self, request: web.Request) -> web.Response:
        self.downloads.append(request.path)
        scripted = await self.script.play("image")
        if scripted is not None:
            return scripted
        name = request.match_info["name"].removesuffix(".jpg")
        if name not in self._images:
            return web.Response(status=404, text="not found")
        return web.Response(body=self._images[name], content_type="image/jpeg")

    # -- the documented behaviour --------------------------------------------------------------

    def _authenticated(self, headers: dict[str, str], tasks: list[Any]) -> bool:
        if headers.get("authorization") == f"Bearer {self.api_key}":
            return True
        first = tasks[0]
        return (
            isinstance(first, dict)
            and first.get("taskType") == "authentication"
            and first.get("apiKey") == self.api_key
        )

    def _validate(self, task: dict[str, Any]) -> dict[str, Any] | None:
        task_uuid = task.get("taskUUID")

        def invalid(parameter: str, message: str, code: str | None = None) -> dict[str, Any]:
            code = code or "invalid" + parameter[0].upper() + parameter[1:]
            return _error(code, message, parameter=parameter, task_uuid=task_uuid)

        if not _uuid4(task_uuid):
            return invalid("taskUUID", "Invalid value for taskUUID. It must be a UUID v4.")
        if task_uuid in self._seen_task_uuids:
            return invalid("taskUUID", "This taskUUID was already used.", code="duplicateTaskUUID")
        model = task.get("model")
        if model not in MODEL_PRICES:
            return invalid("model", UNKNOWN_MODEL_MESSAGE)
        for name in ("positivePrompt", "negativePrompt"):
            if name == "negativePrompt" and name not in task:
                continue
            text = task.get(name)
            if not isinstance(text, str) or not 2 <= len(text) <= 3000:
                return invalid(name, f"Invalid value for {name}: between 2 and 3000 characters.")
        width, height = task.get("width"), task.get("height")
        if not (_is_int(width) and _is_int(height)) or (width, height) not in IMAGEN_SIZES:
            sizes = ", ".join(f"{w}x{h}" for w, h in sorted(IMAGEN_SIZES))
            return invalid("width", f"Invalid dimensions for this model. Supported: {sizes}.")
        count = task.get("numberResults", 1)
        if not _is_int(count) or not 1 <= count <= GOOGLE_MAX_RESULTS:
            return invalid("numberResults", "numberResults must be between 1 and 4 for Google.")
        if "seed" in task and (not _is_int(task["seed"]) or not 1 <= task["seed"] <= MAX_SEED):
            return invalid("seed", f"seed must be an integer between 1 and {MAX_SEED}.")
        if task.get("outputType", "URL") not in {"URL", "base64Data", "dataURI"}:
            return invalid("outputType", "outputType must be URL, base64Data or dataURI.")
        if task.get("outputFormat", "JPG") not in {"JPG", "PNG", "WEBP"}:
            return invalid("outputFormat", "outputFormat must be JPG, PNG or WEBP.")
        quality = task.get("outputQuality", 95)
        if not _is_int(quality) or not 20 <= quality <= 99:
            return invalid("outputQuality", "outputQuality must be between 20 and 99.")
        if not isinstance(task.get("includeCost", False), bool):
            return invalid("includeCost", "includeCost must be a boolean.")
        safety = task.get("safety", {})
        if not isinstance(safety, dict) or not isinstance(safety.get("checkContent", False), bool):
            return invalid("safety", "safety.checkContent must be a boolean.")
        if safety.get("mode", "fast") not in {"none", "fast"}:
            return invalid("safety", "safety.mode must be one of: none, fast.")
        prompt = task["positivePrompt"].lower()
        if any(word in prompt for word in self.blocked_words):
            return _error(
                "invalidProviderContent",
                "The content was flagged by the provider's moderation.",
                task_uuid=task_uuid,
            )
        return None

    def _results(self, task: dict[str, Any], request: web.Request) -> list[dict[str, Any]]:
        count = task.get("numberResults", 1)
        first = task.get("seed")
        safety = task.get("safety", {})
        checked = bool(safety.get("checkContent")) and safety.get("mode", "fast") != "none"
        flagged = any(word in task["positivePrompt"].lower() for word in self.nsfw_words)
        base = f"http://{request.host}"
        results = []
        for index in range(count):
            seed = min(first + index, MAX_SEED) if first else random.randint(1, 2**31 - 1)
            image_uuid = str(uuid.uuid4())
            data = jpeg_bytes(seed)
            self._images[image_uuid] = data
            item: dict[str, Any] = {
                "taskType": "imageInference",
                "taskUUID": task["taskUUID"],
                "imageUUID": image_uuid,
                "seed": seed,
            }
            output = task.get("outputType", "URL")
            if output == "URL":
                item["imageURL"] = f"{base}/image/{image_uuid}.jpg"
            elif output == "base64Data":
                item["imageBase64Data"] = base64.b64encode(data).decode()
            else:
                item["imageDataURI"] = "data:image/jpeg;base64," + base64.b64encode(data).decode()
            if checked:
                item["NSFWContent"] = flagged
            if task.get("includeCost"):
                item["cost"] = MODEL_PRICES[task["model"]]
            results.append(item)
        return results


def _error(
    code: str, message: str, *, parameter: str | None = None, task_uuid: Any = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "taskType": "imageInference"}
    if parameter:
        error["parameter"] = parameter
        error["documentation"] = (
            f"https://runware.ai/docs/image-inference/api-reference#{parameter}"
        )
    if isinstance(task_uuid, str):
        error["taskUUID"] = task_uuid
    return error


def _errors(status: int, errors: list[dict[str, Any]]) -> web.Response:
    return web.json_response({"data": [], "errors": errors}, status=status)
