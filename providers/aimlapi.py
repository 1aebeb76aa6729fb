"""AI/ML API's OpenAI-style image endpoint: `POST {base}/v1/images/generations`, synchronous.

Wire facts: ../shared/providers.md and AI/ML API's page for Imagen 4 Fast
(../shared/seeds/003_*.txt), its error pages (docs.aimlapi.com/errors-and-messages).

- Prompts of at most 400 characters (`capabilities.max_prompt_chars`, so the router skips this
  provider for longer ones); 1-4 images per call; no negative prompt.
- The seed is not echoed. The base class chooses one when the user did not (seed_input without
  seed_output), this client sends it and reports it on every image of the call: the same seed and
  count reproduce the same set of images.
- `enhance_prompt` defaults to true at AI/ML API and rewrites the user's prompt with an LLM; here
  it is off unless the operator turns it on (`enhance_prompt=True`).
- Safety: `safety_setting` from the level, `person_generation` from the people policy.
- Images come inline (`b64_json`, asked for with `convert_base64_to_url: false`, which saves a
  download) or as a URL; both are handled, whichever the answer holds.
- Errors `{message, path, requestId, statusCode, timestamp}`: 401 key, 403 out of credits,
  404 unknown model, 429 rate limit, 408 and 5xx unavailable; a 400 is a validation error unless
  its message is about safety (ContentBlocked) or the model (ModelUnavailable).
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
    fetch_image,
    json_body,
    parse_retry_after,
    send,
    transient_status,
)
from providers.retry import RetryPolicy

__all__ = ["DEFAULT_BASE_URL", "KEY_ENV_VAR", "MAX_PROMPT_CHARS", "AimlApiProvider"]

DEFAULT_BASE_URL = "https://api.aimlapi.com"
KEY_ENV_VAR = "AIMLAPI_API_KEY"
MAX_PROMPT_CHARS = 400
SAFETY_SETTINGS = {
    SafetyLevel.STRICT: "block_low_and_above",
    SafetyLevel.STANDARD: "block_medium_and_above",
    SafetyLevel.RELAXED: "block_only_high",
}
# Phrases of a safety refusal; not the bare word "safety", which a validation error about the
# `safety_setting` field also contains.
SAFETY_WORDS = (
    "safety system",
    "safety filter",
    "blocked",
    "responsible ai",
    "content policy",
    "moderation",
    "nsfw",
    "sensitive",
    "prohibited",
)
ABOUT_MODEL = re.compile(
    r"\bmodel\b[^;\n]*?\b(not found|does not exist|not supported|unsupported|is invalid|unknown)\b"
    r"|\b(unknown|invalid|unsupported) model\b"
)


class AimlApiProvider(ImageProvider):
    name = "aimlapi"
    key_env_var = KEY_ENV_VAR
    capabilities = Capabilities(
        seed_input=True,
        seed_output=False,  # not echoed: the base class picks one, and we report what we sent
        max_images_per_call=4,
        max_prompt_chars=MAX_PROMPT_CHARS,
        negative_prompt=False,
        reports_cost=False,
        cancel=False,
        safety_knobs=("safety_setting", "person_generation"),
        max_concurrency=None,
    )

    def __init__(
        self,
        client: httpx.AsyncClient,
        api_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        retry: RetryPolicy | None = None,
        timeout: float = 60.0,
        enhance_prompt: bool = False,
        inline_images: bool = True,
    ) -> None:
        self._client = client
        self._key = api_key
        self._url = base_url.rstrip("/") + "/v1/images/generations"
        self._retry = retry or RetryPolicy()
        self._timeout = httpx.Timeout(timeout, connect=min(10.0, timeout))
        self._enhance_prompt = enhance_prompt
        self._inline_images = inline_images

    def body_for(self, request: GenerationRequest, offer: ModelOffer) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": offer.model_id,
            "prompt": request.prompt,
            "num_images": request.count,
            "aspect_ratio": request.aspect.value,
            "safety_setting": SAFETY_SETTINGS[request.safety.level],
            "person_generation": request.safety.people.value,
            "enhance_prompt": self._enhance_prompt,
            "convert_base64_to_url": not self._inline_images,
        }
        if request.seed is not None:
            body["seed"] = request.seed
        return body

    async def _generate(
        self, request: GenerationRequest, model: ModelSpec, offer: ModelOffer
    ) -> list[GeneratedImage]:
        width, height = model.size_for(request.aspect)
        items = await self._retry.run(lambda: self._call(request, offer))
        return await gather_or_cancel(
            self._image(item, request.seed, width, height) for item in items
        )

    async def _call(self, request: GenerationRequest, offer: ModelOffer) -> list[dict[str, Any]]:
        response = await send(
            self._client,
            "POST",
            self._url,
            provider=self.name,
            timeout=self._timeout,
            json=self.body_for(request, offer),
            headers={"Authorization": f"Bearer {self._key}"},
        )
        if response.status_code >= 400:
            raise self._error(response, offer)
        body = json_body(response, provider=self.name)
        data = body.get("data") if isinstance(body, dict) else None
        items = [item for item in data or [] if isinstance(item, dict)]
        if not isinstance(data, list) or not items:
            raise BadResponse(
                "answered without any image", provider=self.name, status=response.status_code
            )
        return items

    async def _image(
        self, item: dict[str, Any], seed: int | None, width: int, height: int
    ) -> GeneratedImage:
        url = item.get("url") if isinstance(item.get("url"), str) and item.get("url") else None
        declared = item.get("mime_type") if isinstance(item.get("mime_type"), str) else None
        if isinstance(item.get("b64_json"), str) and item["b64_json"]:
            data = decode_base64(item["b64_json"], provider=self.name)
            mime = declared or _sniff(data)
        elif url:
            data, mime = await fetch_image(
                self._client,
                url,
                provider=self.name,
                timeout=self._timeout,
                memory=self.memory,
                retry=self._retry,
            )
        else:
            raise BadResponse(
                "an image came back with neither url nor b64_json", provider=self.name
            )
        return GeneratedImage(
            data=data, mime_type=mime, seed=seed, width=width, height=height, url=url
        )

    def _error(self, response: httpx.Response, offer: ModelOffer) -> ProviderError:
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        message = redact(_message(body) or f"HTTP {status}", self._key)
        lowered = message.lower()
        kw: dict[str, Any] = {"provider": self.name, "status": status}
        if status == 401:
            return AuthenticationFailed(
                f"the key in {KEY_ENV_VAR} was rejected ({message})", env_var=KEY_ENV_VAR, **kw
            )
        if status in (402, 403):
            return InsufficientCredits(f"the AI/ML API account is out of credits ({message})", **kw)
        if status == 429:
            return RateLimited(
                message,
                provider=self.name,
                retry_after=parse_retry_after(response.headers.get("retry-after")),
            )
        if transient_status(status):
            return ProviderUnavailable(message, **kw)
        if status == 404:
            return self._model_gone(message, offer, kw)
        if any(word in lowered for word in SAFETY_WORDS):
            return ContentBlocked(message, **kw)
        if ABOUT_MODEL.search(lowered):
            return self._model_gone(message, offer, kw)
        return InvalidRequest(message, **kw)

    @staticmethod
    def _model_gone(message: str, offer: ModelOffer, kw: dict[str, Any]) -> ModelUnavailable:
        return ModelUnavailable(
            f"{offer.model_id} is not available ({message})", model=offer.model_id, **kw
        )


def _message(body: Any) -> str:
    """The error text: `message` (a string, or a list of validation messages) [I: both seen in
    NestJS-style APIs], or an OpenAI-style `error.message`."""
    if not isinstance(body, dict):
        return ""
    value = body.get("message")
    if value is None and isinstance(body.get("error"), dict):
        value = body["error"].get("message")
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return str(value) if value else ""


def _sniff(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "image/jpeg"
