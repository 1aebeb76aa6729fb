"""fal.ai's queue API: submit, poll the status, fetch the result, cancel when the caller gives up.

Wire facts: ../shared/providers.md ("fal.ai"). The flow:

    POST {base}/{model_id}      → {request_id, status_url, response_url, cancel_url}
    GET  status_url             → 202 {status: IN_QUEUE, queue_position} | IN_PROGRESS,
                                  200 {status: COMPLETED}
    GET  response_url           → {images: [{url, content_type, width, height}], seed}
    PUT  cancel_url             (when the caller is cancelled while the request waits)

fal's docs say to use the returned URLs rather than build them (they hold only owner/app, not the
model path), so we do; and since each of them receives the key, a URL on any other origin than
`base_url` is refused as `BadResponse` rather than followed.

Retries apply to single exchanges: a failed submit is sent again, a failed status or result GET is
asked again, a failed image download is fetched again (never by generating, and paying, again); a
request that fal itself reports failed is not resubmitted (fal's queue has already retried it) but
raised for the router to fail over. The wait is bounded by `max_wait`; running out
cancels the request (best effort) and raises `ProviderUnavailable`. Giving up on a request for any
other reason while it waits (status polls failing past their retries, an unknown status) cancels
it too.

Cancellation: when the caller's task is cancelled while the request waits in fal's queue (between
the submit and COMPLETED), `PUT cancel_url` is sent before the CancelledError propagates, bounded
by `cancel_timeout`. A cancellation that lands during the submit itself cannot cancel anything:
the request id is not known yet.

Seeds: fal returns one `seed` per request, not per image. It is reported on the first image only;
the others come from the same call but cannot be reproduced from that seed alone, so they carry
None [I].
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from providers.base import Capabilities, GeneratedImage, GenerationRequest, ImageProvider
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
from providers.http import fetch_image, json_body, parse_retry_after, send, transient_status
from providers.retry import RetryPolicy

__all__ = ["DEFAULT_BASE_URL", "KEY_ENV_VAR", "FalProvider"]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://queue.fal.run"
KEY_ENV_VAR = "FAL_KEY"
MAX_POLL_INTERVAL = 10.0
CONTENT_POLICY = "content_policy_violation"
_PENDING = {"IN_QUEUE", "IN_PROGRESS"}
# Not documented for the queue status, seen in third-party code only [I]: treated as a failure.
_FAILED = {"FAILED", "ERROR", "CANCELLED", "CANCELED"}
_TRUE = {"true", "1", "yes"}


@dataclass(frozen=True, slots=True)
class _Job:
    request_id: str
    status_url: str
    response_url: str
    cancel_url: str | None


class FalProvider(ImageProvider):
    name = "fal"
    key_env_var = KEY_ENV_VAR
    capabilities = Capabilities(
        seed_input=True,
        seed_output=True,
        max_images_per_call=4,
        negative_prompt=True,
        reports_cost=False,
        cancel=True,  # honoured by fal only while the request is still queued
        max_concurrency=10,  # fal runs 10 requests at once per account; more wait in its queue
    )

    def __init__(
        self,
        client: httpx.AsyncClient,
        api_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        retry: RetryPolicy | None = None,
        timeout: float = 60.0,
        poll_interval: float = 0.5,
        max_wait: float = 120.0,
        cancel_timeout: float = 5.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
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
        self._cancel_timeout = httpx.Timeout(cancel_timeout, connect=min(cancel_timeout, 10.0))
        self._poll_interval = poll_interval
        self._max_wait = max_wait
        self._sleep = sleep
        self._clock = clock

    def body_for(self, request: GenerationRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "prompt": request.prompt,
            "aspect_ratio": request.aspect.value,
            "num_images": request.count,
        }
        if request.negative_prompt:
            body["negative_prompt"] = request.negative_prompt
        if request.seed is not None:
            body["seed"] = request.seed
        return body

    async def _generate(
        self, request: GenerationRequest, model: ModelSpec, offer: ModelOffer
    ) -> list[GeneratedImage]:
        job = await self._retry.run(lambda: self._submit(request, offer))
        try:
            failure = await self._wait(job)
        except asyncio.CancelledError:
            await self._cancel(job)
            raise
        result = await self._retry.run(lambda: self._get(job.response_url, "result"))
        return await self._images(result, failure, model, request)

    # -- the exchanges -------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Key {self._key}"}

    async def _submit(self, request: GenerationRequest, offer: ModelOffer) -> _Job:
        response = await send(
            self._client,
            "POST",
            f"{self._base}/{offer.model_id.strip('/')}",
            provider=self.name,
            timeout=self._timeout,
            json=self.body_for(request),
            headers=self._headers(),
        )
        if response.status_code >= 400:
            raise self._error(response, "submit", model_id=offer.model_id)
        body = json_body(response, provider=self.name)
        if not isinstance(body, dict):
            raise BadResponse("the submit answer is not a JSON object", provider=self.name)
        urls = {key: body.get(key) for key in ("status_url", "response_url", "cancel_url")}
        if not isinstance(urls["status_url"], str) or not isinstance(urls["response_url"], str):
            raise BadResponse(
                "the submit answer lacks status_url or response_url", provider=self.name
            )
        for url in filter(None, urls.values()):
            self._check_origin(str(url))
        cancel_url = urls["cancel_url"]
        return _Job(
            request_id=str(body.get("request_id", "")),
            status_url=urls["status_url"],
            response_url=urls["response_url"],
            cancel_url=cancel_url if isinstance(cancel_url, str) and cancel_url else None,
        )

    async def _get(self, url: str, stage: str) -> dict[str, Any]:
        response = await send(
            self._client,
            "GET",
            url,
            provider=self.name,
            timeout=self._timeout,
            headers=self._headers(),
        )
        if response.status_code >= 400:
            raise self._error(response, stage)
        body = json_body(response, provider=self.name)
        if not isinstance(body, dict):
            raise BadResponse(f"the {stage} answer is not a JSON object", provider=self.name)
        return body

    async def _wait(self, job: _Job) -> dict[str, Any] | None:
        """Poll until COMPLETED; returns the error fal reported on completion, if any."""
        deadline = self._clock() + self._max_wait
        while True:
            try:
                body = await self._retry.run(lambda: self._get(job.status_url, "status"))
            except ProviderError:
                await self._cancel(job)  # we give up on a request that may still be queued
                raise
            status = str(body.get("status", ""))
            if status == "COMPLETED":
                # fal may put `error` / `error_type` on a completed status; tolerate both the
                # plain and the annotated form [I].
                return body if body.get("error") or body.get("error_type") else None
            if status in _FAILED:
                raise self._failure(body)
            if status not in _PENDING:
                await self._cancel(job)
                raise BadResponse(f"unknown queue status {status!r}", provider=self.name)
            if self._clock() + self._poll_interval > deadline:
                await self._cancel(job)
                raise ProviderUnavailable(
                    f"no result within {self._max_wait:g}s (still {status})", provider=self.name
                )
            await self._sleep(self._poll_interval)

    async def _cancel(self, job: _Job) -> None:
        """Ask fal to drop the request. Best effort: fal honours it only while it is queued."""
        if not job.cancel_url:
            return
        try:
            response = await send(
                self._client,
                "PUT",
                job.cancel_url,
                provider=self.name,
                timeout=self._cancel_timeout,
                headers=self._headers(),
            )
            log.debug("fal cancel of %s answered HTTP %s", job.request_id, response.status_code)
        except Exception as exc:  # best effort: never hide why we are cancelling
            log.debug("fal cancel of %s failed: %s", job.request_id, type(exc).__name__)

    async def _images(
        self,
        body: dict[str, Any],
        failure: dict[str, Any] | None,
        model: ModelSpec,
        request: GenerationRequest,
    ) -> list[GeneratedImage]:
        items = body.get("images")
        if not isinstance(items, list) or not items:
            if failure is not None:
                raise self._failure(failure)
            raise BadResponse("the result holds no images", provider=self.name)
        if not all(isinstance(item, dict) for item in items):
            raise BadResponse("an image in the result is not an object", provider=self.name)
        seed = body.get("seed")
        seed = int(seed) if isinstance(seed, int) else request.seed  # tolerate no echo [I]
        nsfw = body.get("has_nsfw_concepts")  # per image, when the model reports it [I]
        flags = [bool(flag) for flag in nsfw] if isinstance(nsfw, list) else []
        width, height = model.size_for(request.aspect)
        downloads = await gather_or_cancel(self._download(item) for item in items)
        return [
            GeneratedImage(
                data=data,
                mime_type=mime,
                seed=seed if index == 0 else None,
                width=_int_or(item.get("width"), width),
                height=_int_or(item.get("height"), height),
                url=url,
                flagged_nsfw=index < len(flags) and flags[index],
            )
            for index, (item, (data, mime, url)) in enumerate(zip(items, downloads, strict=True))
        ]

    async def _download(self, item: dict[str, Any]) -> tuple[bytes, str, str | None]:
        url = item.get("url")
        if not isinstance(url, str) or not url:
            raise BadResponse("an image in the result has no url", provider=self.name)
        # fetch_image also decodes the data URIs that fal's sync mode answers with [I].
        data, mime = await fetch_image(
            self._client,
            url,
            provider=self.name,
            timeout=self._timeout,
            memory=self.memory,
            retry=self._retry,
        )
        return data, mime, None if url.startswith("data:") else url

    # -- errors --------------------------------------------------------------------------------

    def _check_origin(self, url: str) -> None:
        if _origin(url) != self._origin:
            raise BadResponse(
                f"fal answered with a URL on another host ({httpx.URL(url).host}); "
                "refusing to send the key there",
                provider=self.name,
            )

    def _failure(self, info: dict[str, Any]) -> ProviderError:
        """A request fal reports failed, from its `error` / `error_type` fields."""
        error_type = str(info.get("error_type") or "")
        message = redact(str(info.get("error") or error_type or "the request failed"), self._key)
        if CONTENT_POLICY in error_type or CONTENT_POLICY in message:
            return ContentBlocked(message, provider=self.name, reason=message)
        return ProviderUnavailable(message, provider=self.name)

    def _error(
        self, response: httpx.Response, stage: str, *, model_id: str | None = None
    ) -> ProviderError:
        """Map an HTTP error; `model_id` is given for the submit, where 404 means the model."""
        status = response.status_code
        message, types = _detail_of(response)
        message = redact(message or f"HTTP {status}", self._key)
        retryable = {
            response.headers.get("x-fal-retryable", "").lower(),
            response.headers.get("x-fal-needs-retry", "").lower(),  # the older name [V]
        } & _TRUE
        kw: dict[str, Any] = {"provider": self.name, "status": status}
        if status == 401:
            return AuthenticationFailed(
                f"the key in {KEY_ENV_VAR} was rejected ({message})", env_var=KEY_ENV_VAR, **kw
            )
        if status == 402 or (status == 403 and "balance" in message.lower()):
            # fal locks an account whose balance ran out with a 403 naming it [I].
            return InsufficientCredits(message, **kw)
        if status == 403:
            return AuthenticationFailed(
                f"the key in {KEY_ENV_VAR} may not do this ({message})", env_var=KEY_ENV_VAR, **kw
            )
        if status == 429:
            return RateLimited(
                message,
                provider=self.name,
                status=status,
                retry_after=parse_retry_after(response.headers.get("retry-after")),
            )
        if CONTENT_POLICY in types:
            return ContentBlocked(message, reason=message, **kw)
        if retryable or transient_status(status):
            return ProviderUnavailable(message, **kw)
        if status == 404:
            if model_id is not None:
                return ModelUnavailable(
                    f"{model_id} is not available ({message})", model=model_id, **kw
                )
            return ProviderUnavailable(f"fal lost the request at {stage} ({message})", **kw)
        return InvalidRequest(message, **kw)


def _detail_of(response: httpx.Response) -> tuple[str, set[str]]:
    """(message, error types) from `{"detail": [...]}` or `{"detail": "..."}` (and an
    `error_type` beside it). A body that is not JSON gives ("", {})."""
    try:
        body = response.json()
    except ValueError:
        return "", set()
    if not isinstance(body, dict):
        return "", set()
    types = {str(body["error_type"])} if body.get("error_type") else set()
    header_type = response.headers.get("x-fal-error-type")
    if header_type:
        types.add(header_type)
    detail = body.get("detail")
    if isinstance(detail, list):
        messages = []
        for item in detail:
            if isinstance(item, dict):
                if item.get("type"):
                    types.add(str(item["type"]))
                messages.append(str(item.get("msg") or item.get("type") or ""))
            else:
                messages.append(str(item))
        return "; ".join(m for m in messages if m), types
    if detail is not None:
        return str(detail), types
    return str(body.get("message") or body.get("error") or ""), types


def _origin(url: str) -> tuple[str, str, int | None]:
    parsed = httpx.URL(url)
    return parsed.scheme, parsed.host, parsed.port


def _int_or(value: Any, default: int) -> int:
    return value if isinstance(value, int) and value > 0 else default
