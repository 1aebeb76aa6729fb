"""A loopback fake of AI/ML API's `POST /v1/images/generations` for the Imagen 4 models.

Written from AI/ML API's documentation, not from our client:
- ../shared/seeds/003_*.txt (the Imagen 4 Fast page): Bearer auth; `model` (enum), `prompt`
  (required, max 400), `num_images` (max 4, default 1), `seed` (max 4294967295), `aspect_ratio`
  (1:1 default, 9:16, 16:9, 3:4, 4:3), `person_generation` (dont_allow | allow_adult),
  `safety_setting` (block_low_and_above | block_medium_and_above | block_only_high),
  `enhance_prompt` (default true), `add_watermark`, `convert_base64_to_url` (default true: a URL,
  else base64); answered 201 with `{"data":[{"url","b64_json"}]}`, the real example adding
  `mime_type` and the rewritten `prompt`, and `"meta":{"usage":{"tokens_used"}}`.
- docs.aimlapi.com/errors-and-messages: `{message, path, requestId, statusCode, timestamp}` (the
  example's statusCode is a string); 400 "Body validation error!", 401 key, 403 no credits,
  404 not found, 429 without Retry-After.
- ../shared/providers.md: success is 200 in newer answers, 201 in older docs (`success_status`).

[I] (inferred): how an unknown model is refused (404 "Model ... not found" here), the message of
a prompt refused by Google's filter, refusing fields the schema does not list, and a seed never
being echoed.
"""

from __future__ import annotations

import base64
import uuid
from types import TracebackType
from typing import Any

from aiohttp import web

from tests.fakes.loopback import LoopbackServer
from tests.fakes.scripting import Recorded, Reply, Script, Stall, png_bytes

__all__ = ["MODELS", "AimlApiFake"]

MODELS = {
    "google/imagen-4.0-fast-generate-001",
    "google/imagen-4.0-generate-001",
    "google/imagen-4.0-ultra-generate-001",
}
ASPECT_RATIOS = {"1:1", "9:16", "16:9", "3:4", "4:3"}
PEOPLE = {"dont_allow", "allow_adult"}
SAFETY = {"block_low_and_above", "block_medium_and_above", "block_only_high"}
BOOLEANS = ("enhance_prompt", "add_watermark", "convert_base64_to_url")
FIELDS = {"model", "prompt", "num_images", "seed", "aspect_ratio", "person_generation",
          "safety_setting", *BOOLEANS}  # fmt: skip
PATH = "/v1/images/generations"


class AimlApiFake:
    """AI/ML API on 127.0.0.1. Hand `base_url` to the client."""

    def __init__(
        self,
        *,
        api_key: str = "aiml-fake-key-3e5c7a9b",
        success_status: int = 201,
        blocked_words: tuple[str, ...] = ("forbidden-subject",),
    ) -> None:
        self.api_key = api_key
        self.success_status = success_status
        self.blocked_words = blocked_words
        self.requests: list[Recorded] = []
        self.downloads: list[str] = []
        self.generated: list[bytes] = []  # every image made, in order
        self.script = Script()
        self._images: dict[str, bytes] = {}
        self._made = 0
        self.app = web.Application()
        self.app.router.add_post(PATH, self._generate)
        self.app.router.add_get("/generations/{name}", self._image)
        self._server = LoopbackServer(self.app)

    @property
    def base_url(self) -> str:
        return self._server.base_url

    async def __aenter__(self) -> AimlApiFake:
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
        self, status: int, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        self.script.add(
            "generate", Reply(status, _error_body(status, message), headers=headers or {})
        )

    def reply_next(self, *replies: Reply) -> None:
        self.script.add("generate", *replies)

    def stall_next(self) -> Stall:
        stall = Stall()
        self.script.add("generate", stall)
        return stall

    def fail_next_download(self, status: int) -> None:
        self.script.add("image", Reply(status, text="", content_type="text/plain"))

    @property
    def bodies(self) -> list[Any]:
        return [recorded.body for recorded in self.requests]

    # -- handlers ------------------------------------------------------------------------------

    async def _generate(self, request: web.Request) -> web.Response:
        recorded = await Recorded.of(request)
        self.requests.append(recorded)
        scripted = await self.script.play("generate")
        if scripted is not None:
            return scripted
        if recorded.headers.get("authorization") != f"Bearer {self.api_key}":
            return _error(401, "Unauthorized")
        body = recorded.body
        problem = _validate(body)
        if problem:
            return _error(400, f"Body validation error! {problem}")
        if body["model"] not in MODELS:
            return _error(404, f"Model {body['model']} not found")
        if any(word in body["prompt"].lower() for word in self.blocked_words):
            return _error(
                400, "The prompt was blocked by the safety filter (Responsible AI practices)."
            )
        as_url = body.get("convert_base64_to_url", True)
        prompt = body["prompt"]
        if body.get("enhance_prompt", True):
            prompt = f"A detailed, high-quality photo: {prompt}"
        data = []
        for _ in range(body.get("num_images", 1)):
            self._made += 1
            image = png_bytes(self._made)
            self.generated.append(image)
            item: dict[str, Any] = {"mime_type": "image/png", "prompt": prompt}
            if as_url:
                name = f"{uuid.uuid4()}.png"
                self._images[name] = image
                item["url"] = f"{self.base_url}/generations/{name}"
            else:
                item["b64_json"] = base64.b64encode(image).decode()
            data.append(item)
        answer = {"data": data, "meta": {"usage": {"tokens_used": 42000 * len(data)}}}
        return web.json_response(answer, status=self.success_status)

    async def _image(self, request: web.Request) -> web.Response:
        self.downloads.append(request.path)
        scripted = await self.script.play("image")
        if scripted is not None:
            return scripted
        image = self._images.get(request.match_info["name"])
        if image is None:
            return web.Response(status=404, text="not found")
        return web.Response(body=image, content_type="image/png")


def _validate(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "Expected object, received " + type(body).__name__
    unknown = set(body) - FIELDS
    if unknown:
        return f"Unrecognized key(s) in object: {', '.join(sorted(unknown))}"
    if not isinstance(body.get("model"), str):
        return "model: Required"
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        return "prompt: Required"
    if len(prompt) > 400:
        return "prompt: String must contain at most 400 character(s)"
    count = body.get("num_images", 1)
    if type(count) is not int or not 1 <= count <= 4:
        return "num_images: Number must be between 1 and 4"
    seed = body.get("seed", 0)
    if type(seed) is not int or not 0 <= seed <= 4_294_967_295:
        return "seed: Number must be between 0 and 4294967295"
    if body.get("aspect_ratio", "1:1") not in ASPECT_RATIOS:
        return "aspect_ratio: Invalid enum value"
    if body.get("person_generation", "allow_adult") not in PEOPLE:
        return "person_generation: Invalid enum value"
    if body.get("safety_setting", "block_medium_and_above") not in SAFETY:
        return "safety_setting: Invalid enum value"
    for name in BOOLEANS:
        if name in body and not isinstance(body[name], bool):
            return f"{name}: Expected boolean"
    return None


def _error_body(status: int, message: str) -> dict[str, Any]:
    return {
        "message": message,
        "path": PATH,
        "requestId": str(uuid.uuid4()),
        "statusCode": str(status),  # a string in the documented example
        "timestamp": "2026-11-22T10:00:00.000Z",
    }


def _error(status: int, message: str) -> web.Response:
    return web.json_response(_error_body(status, message), status=status)
