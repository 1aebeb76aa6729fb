"""Runware's REST API (`POST {base}` with a JSON array of tasks), `imageInference` only.

Wire facts: ../shared/providers.md. Each attempt gets a fresh taskUUID (it must be unique per task).
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from typing import Any

import httpx

from providers.base import (
    Capabilities,
    GeneratedImage,
    GenerationRequest,
    ImageProvider,
    SafetyLevel,
)
from providers.catalog import ModelOffer, ModelSpec
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
from providers.http import fetch_image, json_body, parse_retry_after, send
from providers.retry import RetryPolicy

__all__ = ["DEFAULT_BASE_URL", "RunwareProvider"]

DEFAULT_BASE_URL = "https://api.runware.ai/v1"
KEY_ENV_VAR = "RUNWARE_API_KEY"
TRANSIENT_CODES = {"timeoutProvider", "providerRateLimitExceeded", "serverError", "timeout"}
BLOCKED_CODES = {"invalidProviderContent", "contentModerated", "unsafeContent"}
MODEL_CODES = {"invalidModel", "modelNotFound", "unknownModel", "unsupportedModel"}

SAFETY_MODES = {
    SafetyLevel.STRICT: {"checkContent": True, "mode": "full"},
    SafetyLevel.STANDARD: {"checkContent": True, "mode": "fast"},
    SafetyLevel.RELAXED: {"checkContent": True, "mode": "fast"},
}


class RunwareProvider(ImageProvider):
    name = "runware"
    key_env_var = KEY_ENV_VAR
    capabilities = Capabilities(
        seed_input=True,
        seed_output=True,
        max_images_per_call=4,
        negative_prompt=True,
        reports_cost=True,
        safety_knobs=("safety",),
    )

    def __init__(
        self,
        client: httpx.AsyncClient,
        api_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        retry: RetryPolicy | None = None,
        timeout: float = 60.0,
    ) -> None:
        self._client = client
        self._key = api_key
        self._url = base_url.rstrip("/")
        self._retry = retry or RetryPolicy()
        self._timeout = httpx.Timeout(timeout, connect=10.0)

    def unsupported_reason(self, request: GenerationRequest, model: ModelSpec) -> str | None:
        if request.seed == 0:
            return "Runware seeds start at 1"
        return super().unsupported_reason(request, model)

    async def _generate(
        self, request: GenerationRequest, model: ModelSpec, offer: ModelOffer
    ) -> list[GeneratedImage]:
        return await self._retry.run(lambda: self._attempt(request, model, offer))

    def task_for(self, request: GenerationRequest, model: ModelSpec, offer: ModelOffer) -> dict:
        width, height = model.size_for(request.aspect)
        task: dict[str, Any] = {
            "taskType": "imageInference",
            "taskUUID": str(uuid.uuid4()),
            "model": offer.model_id,
            "positivePrompt": request.prompt,
            "width": width,
            "height": height,
            "numberResults": request.count,
            "outputType": "URL",
            "outputFormat": "JPG",
            "includeCost": True,
            "safety": SAFETY_MODES[request.safety.level],
        }
        if request.negative_prompt:
            task["negativePrompt"] = request.negative_prompt
        if request.seed is not None:
            task["seed"] = request.seed
        return task

    async def _attempt(
        self, request: GenerationRequest, model: ModelSpec, offer: ModelOffer
    ) -> list[GeneratedImage]:
        task = self.task_for(request, model, offer)
        response = await send(
            self._client,
            "POST",
            self._url,
            provider=self.name,
            timeout=self._timeout,
            json=[task],
            headers={"Authorization": f"Bearer {self._key}"},
        )
        body = json_body(response, provider=self.name) if response.content else None
        if response.status_code >= 400 or _errors_of(body):
            raise self._error(response, body, offer)
        items = [
            item
            for item in (body or {}).get("data", [])
            if isinstance(item, dict)
            and item.get("taskUUID", task["taskUUID"]) == task["taskUUID"]
            and item.get("taskType", "imageInference") == "imageInference"
        ]
        if not items:
            raise BadResponse(
                "answered without any image", provider=self.name, status=response.status_code
            )
        return list(await asyncio.gather(*(self._image(item, model, request) for item in items)))

    async def _image(
        self, item: dict, model: ModelSpec, request: GenerationRequest
    ) -> GeneratedImage:
        width, height = model.size_for(request.aspect)
        url = item.get("imageURL")
        if item.get("imageBase64Data"):
            data, mime = base64.b64decode(item["imageBase64Data"]), "image/jpeg"
        elif isinstance(url, str) and url:
            data, mime = await fetch_image(
                self._client, url, provider=self.name, timeout=self._timeout
            )
        else:
            raise BadResponse("an image came back with neither URL nor data", provider=self.name)
        cost = item.get("cost")
        seed = item.get("seed")
        return GeneratedImage(
            data=data,
            mime_type=mime,
            url=url,
            width=width,
            height=height,
            seed=int(seed) if isinstance(seed, int | float) else None,
            cost_usd=float(cost) if isinstance(cost, int | float) else None,
            flagged_nsfw=bool(item.get("NSFWContent", False)),
        )

    def _error(self, response: httpx.Response, body: Any, offer: ModelOffer) -> ProviderError:
        status = response.status_code
        errors = _errors_of(body)
        first = errors[0] if errors else {}
        code = str(first.get("code", ""))
        message = redact(
            str(first.get("message") or first.get("errorMessage") or f"HTTP {status}"), self._key
        )
        kw: dict[str, Any] = {"provider": self.name, "status": status}
        if status == 401 or code == "invalidApiKey":
            return AuthenticationFailed(
                f"the API key was rejected ({message})", env_var=KEY_ENV_VAR, **kw
            )
        if status == 402 or code in {"insufficientCredits", "insufficientBalance"}:
            return InsufficientCredits(message, **kw)
        if status == 429:
            return RateLimited(
                message,
                provider=self.name,
                status=status,
                retry_after=parse_retry_after(response.headers.get("retry-after")),
            )
        if status >= 500 or code in TRANSIENT_CODES:
            return ProviderUnavailable(message, **kw)
        if code in BLOCKED_CODES:
            return ContentBlocked(message, reason=code, **kw)
        if code in MODEL_CODES or (first.get("parameter") == "model" and status in (400, 404)):
            return ModelUnavailable(message, model=offer.model_id, **kw)
        if status == 403:
            return AuthenticationFailed(
                f"the API key is not allowed to do this ({message})", env_var=KEY_ENV_VAR, **kw
            )
        return InvalidRequest(message, **kw)


def _errors_of(body: Any) -> list[dict]:
    """Runware's error list, in either of its documented shapes."""
    if not isinstance(body, dict):
        return []
    if isinstance(body.get("errors"), list) and body["errors"]:
        return [e for e in body["errors"] if isinstance(e, dict)] or [{}]
    if body.get("error") is True:
        return [{"code": str(body.get("errorId", "")), "message": body.get("errorMessage", "")}]
    return []
