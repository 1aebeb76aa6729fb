"""HTTP plumbing shared by the provider clients: one place turns transport failures into the
error tree, parses Retry-After, and downloads images. Providers never create their own client:
the composition root injects one pooled `httpx.AsyncClient`.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import email.utils
import time
from typing import Any

import httpx

from providers.errors import BadResponse, ProviderUnavailable, RateLimited
from providers.memory import TYPICAL_IMAGE_BYTES, ImageMemory
from providers.retry import RetryPolicy

__all__ = [
    "DEFAULT_TIMEOUT",
    "decode_base64",
    "decode_data_uri",
    "fetch_image",
    "json_body",
    "parse_retry_after",
    "send",
    "transient_status",
]

DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)


def transient_status(status: int) -> bool:
    """An HTTP status worth retrying and then failing over: a 5xx, or 408 (the server gave up
    waiting for our request, a timeout on its side). 429 is not here: it is `RateLimited`."""
    return status >= 500 or status == 408


async def send(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    provider: str,
    timeout: httpx.Timeout | float | None = None,
    follow_redirects: bool = False,
    **kwargs: Any,
) -> httpx.Response:
    """Send one request; timeouts and connection errors become `ProviderUnavailable`.

    Redirects are not followed unless asked: an API call never needs one, and httpx drops only
    `Authorization` on a cross-origin redirect, so a key in another header (Gemini's
    `x-goog-api-key`) would go along to whatever host the redirect names."""
    try:
        return await client.request(
            method,
            url,
            timeout=timeout or DEFAULT_TIMEOUT,
            follow_redirects=follow_redirects,
            **kwargs,
        )
    except httpx.TimeoutException as exc:
        raise ProviderUnavailable(f"timed out ({type(exc).__name__})", provider=provider) from exc
    except httpx.TransportError as exc:
        raise ProviderUnavailable(
            f"could not connect ({type(exc).__name__})", provider=provider
        ) from exc


def json_body(response: httpx.Response, *, provider: str) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise BadResponse(
            f"answered HTTP {response.status_code} with a body that is not JSON",
            provider=provider,
            status=response.status_code,
        ) from exc


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


async def fetch_image(
    client: httpx.AsyncClient,
    url: str,
    *,
    provider: str,
    timeout: httpx.Timeout | float | None = None,
    memory: ImageMemory | None = None,
    retry: RetryPolicy | None = None,
) -> tuple[bytes, str]:
    """Download an image the provider hosts; returns (bytes, mime type). A `data:` URI (some
    providers inline small results) is decoded in place instead. With `memory`, each attempt
    waits for room for a typical image first (and holds none between attempts).

    A 429 from the image host is `RateLimited` (with its Retry-After), a 408 or 5xx
    `ProviderUnavailable`; any other answer but 200 with a body is `BadResponse`. With `retry`,
    those transient failures are retried on their own: the image is already generated (and paid
    for), so a brief CDN error must never send the caller back to generating it again."""
    if url.startswith("data:"):
        return decode_data_uri(url, provider=provider)

    async def attempt() -> tuple[bytes, str]:
        return await _download(client, url, provider=provider, timeout=timeout, memory=memory)

    return await retry.run(attempt) if retry else await attempt()


async def _download(
    client: httpx.AsyncClient,
    url: str,
    *,
    provider: str,
    timeout: httpx.Timeout | float | None,
    memory: ImageMemory | None,
) -> tuple[bytes, str]:
    async with memory.room(TYPICAL_IMAGE_BYTES) if memory else contextlib.nullcontext():
        # Image hosts redirect to their CDN; this request carries no key.
        response = await send(
            client, "GET", url, provider=provider, timeout=timeout, follow_redirects=True
        )
    if response.status_code == 429:
        # The image host throttles us: worth waiting for (the image is paid for), not a failure.
        raise RateLimited(
            "image download was rate limited (HTTP 429)",
            provider=provider,
            retry_after=parse_retry_after(response.headers.get("retry-after")),
        )
    if transient_status(response.status_code):
        raise ProviderUnavailable(
            f"image download failed with HTTP {response.status_code}",
            provider=provider,
            status=response.status_code,
        )
    if response.status_code != 200 or not response.content:
        raise BadResponse(
            f"image download failed with HTTP {response.status_code}",
            provider=provider,
            status=response.status_code,
        )
    mime = response.headers.get("content-type", "image/jpeg").split(";")[0].strip()
    return response.content, mime if mime.startswith("image/") else "image/jpeg"


def decode_base64(payload: object, *, provider: str, what: str = "an image") -> bytes:
    """Image bytes a provider sent as base64 text; invalid or empty base64 is `BadResponse`."""
    try:
        data = base64.b64decode(str(payload), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadResponse(f"{what} came back with invalid base64", provider=provider) from exc
    if not data:
        raise BadResponse(f"{what} came back empty", provider=provider)
    return data


def decode_data_uri(uri: str, *, provider: str) -> tuple[bytes, str]:
    """(bytes, mime type) from a base64 `data:` URI; anything else is `BadResponse`."""
    header, _, payload = uri.partition(",")
    mime = header.removeprefix("data:").split(";")[0].strip() or "image/jpeg"
    if ";base64" not in header:
        raise BadResponse("an image data URI is not base64", provider=provider)
    data = decode_base64(payload, provider=provider, what="an image data URI")
    return data, mime if mime.startswith("image/") else "image/jpeg"
