"""Replicate's predictions API for official models, `POST {base}/v1/models/{model}/predictions`.

Wire facts: ../shared/providers.md ("Replicate"). The create is sent with `Prefer: wait=N`, which
holds the answer until the prediction finishes or N seconds pass; a prediction still `starting` or
`processing` then is polled at `urls.get` until it ends, within `max_wait`. When the caller is
cancelled while a prediction runs, `POST urls.cancel` is sent (best effort, bounded by
`cancel_timeout`) before the CancelledError propagates. A cancellation that lands during the held
create cannot cancel anything: the prediction id is not known until that answer arrives.

One image per prediction: for `count` > 1 the provider itself starts `count` predictions at once
(capabilities say `max_images_per_call=1` because that is what one API call yields). When some of
them fail and others succeed, the successes are returned (fewer images than asked for, priced as
delivered); when all fail, the first failure is raised.

A prediction that ends `failed` is mapped from its `error` text: input-validation wording (checked
first) → `InvalidRequest`; the safety filter's refusals ("flagged as sensitive (E005)", NSFW, safety
filter) → `ContentBlocked`; anything else → `ProviderUnavailable`, since a model run that broke is
the provider's fault and another provider may well succeed. A prediction `canceled` by someone
else is `ProviderUnavailable` too. HTTP errors are RFC 7807 problem documents (`title`, `detail`,
`status`).

Retries apply to single exchanges (the create, one poll, the image download: a paid prediction
is never created again because its file failed to arrive); a prediction that ran and failed is not
started again here. A prediction we give up on while it may still run (past `max_wait`, polls
failing past their retries, an unknown status) is cancelled, since Replicate bills running time.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
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
from providers.http import fetch_image, json_body, parse_retry_after, send, transient_status
from providers.retry import RetryPolicy

__all__ = ["DEFAULT_BASE_URL", "KEY_ENV_VAR", "ReplicateProvider"]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.replicate.com"
KEY_ENV_VAR = "REPLICATE_API_TOKEN"
MAX_PREFER_WAIT = 60
MAX_POLL_INTERVAL = 10.0

SAFETY_FILTER_LEVELS = {
    SafetyLevel.STRICT: "block_low_and_above",
    SafetyLevel.STANDARD: "block_medium_and_above",
    SafetyLevel.RELAXED: "block_only_high",
}

_PENDING = {"starting", "processing"}
# E005 is Replicate's "input or output was flagged as sensitive" [V]; the rest is how model
# authors word their own filters [I]. A bare "safety" is not enough: a refused
# `safety_filter_level` value is an invalid request, and input-validation wording wins.
_BLOCKED = re.compile(
    r"\bE005\b|nsfw|flagged|sensitive (?:content|image|material)|"
    r"safety (?:filter|checker|system)|content polic|inappropriate",
    re.IGNORECASE,
)
_INVALID = re.compile(
    r"invalid (?:input|value|argument|parameter)|validation (?:error|failed)|unprocessable|"
    r"must be one of|is not one of",
    re.IGNORECASE,
)
# "Request was throttled. Expected available in 3 seconds." [I]: used when Retry-After is absent.
_THROTTLED = re.compile(r"available in (\d+(?:\.\d+)?) second", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class _Prediction:
    id: str
    status: str
    output: Any
    error: Any
    get_url: str
    cancel_url: str


class ReplicateProvider(ImageProvider):
    name = "replicate"
    key_env_var = KEY_ENV_VAR
    capabilities = Capabilities(
        seed_input=False,
        seed_output=False,
        max_images_per_call=1,  # one image per prediction; `count` > 1 fans out (see above)
        negative_prompt=False,
        reports_cost=False,
        cancel=True,
        safety_knobs=("safety_filter_level",),
    )

    def __init__(
        self,
        client: httpx.AsyncClient,
        api_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        retry: RetryPolicy | None = None,
        timeout: float = 60.0,
        wait: int = 30,
        poll_interval: float = 0.5,
        max_wait: float = 120.0,
        cancel_timeout: float = 5.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 <= wait <= MAX_PREFER_WAIT:
            raise ValueError(f"wait must be 0–{MAX_PREFER_WAIT} seconds (0: do not hold)")
        if not 0 < poll_interval <= MAX_POLL_INTERVAL:
            raise ValueError(f"poll_interval must be in (0, {MAX_POLL_INTERVAL}] seconds")
        if max_wait <= 0:
            raise ValueError("max_wait must be positive")
        self._client = client
        self._key = api_key
        self._base = base_url.rstrip("/")
        self._origin = _origin(self._base)
        self._retry = retry or RetryPolicy()
        self._timeout = httpx.Timeout(timeout, connect=10.0)
        # The create is held up to `wait` seconds on purpose: the socket may stay quiet that long.
        self._create_timeout = httpx.Timeout(timeout + wait, connect=10.0)
        self._cancel_timeout = httpx.Timeout(cancel_timeout, connect=min(cancel_timeout, 10.0))
        self._wait = wait
        self._poll_interval = poll_interval
        self._max_wait = max_wait
        self._sleep = sleep
        self._clock = clock

    def body_for(self, request: GenerationRequest) -> dict[str, Any]:
        return {
            "input": {
                "prompt": request.prompt,
                "aspect_ratio": request.aspect.value,
                "output_format": "jpg",
                "safety_filter_level": SAFETY_FILTER_LEVELS[request.safety.level],
            }
        }

    async def _generate(
        self, request: GenerationRequest, model: ModelSpec, offer: ModelOffer
    ) -> list[GeneratedImage]:
        if request.count == 1:
            return [await self._one(request, model, offer)]
        # gather, not a TaskGroup: one failed prediction must not cancel the others. When the
        # caller is cancelled, gather cancels every prediction and waits for their cancel calls.
        outcomes = await asyncio.gather(
            *(self._one(request, model, offer) for _ in range(request.count)),
            return_exceptions=True,
        )
        images = [outcome for outcome in outcomes if isinstance(outcome, GeneratedImage)]
        failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        for failure in failures:
            if not isinstance(failure, Exception):  # CancelledError and friends: never swallow
                raise failure
        if images:
            return images
        raise failures[0]

    async def _one(
        self, request: GenerationRequest, model: ModelSpec, offer: ModelOffer
    ) -> GeneratedImage:
        deadline = self._clock() + self._max_wait
        prediction = await self._retry.run(lambda: self._create(request, offer))
        try:
            prediction = await self._settle(prediction, deadline)
        except asyncio.CancelledError:
            await self._cancel(prediction)
            raise
        return await self._image(prediction, model, request)

    # -- the exchanges -------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._key}"}

    async def _create(self, request: GenerationRequest, offer: ModelOffer) -> _Prediction:
        headers = self._headers()
        if self._wait:
            headers["Prefer"] = f"wait={self._wait}"
        response = await send(
            self._client,
            "POST",
            f"{self._base}/v1/models/{offer.model_id.strip('/')}/predictions",
            provider=self.name,
            timeout=self._create_timeout,
            json=self.body_for(request),
            headers=headers,
        )
        if response.status_code >= 400:
            raise self._error(response, model_id=offer.model_id)
        return self._prediction(json_body(response, provider=self.name))

    async def _poll(self, prediction: _Prediction) -> _Prediction:
        response = await send(
            self._client,
            "GET",
            prediction.get_url,
            provider=self.name,
            timeout=self._timeout,
            headers=self._headers(),
        )
        if response.status_code >= 400:
            raise self._error(response)
        return self._prediction(json_body(response, provider=self.name))

    async def _settle(self, prediction: _Prediction, deadline: float) -> _Prediction:
        """Poll until the prediction ends; returns it when it succeeded, raises otherwise."""
        while True:
            if prediction.status == "succeeded":
                return prediction
            if prediction.status == "failed":
                raise self._failure(prediction)
            if prediction.status == "canceled":
                raise ProviderUnavailable(
                    f"prediction {prediction.id} was canceled", provider=self.name
                )
            if prediction.status not in _PENDING:
                await self._cancel(prediction)
                raise BadResponse(
                    f"unknown prediction status {prediction.status!r}", provider=self.name
                )
            if self._clock() + self._poll_interval > deadline:
                await self._cancel(prediction)
                raise ProviderUnavailable(
                    f"prediction {prediction.id} not done within {self._max_wait:g}s "
                    f"(still {prediction.status})",
                    provider=self.name,
                )
            await self._sleep(self._poll_interval)
            try:
                prediction = await self._retry.run(functools.partial(self._poll, prediction))
            except ProviderError:
                # We give up on a prediction that may still run (and be billed): stop it.
                await self._cancel(prediction)
                raise

    async def _cancel(self, prediction: _Prediction) -> None:
        """Ask Replicate to stop the prediction. Best effort: errors are logged, not raised."""
        try:
            response = await send(
                self._client,
                "POST",
                prediction.cancel_url,
                provider=self.name,
                timeout=self._cancel_timeout,
                headers=self._headers(),
            )
            log.debug("replicate cancel of %s: HTTP %s", prediction.id, response.status_code)
        except Exception as exc:  # best effort: never hide why we are cancelling
            log.debug("replicate cancel of %s failed: %s", prediction.id, type(exc).__name__)

    async def _image(
        self, prediction: _Prediction, model: ModelSpec, request: GenerationRequest
    ) -> GeneratedImage:
        output = prediction.output
        # Imagen on Replicate answers one URL; many other models answer a list of them. Accept
        # both and take the first: one prediction is one image here [I].
        if isinstance(output, list):
            output = next((item for item in output if isinstance(item, str) and item), None)
        if not isinstance(output, str) or not output:
            raise BadResponse(
                f"prediction {prediction.id} succeeded without an image", provider=self.name
            )
        # fetch_image decodes a data: URI in place (sync answers may inline the file [I]).
        data, mime = await fetch_image(
            self._client,
            output,
            provider=self.name,
            timeout=self._timeout,
            memory=self.memory,
            retry=self._retry,
        )
        width, height = model.size_for(request.aspect)
        return GeneratedImage(
            data=data,
            mime_type=mime,
            seed=None,
            width=width,
            height=height,
            url=None if output.startswith("data:") else output,
        )

    # -- parsing and errors --------------------------------------------------------------------

    def _prediction(self, body: Any) -> _Prediction:
        if not isinstance(body, dict):
            raise BadResponse("the prediction is not a JSON object", provider=self.name)
        pid, status = body.get("id"), body.get("status")
        if not isinstance(pid, str) or not pid or not isinstance(status, str):
            raise BadResponse("the prediction lacks an id or a status", provider=self.name)
        urls = body.get("urls") if isinstance(body.get("urls"), dict) else {}
        # Replicate always sends urls.get / urls.cancel [V]; if one is missing, the documented
        # endpoints for a prediction id stand in [I].
        get_url = urls.get("get") or f"{self._base}/v1/predictions/{pid}"
        cancel_url = urls.get("cancel") or f"{self._base}/v1/predictions/{pid}/cancel"
        for url in (get_url, cancel_url):
            if _origin(str(url)) != self._origin:
                raise BadResponse(
                    f"Replicate answered with a URL on another host ({httpx.URL(str(url)).host});"
                    " refusing to send the token there",
                    provider=self.name,
                )
        return _Prediction(
            id=pid,
            status=status,
            output=body.get("output"),
            error=body.get("error"),
            get_url=str(get_url),
            cancel_url=str(cancel_url),
        )

    def _failure(self, prediction: _Prediction) -> ProviderError:
        error = prediction.error
        if isinstance(error, dict):  # an object rather than a string [I]
            error = error.get("message") or error.get("detail") or error.get("title")
        message = redact(str(error or f"prediction {prediction.id} failed"), self._key)
        if _INVALID.search(message):
            return InvalidRequest(message, provider=self.name)
        if _BLOCKED.search(message):
            return ContentBlocked(message, provider=self.name, reason=message)
        return ProviderUnavailable(message, provider=self.name)

    def _error(self, response: httpx.Response, *, model_id: str | None = None) -> ProviderError:
        """Map an HTTP error; `model_id` is given for the create, where 404 means the model."""
        status = response.status_code
        problem = _problem(response)
        detail = str(problem.get("detail") or problem.get("title") or f"HTTP {status}")
        message = redact(detail, self._key)
        kw: dict[str, Any] = {"provider": self.name, "status": status}
        if status in (401, 403):
            verb = "was rejected" if status == 401 else "may not do this"
            return AuthenticationFailed(
                f"the token in {KEY_ENV_VAR} {verb} ({message})", env_var=KEY_ENV_VAR, **kw
            )
        if status == 402:
            return InsufficientCredits(message, **kw)
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            if retry_after is None and (match := _THROTTLED.search(detail)):
                retry_after = float(match.group(1))
            return RateLimited(message, provider=self.name, status=status, retry_after=retry_after)
        if transient_status(status):
            return ProviderUnavailable(message, **kw)
        if status == 404:
            if model_id is not None:
                return ModelUnavailable(
                    f"{model_id} is not available ({message})", model=model_id, **kw
                )
            return ProviderUnavailable(f"the prediction vanished ({message})", **kw)
        return InvalidRequest(message, **kw)


def _problem(response: httpx.Response) -> dict[str, Any]:
    """The RFC 7807 problem document (`title`, `detail`, `status`), or {} when there is none."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _origin(url: str) -> tuple[str, str, int | None]:
    parsed = httpx.URL(url)
    return parsed.scheme, parsed.host, parsed.port
