"""RunComfy's model API: an asynchronous queue (submit, poll status, fetch result, cancel).

Wire facts: ../shared/providers.md and RunComfy's page for Imagen 4 Fast
(../shared/seeds/002_*.txt), its error-code page (docs.runcomfy.com/model-apis/error-codes).

- One image per request. `generate` still accepts a count of 1-4: it fans out that many
  concurrent submits, each with its own seed (the chosen seed, then +1, +2 ...), so the router
  never has to split a request. `capabilities.max_images_per_call = 1` describes the wire.
- RunComfy takes a seed but does not report one, so the seed sent is the seed reported; when the
  user chose none, this client chooses it (the base class only does that for providers that
  report no seed at all, and this one reports one per image).
- Polling is short and bounded: `poll_interval`, growing by half each time up to
  `max_poll_interval`, and the job is abandoned (and cancelled) after `max_wait` seconds of
  polling. The sleep is injectable (it defaults to the retry policy's) so tests never wait.
- Each HTTP call is retried on its own by the retry policy; a job that RunComfy reports as failed
  or cancelled is not resubmitted here (the router fails over).
- When the caller abandons the call (the task is cancelled), or this client gives up waiting on a
  job for any reason (past `max_wait`, status or result calls failing past their retries, an
  answer it cannot read), the job gets a cancel request, best effort, before the error
  propagates. Only queued jobs can be cancelled; for a job that already ended the request is
  answered `not_cancellable` and changes nothing.
- No cost is reported: the catalog price applies.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from providers.base import MAX_SEED, Capabilities, GeneratedImage, GenerationRequest, ImageProvider
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

__all__ = ["DEFAULT_BASE_URL", "KEY_ENV_VAR", "RunComfyProvider"]

DEFAULT_BASE_URL = "https://model-api.runcomfy.net"
KEY_ENV_VAR = "RUNCOMFY_API_KEY"
CANCEL_TIMEOUT = 5.0

# Documented codes (docs.runcomfy.com/model-apis/error-codes); 401001, 422001, 500001 and
# 10001 come from RunComfy's serverless API and are tolerated in case the model API uses them.
INVALID_ID = 400001
NO_BALANCE = {400002, 10001}
BAD_TOKEN = {400004, 401001}
FORBIDDEN = {403001, 403003}
NOT_FOUND = 404001
SERVER_ERROR = 500001

RUNNING = {"in_queue", "in_progress", "queued", "running", "pending", "starting"}
FINISHED = {"completed", "succeeded", "success", "failed", "error"}
CANCELLED = {"cancelled", "canceled"}
SAFETY_WORDS = (
    "nsfw",
    "safety filter",
    "safety system",
    "content policy",
    "moderat",
    "blocked",
    "filtered",
    "sensitive",
)


class _Overdue(Exception):
    """The job outlived `max_wait`."""


@dataclass(frozen=True, slots=True)
class _Job:
    request_id: str
    status_url: str
    result_url: str
    cancel_url: str


class RunComfyProvider(ImageProvider):
    name = "runcomfy"
    key_env_var = KEY_ENV_VAR
    capabilities = Capabilities(
        seed_input=True,
        seed_output=True,  # the seed this client sent (RunComfy does not echo it)
        max_images_per_call=1,  # per request on the wire; generate() fans out for count > 1
        negative_prompt=True,
        reports_cost=False,
        cancel=True,  # queued jobs only
        safety_knobs=(),
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
        poll_interval: float = 0.5,
        max_poll_interval: float = 2.0,
        max_wait: float = 120.0,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self._client = client
        self._key = api_key
        self._base = base_url.rstrip("/")
        self._retry = retry or RetryPolicy()
        self._timeout = httpx.Timeout(timeout, connect=min(10.0, timeout))
        self._poll_interval = max(0.01, poll_interval)
        self._max_poll_interval = max(self._poll_interval, max_poll_interval)
        self._max_wait = max_wait
        self._sleep = sleep or self._retry.sleep

    async def _generate(
        self, request: GenerationRequest, model: ModelSpec, offer: ModelOffer
    ) -> list[GeneratedImage]:
        width, height = model.size_for(request.aspect)
        first = request.seed if request.seed is not None else random.randint(0, 2**31 - 1)
        seeds = [(first + i) % (MAX_SEED + 1) for i in range(request.count)]
        return await gather_or_cancel(
            self._one(request, offer, seed, width, height) for seed in seeds
        )

    # -- one image: submit, wait, download ------------------------------------------------------

    def input_for(self, request: GenerationRequest, seed: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "prompt": request.prompt,
            "aspect_ratio": request.aspect.value,
            "seed": seed,
        }
        if request.negative_prompt:
            body["negative_prompt"] = request.negative_prompt
        return body

    async def _one(
        self, request: GenerationRequest, offer: ModelOffer, seed: int, width: int, height: int
    ) -> GeneratedImage:
        job = await self._retry.run(lambda: self._submit(request, offer, seed))
        try:
            url = await self._wait(job)
        except _Overdue as exc:
            await self._cancel(job)
            raise ProviderUnavailable(str(exc), provider=self.name) from None
        except BaseException:
            # The caller gave up (CancelledError), or we did (status or result calls failing past
            # their retries, an answer we cannot read): a job still queued would otherwise stay
            # queued at RunComfy. Free the slot, best effort, then go.
            await self._cancel(job)
            raise
        data, mime = await fetch_image(
            self._client,
            url,
            provider=self.name,
            timeout=self._timeout,
            memory=self.memory,
            retry=self._retry,
        )
        return GeneratedImage(
            data=data, mime_type=mime, seed=seed, width=width, height=height, url=url
        )

    async def _submit(self, request: GenerationRequest, offer: ModelOffer, seed: int) -> _Job:
        url = f"{self._base}/v1/models/{offer.model_id.strip('/')}"
        body = await self._call("POST", url, offer, json=self.input_for(request, seed))
        request_id = body.get("request_id")
        if not isinstance(request_id, str | int) or not str(request_id):
            raise BadResponse("accepted the job without a request_id", provider=self.name)
        request_id = str(request_id)
        own = f"{self._base}/v1/requests/{request_id}"
        return _Job(
            request_id=request_id,
            status_url=self._trusted(body.get("status_url"), f"{own}/status"),
            result_url=self._trusted(body.get("result_url"), f"{own}/result"),
            cancel_url=self._trusted(body.get("cancel_url"), f"{own}/cancel"),
        )

    async def _wait(self, job: _Job) -> str:
        """Poll until the job has an image URL; raise when it failed, vanished or took too long."""
        interval, waited = self._poll_interval, 0.0
        while True:
            status = await self._retry.run(lambda: self._call("GET", job.status_url, None))
            state = str(status.get("status", "")).lower()
            if state in CANCELLED:
                raise ProviderUnavailable(
                    f"request {job.request_id} was cancelled at RunComfy", provider=self.name
                )
            if state in FINISHED:
                url = await self._result(job)
                if url:
                    return url
            # Anything else (in_queue, in_progress, a state we do not know) means: not yet.
            if waited >= self._max_wait:
                raise _Overdue(
                    f"request {job.request_id} gave no result after {waited:.0f} s "
                    f"(last status {state or 'unknown'})"
                )
            await self._sleep(interval)
            waited += interval
            interval = min(self._max_poll_interval, interval * 1.5)

    async def _result(self, job: _Job) -> str | None:
        """The image URL, None when the job is not finished after all, or the job's failure."""
        body = await self._retry.run(lambda: self._call("GET", job.result_url, None))
        state = str(body.get("status", "")).lower()
        url = _image_url(body.get("output"))
        if state in {"failed", "error"}:
            raise self._failure(job, body)
        if state in CANCELLED:
            raise ProviderUnavailable(
                f"request {job.request_id} was cancelled at RunComfy", provider=self.name
            )
        if url:
            return url
        if state in RUNNING:
            return None  # documented: the result endpoint answers the state until it is done
        raise BadResponse(
            f"request {job.request_id} finished ({state or 'no status'}) without an image",
            provider=self.name,
        )

    async def _cancel(self, job: _Job) -> None:
        """Best effort: ask RunComfy to drop a queued job; never raises."""
        with contextlib.suppress(ProviderError):
            await send(
                self._client,
                "POST",
                job.cancel_url,
                provider=self.name,
                timeout=httpx.Timeout(CANCEL_TIMEOUT),
                headers=self._headers(),
            )

    # -- HTTP and errors -----------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._key}"}

    def _trusted(self, url: Any, fallback: str) -> str:
        """A URL RunComfy returned, if it points at the same origin (the key goes with it)."""
        if isinstance(url, str) and url:
            given, ours = urlsplit(url), urlsplit(self._base)
            if (given.scheme, given.netloc) == (ours.scheme, ours.netloc):
                return url
        return fallback

    async def _call(
        self, method: str, url: str, offer: ModelOffer | None, **kwargs: Any
    ) -> dict[str, Any]:
        response = await send(
            self._client,
            method,
            url,
            provider=self.name,
            timeout=self._timeout,
            headers=self._headers(),
            **kwargs,
        )
        if response.status_code >= 400:
            raise self._error(response, offer)
        body = json_body(response, provider=self.name)
        if not isinstance(body, dict):
            raise BadResponse("answered with JSON that is not an object", provider=self.name)
        return body

    def _error(self, response: httpx.Response, offer: ModelOffer | None) -> ProviderError:
        """Map an error answer; `offer` is given on submit (where an unknown id is the model)."""
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        code, text = _error_fields(body)
        message = redact(text or f"HTTP {status}", self._key)
        kw: dict[str, Any] = {"provider": self.name, "status": status}
        if code in BAD_TOKEN or status == 401:
            return AuthenticationFailed(
                f"the key in {KEY_ENV_VAR} was rejected ({message})", env_var=KEY_ENV_VAR, **kw
            )
        if code in NO_BALANCE or status == 402:
            return InsufficientCredits(f"the RunComfy account is out of balance ({message})", **kw)
        if code in FORBIDDEN or status == 403:
            return AuthenticationFailed(
                f"the key in {KEY_ENV_VAR} is not allowed to do this ({message})",
                env_var=KEY_ENV_VAR,
                **kw,
            )
        if status == 429:
            return RateLimited(
                message,
                provider=self.name,
                retry_after=parse_retry_after(response.headers.get("retry-after")),
            )
        if code == SERVER_ERROR or transient_status(status):
            return ProviderUnavailable(message, **kw)
        if code in {INVALID_ID, NOT_FOUND} or status == 404:
            if offer is not None:
                return ModelUnavailable(
                    f"{offer.model_id} is not available ({message})", model=offer.model_id, **kw
                )
            return BadResponse(f"RunComfy lost track of the request ({message})", **kw)
        if _mentions_safety(message):
            return ContentBlocked(message, **kw)
        return InvalidRequest(message, **kw)

    def _failure(self, job: _Job, body: dict[str, Any]) -> ProviderError:
        _, text = _error_fields(body)
        message = redact(text or "the generation failed", self._key)
        if _mentions_safety(message):
            return ContentBlocked(message, provider=self.name)
        return ProviderUnavailable(
            f"request {job.request_id} failed ({message})", provider=self.name
        )


