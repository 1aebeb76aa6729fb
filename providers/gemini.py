"""Google's Gemini API (`POST {base}/v1beta/models/{model}:predict`), Imagen text-to-image only.

Wire facts: ../shared/providers.md ("Google Gemini API"). The call is synchronous and answers with
image bytes, never URLs. There is no seed and no negative prompt on this API.

Filtering. With `includeRaiReason` each withheld image comes back as a prediction holding only
`raiFilteredReason`. When every image was withheld the call raises `ContentBlocked`; when only
some were, the others are returned, so the result can hold fewer images than asked for (the base
class then prices what was delivered). A 200 answer with no predictions at all is also read as
"everything was filtered" [I]: Google's SDK returns no images in that case rather than an error.

Errors arrive as `{"error": {"code", "message", "status", "details": [...]}}`, where `details`
holds typed objects (`google.rpc.ErrorInfo` with a `reason`, `google.rpc.RetryInfo` with a
`retryDelay` such as "7s"). The Imagen models were retired from this API in 2026 and their ids
answer 404: that is `ModelUnavailable`, so the router can fall back.
"""

from __future__ import annotations

import re
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
    InvalidRequest,
    ModelUnavailable,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    redact,
)
from providers.http import decode_base64, json_body, parse_retry_after, send, transient_status
from providers.retry import RetryPolicy

__all__ = ["DEFAULT_BASE_URL", "KEY_ENV_VAR", "GeminiProvider"]

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
KEY_ENV_VAR = "GEMINI_API_KEY"

# The REST docs spell these lower-case; Google's SDK sends the upper-case enum names. The server
# accepts both [I]; we follow the documented REST spelling.
SAFETY_SETTINGS = {
    SafetyLevel.STRICT: "block_low_and_above",
    SafetyLevel.STANDARD: "block_medium_and_above",
    SafetyLevel.RELAXED: "block_only_high",
}

_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
_AUTH_REASONS = {"API_KEY_INVALID", "API_KEY_EXPIRED", "API_KEY_SERVICE_BLOCKED"}
# How a refused prompt reads: "... violate Google's Responsible AI practices ..." [V]; the other
# phrasings are seen in third-party reports only [I]. A bare "safety" is not enough: a refused
# `safetySetting` value ("only block_low_and_above is supported") is an invalid request.
_BLOCKED_WORDS = re.compile(
    r"responsible ai|sensitive words|blocked[^.]*\bsafety\b|\bsafety\b[^.]*blocked|safety filter",
    re.IGNORECASE,
)
_MODEL_GONE = re.compile(r"is not found for api version|not supported for predict", re.IGNORECASE)


