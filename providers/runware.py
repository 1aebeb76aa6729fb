"""Runware's REST API (`POST {base}` with a JSON array of tasks), `imageInference` only.

Wire facts: ../shared/providers.md and Runware's model page (../shared/seeds/000_*.txt).

- One task per call; `numberResults` = the request's count, each result with its own seed and,
  with `includeCost`, its own cost (so the cost is the one Runware reports).
- Every attempt gets a fresh taskUUID (it must be unique per task). Only the inference call is
  retried; a failed image download is retried on its own, never by generating (and paying) again.
- The images come inline (`outputType: "base64Data"`) when the shared image memory has room for
  them at once, saving a download round trip per image; otherwise as URLs, whose downloads wait
  for room (providers.memory). `inline_images=False` always asks for URLs.
- Safety: the model page lists two modes, "none" and "fast", so every level sends
  `{"checkContent": true, "mode": "fast"}`. Runware flags rather than blocks [I]: the flag is
  carried on each image (`flagged_nsfw`) for the bot's safety service to act on.
- Errors come in two shapes (`{"errors": [...]}` and the legacy `{"error": true, ...}`), and an
  error status may come with a body that is not JSON at all (a proxy's 503 page): the status
  alone then decides.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

import httpx

from providers.base import (
    Capabilities,
    GeneratedImage,
    GenerationRequest,
    ImageProvider,
)
from providers.catalog import ModelOffer, ModelSpec
from providers.concurrency import gather_or_cancel
from providers.errors import (
    AuthenticationFailed,
    BadResponse,
    ContentBlocked,
    InsufficientCredits,
    InvalidRequest,
    ModelUnavailable,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    redact,
)
from providers.http import (
    decode_base64,
    decode_data_uri,
    fetch_image,
    json_body,
    parse_retry_after,
    send,
    transient_status,
)
from providers.memory import TYPICAL_IMAGE_BYTES
from providers.retry import RetryPolicy

__all__ = ["DEFAULT_BASE_URL", "KEY_ENV_VAR", "RunwareProvider"]

DEFAULT_BASE_URL = "https://api.runware.ai/v1"
KEY_ENV_VAR = "RUNWARE_API_KEY"
TRANSIENT_CODES = {"timeoutProvider", "serverError", "timeout", "providerError"}
RATE_LIMIT_CODES = {"providerRateLimitExceeded", "rateLimitExceeded"}
CREDIT_CODES = {"insufficientCredits", "insufficientBalance", "insufficientFunds"}
# [I] Only `invalidProviderContent` has been seen in the wild; the others are tolerated guesses.
BLOCKED_CODES = {"invalidProviderContent", "contentModerated", "unsafeContent"}
MODEL_CODES = {"invalidModel", "modelNotFound", "unknownModel", "unsupportedModel"}
SAFETY = {"checkContent": True, "mode": "fast"}


class RunwareProvider(ImageProvider):
    name = "runware"
    key_env_var = KEY_ENV_VAR
    capabilities = Capabilities(
        seed_input=True,
        seed_output=True,
        max_images_per_call=4,
        negative_prompt=True,
        reports_cost=True,
        cancel=False,
        safety_knobs=("safety",),
        max_concurrency=None,  # no hard rate limits: requests queue at Runware
    )

    def __init__(
        self,
        client: httpx.AsyncClient,
        api_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        retry: RetryPolicy | None = None,
        timeout: float = 60.0,
        inline_images: bool = True,
    ) -> None:
        self._client = client
        self._inline_images = inline_images
        self._key = api_key
        self._url = base_url.rstrip("/")
        self._retry = retry or RetryPolicy()
        self._timeout = httpx.Timeout(timeout, connect=min(10.0, timeout))

    def unsupported_reason(self, request: GenerationRequest, model: ModelSpec) -> str | None:
        if request.seed == 0:
            return "Runware seeds start at 1"
        return super().unsupported_reason(request, model)

    async def _generate(
        self, request: GenerationRequest, model: ModelSpec, offer: ModelOffer
    ) -> list[GeneratedImage]:
        width, height = model.size_for(request.aspect)
        with self._inline_room(request.count) as inline:
            items = await self._retry.run(
                lambda: self._infer(request, offer, width, height, inline=inline)
            )
            inline_data = [self._inline_data(item) for item in items]
            if all(found is not None for found in inline_data):
                # Returned inside the held room: the caller counts them before anything waits.
                return [
                    self._image(item, found, width, height)
                    for item, found in zip(items, inline_data, strict=True)
                    if found is not None
                ]
        # URLs (asked for, or sent anyway): each download waits for room on its own.
        return await gather_or_cancel(
            self._downloaded(item, found, width, height)
            for item, found in zip(items, inline_data, strict=True)
        )

    def _inline_room(self, count: int) -> contextlib.AbstractContextManager[bool]:
        """Whether to ask for the bytes inline: they arrive with the answer, before anything
        could wait for room, so only when the room is there now (and held for the call)."""
        if not self._inline_images:
            return contextlib.nullcontext(False)
        if self.memory is None:
            return contextlib.nullcontext(True)
        return self.memory.room_now(count * TYPICAL_IMAGE_BYTES)

    def task_for(
        self,
        request: GenerationRequest,
        offer: ModelOffer,
        width: int,
        height: int,
        *,
        inline: bool = False,
    ) -> dict[str, Any]:
        task: dict[str, Any] = {
            "taskType": "imageInference",
            "taskUUID": str(uuid.uuid4()),
            "model": offer.model_id,
            "positivePrompt": request.prompt,
            "width": width,
            "height": height,
            "numberResults": request.count,
            "outputType": "base64Data" if inline else "URL",
            "outputFormat": "JPG",
            "includeCost": True,
            "safety": dict(SAFETY),
        }
        if request.negative_prompt:
            task["negativePrompt"] = request.negative_prompt
        if request.seed is not None:
            task["seed"] = request.seed
        return task

    async def _infer(
        self,
        request: GenerationRequest,
        offer: ModelOffer,
        width: int,
        height: int,
        *,
        inline: bool,
    ) -> list[dict[str, Any]]:
        """One attempt: send the task, return this task's result items."""
        task = self.task_for(request, offer, width, height, inline=inline)
        response = await send(
            self._client,
            "POST",
            self._url,
            provider=self.name,
            timeout=self._timeout,
            json=[task],
            headers={"Authorization": f"Bearer {self._key}"},
        )
        if response.status_code >= 400:
            raise self._error(response, _lenient_json(response), offer)
        body = json_body(response, provider=self.name)
        if not isinstance(body, dict):
            raise BadResponse("answered with JSON that is not an object", provider=self.name)
        if _errors_of(body):
            raise self._error(response, body, offer)
        data = body.get("data")
        items = [
            item
            for item in (data if isinstance(data, list) else [])
            if isinstance(item, dict)
            and item.get("taskUUID", task["taskUUID"]) == task["taskUUID"]
            and item.get("taskType", "imageInference") == "imageInference"
        ]
        if not items:
            raise BadResponse(
                "answered without any image", provider=self.name, status=response.status_code
            )
        return items

    def _inline_data(self, item: dict[str, Any]) -> tuple[bytes, str] | None:
        """(bytes, mime type) when the item carries its image, None when it has to be fetched."""
        if item.get("imageBase64Data"):
            return decode_base64(item["imageBase64Data"], provider=self.name), "image/jpeg"
        if isinstance(item.get("imageDataURI"), str) and item["imageDataURI"]:
            return decode_data_uri(item["imageDataURI"], provider=self.name)
        return None

    async def _downloaded(
        self, item: dict[str, Any], found: tuple[bytes, str] | None, width: int, height: int
    ) -> GeneratedImage:
        if found is None:
            url = item.get("imageURL")
            if not isinstance(url, str) or not url:
                raise BadResponse(
                    "an image came back with neither URL nor data", provider=self.name
                )
            found = await fetch_image(
                self._client,
                url,
                provider=self.name,
                timeout=self._timeout,
                memory=self.memory,
                retry=self._retry,
            )
        return self._image(item, found, width, height)

    def _image(
        self, item: dict[str, Any], found: tuple[bytes, str], width: int, height: int
    ) -> GeneratedImage:
        data, mime = found
        url = item.get("imageURL")
        cost = item.get("cost")
        seed = item.get("seed")
        return GeneratedImage(
            data=data,
            mime_type=mime,
            url=url if isinstance(url, str) else None,
            width=width,
            height=height,
            seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
            cost_usd=float(cost) if isinstance(cost, int | float) else None,
            flagged_nsfw=bool(item.get("NSFWContent", False)),
        )

    def _error(self, response: httpx.Response, body: Any, offer: ModelOffer) -> ProviderError:
        status = response.status_code
        errors = _errors_of(body)
        first = errors[0] if errors else {}
        code = str(first.get("code", ""))
        text = str(first.get("message") or f"HTTP {status}")
        message = redact(text, self._key)
        kw: dict[str, Any] = {"provider": self.name, "status": status}
        if status == 401 or code == "invalidApiKey":
            return AuthenticationFailed(
                f"the key in {KEY_ENV_VAR} was rejected ({message})", env_var=KEY_ENV_VAR, **kw
            )
        if status == 402 or code in CREDIT_CODES:
            return InsufficientCredits(f"the Runware account is out of balance ({message})", **kw)
        if status == 429 or code in RATE_LIMIT_CODES:
            return RateLimited(
                message,
                provider=self.name,
                status=status,
                retry_after=parse_retry_after(response.headers.get("retry-after")),
            )
        if code in BLOCKED_CODES:
            return ContentBlocked(message, reason=code, **kw)
        if code in MODEL_CODES or (first.get("parameter") == "model" and status in (400, 404)):
            return ModelUnavailable(
                f"{offer.model_id} is not available ({message})", model=offer.model_id, **kw
            )
        if status == 403:
            return AuthenticationFailed(
                f"the key in {KEY_ENV_VAR} is not allowed to do this ({message})",
                env_var=KEY_ENV_VAR,
                **kw,
            )
        if transient_status(status) or code in TRANSIENT_CODES:
            return ProviderUnavailable(message, **kw)
        return InvalidRequest(message, **kw)


def _lenient_json(response: httpx.Response) -> Any:
    """An error answer's body when it is JSON, else None (the status decides)."""
    try:
        return response.json()
    except ValueError:
        return None


def _errors_of(body: Any) -> list[dict[str, Any]]:
    """Runware's error list, in either of its documented shapes."""
    if not isinstance(body, dict):
        return []
    if isinstance(body.get("errors"), list) and body["errors"]:
        return [e for e in body["errors"] if isinstance(e, dict)] or [{}]
    if body.get("error") is True:
        return [{"code": str(body.get("errorId", "")), "message": body.get("errorMessage", "")}]
    return []