def _image_url(output: Any) -> str | None:
    """`output.image` (one URL) or `output.images` (a list): the docs show both."""
    if not isinstance(output, dict):
        return None
    image = output.get("image")
    if isinstance(image, str) and image:
        return image
    images = output.get("images")
    if isinstance(images, list):
        for item in images:
            if isinstance(item, str) and item:
                return item
            if isinstance(item, dict) and isinstance(item.get("url"), str):  # [I] tolerated
                return item["url"]
    return None


def _as_code(value: Any) -> int | None:
    """A RunComfy error code (six digits, or five for gating errors); not an HTTP status."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 10000 else None


def _error_fields(body: Any) -> tuple[int | None, str]:
    """(error code, message) from an error answer or a failed result, whatever its shape [I].

    The docs promise "the HTTP code, error code, error message, and sometimes a detail field"
    without naming the keys, so `error_code`/`code` and `message`/`error`/`detail` are all read,
    at the top level or inside an `error` object.
    """
    if not isinstance(body, dict):
        return None, ""
    nested = body.get("error") if isinstance(body.get("error"), dict) else {}
    code = None
    for source in (body, nested):
        for key in ("error_code", "code"):
            code = code or _as_code(source.get(key))
    texts: list[str] = []
    for source in (nested, body):
        for key in ("message", "error_message", "error", "detail"):
            value = source.get(key)
            if isinstance(value, str) and value:
                texts.append(value)
            elif isinstance(value, list):  # validation details: [{"msg": ...}, ...]
                texts.extend(
                    str(item.get("msg") or item.get("message") or item)
                    if isinstance(item, dict)
                    else str(item)
                    for item in value
                )
    return code, "; ".join(dict.fromkeys(texts))


def _mentions_safety(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in SAFETY_WORDS)