class GeminiProvider(ImageProvider):
    name = "gemini"
    key_env_var = KEY_ENV_VAR
    # Imagen takes prompts of up to 480 tokens; tokens are not characters, so the shared character
    # limit stays and a longer prompt is refused by Google as `InvalidRequest`.
    capabilities = Capabilities(
        seed_input=False,
        seed_output=False,
        max_images_per_call=4,
        negative_prompt=False,
        reports_cost=False,
        cancel=False,
        safety_knobs=("safetySetting", "personGeneration"),
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
        self._base = base_url.rstrip("/")
        self._retry = retry or RetryPolicy()
        self._timeout = httpx.Timeout(timeout, connect=10.0)

    async def _generate(
        self, request: GenerationRequest, model: ModelSpec, offer: ModelOffer
    ) -> list[GeneratedImage]:
        return await self._retry.run(lambda: self._attempt(request, model, offer))

    def url_for(self, offer: ModelOffer) -> str:
        model_id = offer.model_id.removeprefix("models/")
        return f"{self._base}/v1beta/models/{model_id}:predict"

    def body_for(self, request: GenerationRequest) -> dict[str, Any]:
        return {
            "instances": [{"prompt": request.prompt}],
            "parameters": {
                "sampleCount": request.count,
                "aspectRatio": request.aspect.value,
                "personGeneration": request.safety.people.value,
                "safetySetting": SAFETY_SETTINGS[request.safety.level],
                "includeRaiReason": True,
                "outputOptions": {"mimeType": "image/jpeg"},
            },
        }

    async def _attempt(
        self, request: GenerationRequest, model: ModelSpec, offer: ModelOffer
    ) -> list[GeneratedImage]:
        response = await send(
            self._client,
            "POST",
            self.url_for(offer),
            provider=self.name,
            timeout=self._timeout,
            json=self.body_for(request),
            headers={"x-goog-api-key": self._key},
        )
        if response.status_code >= 400:
            raise self._error(response, offer)
        body = json_body(response, provider=self.name)
        return self._images(body, model, request)

    def _images(
        self, body: Any, model: ModelSpec, request: GenerationRequest
    ) -> list[GeneratedImage]:
        if not isinstance(body, dict):
            raise BadResponse("answered with JSON that is not an object", provider=self.name)
        predictions = body.get("predictions")
        if predictions is None or predictions == []:
            # Nothing delivered and nothing said: Google's filters withheld everything [I].
            raise ContentBlocked(
                "no image came back; Google's safety filters withheld them",
                provider=self.name,
                reason="no images returned",
            )
        if not isinstance(predictions, list):
            raise BadResponse("`predictions` is not a list", provider=self.name)
        width, height = model.size_for(request.aspect)
        images: list[GeneratedImage] = []
        filtered: list[str] = []
        for prediction in predictions:
            if not isinstance(prediction, dict):
                raise BadResponse("a prediction is not an object", provider=self.name)
            encoded = prediction.get("bytesBase64Encoded")
            if isinstance(encoded, str) and encoded:
                data = decode_base64(encoded, provider=self.name, what="bytesBase64Encoded")
                images.append(
                    GeneratedImage(
                        data=data,
                        mime_type=str(prediction.get("mimeType") or "image/jpeg"),
                        seed=None,
                        width=width,
                        height=height,
                    )
                )
            elif prediction.get("raiFilteredReason"):
                filtered.append(str(prediction["raiFilteredReason"]))
            # Anything else (for instance a prompt's `safetyAttributes`, sent only when asked
            # for) is not an image and is skipped.
        if images:
            return images
        if filtered:
            reason = redact(filtered[0], self._key)
            raise ContentBlocked(
                f"every image was withheld by Google's filters ({reason})",
                provider=self.name,
                reason=reason,
            )
        raise BadResponse("the predictions hold neither images nor reasons", provider=self.name)

    def _error(self, response: httpx.Response, offer: ModelOffer) -> ProviderError:
        status = response.status_code
        error = _error_object(response)
        message = redact(str(error.get("message") or f"HTTP {status}"), self._key)
        rpc_status = str(error.get("status") or "")
        details = [d for d in error.get("details") or [] if isinstance(d, dict)]
        reasons = {str(d.get("reason")) for d in details if d.get("@type") == _ERROR_INFO}
        kw: dict[str, Any] = {"provider": self.name, "status": status}
        if reasons & _AUTH_REASONS or status == 401 or rpc_status == "UNAUTHENTICATED":
            return AuthenticationFailed(
                f"the API key in {KEY_ENV_VAR} was rejected ({message})", env_var=KEY_ENV_VAR, **kw
            )
        if status == 403 or rpc_status == "PERMISSION_DENIED":
            return AuthenticationFailed(
                f"the API key in {KEY_ENV_VAR} may not use this model ({message})",
                env_var=KEY_ENV_VAR,
                **kw,
            )
        if status == 429 or rpc_status == "RESOURCE_EXHAUSTED":
            retry_after = _retry_delay(details)
            if retry_after is None:
                retry_after = parse_retry_after(response.headers.get("retry-after"))
            return RateLimited(message, provider=self.name, status=status, retry_after=retry_after)
        if transient_status(status):
            return ProviderUnavailable(message, **kw)
        if status in (404, 410) or rpc_status == "NOT_FOUND" or _MODEL_GONE.search(message):
            return ModelUnavailable(
                f"{offer.model_id} is not available ({message})", model=offer.model_id, **kw
            )
        if _BLOCKED_WORDS.search(message):
            return ContentBlocked(message, reason=message, **kw)
        return InvalidRequest(message, **kw)


def _error_object(response: httpx.Response) -> dict[str, Any]:
    """The `error` object, or {} when the body is not Google's error shape (a proxy's HTML page)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    if isinstance(body, list) and body:  # some Google front ends wrap the error in a list [I]
        body = body[0]
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _retry_delay(details: list[dict[str, Any]]) -> float | None:
    """Seconds from a RetryInfo detail: "7s" / "0.5s" as JSON maps a Duration [V], or the proto
    object {"seconds", "nanos"} [I]."""
    for detail in details:
        if detail.get("@type") != _RETRY_INFO:
            continue
        delay = detail.get("retryDelay")
        if isinstance(delay, str):
            match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)s\s*", delay)
            if match:
                return float(match.group(1))
        elif isinstance(delay, dict):
            try:
                return float(delay.get("seconds", 0)) + float(delay.get("nanos", 0)) / 1e9
            except (TypeError, ValueError):
                return None
        elif isinstance(delay, int | float):
            return float(delay)
    return None
