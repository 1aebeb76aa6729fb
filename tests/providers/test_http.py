"""providers.http.fetch_image: how an image host's answers map into the error tree, and which of
them its own retry (the download only) tries again."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from providers.errors import BadResponse, ProviderUnavailable, RateLimited
from providers.http import fetch_image
from tests.fakes.scripting import RecordingSleep, jpeg_bytes
from tests.providers.support import quick_retry

URL = "https://cdn.example/image.jpg"
IMAGE = jpeg_bytes(1)


def host(*answers: httpx.Response) -> tuple[httpx.AsyncClient, list[httpx.Request]]:
    """A client whose image host plays `answers` in order, then serves the image."""
    queue = list(answers)
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if queue:
            return queue.pop(0)
        return httpx.Response(200, content=IMAGE, headers={"content-type": "image/jpeg"})

    return httpx.AsyncClient(transport=httpx.MockTransport(handle)), seen


@pytest.mark.parametrize(
    ("answer", "expected", "check"),
    [
        (
            httpx.Response(429, headers={"Retry-After": "2"}),
            RateLimited,
            lambda error: error.retry_after == 2.0 and error.status == 429,
        ),
        (httpx.Response(429), RateLimited, lambda error: error.retry_after is None),
        (httpx.Response(408), ProviderUnavailable, lambda error: error.status == 408),
        (httpx.Response(503), ProviderUnavailable, lambda error: error.status == 503),
        (httpx.Response(404), BadResponse, lambda error: error.status == 404),
        (httpx.Response(200), BadResponse, lambda error: error.status == 200),
    ],
    ids=["429-retry-after", "429", "408", "503", "404", "empty"],
)
async def test_a_failed_download_maps_into_the_tree(
    answer: httpx.Response, expected: type[Exception], check: Callable[[object], bool]
) -> None:
    client, _ = host(answer)
    async with client:
        with pytest.raises(expected) as caught:
            await fetch_image(client, URL, provider="test")
    assert type(caught.value) is expected
    assert check(caught.value)


@pytest.mark.parametrize(
    ("answer", "wait"),
    [
        (httpx.Response(429, headers={"Retry-After": "2"}), 2.0),
        (httpx.Response(408), None),
        (httpx.Response(502), None),
    ],
    ids=["429-retry-after", "408", "502"],
)
async def test_a_transient_download_failure_is_retried(
    answer: httpx.Response, wait: float | None
) -> None:
    sleep = RecordingSleep()
    client, seen = host(answer)
    async with client:
        data, mime = await fetch_image(client, URL, provider="test", retry=quick_retry(sleep))
    assert (data, mime) == (IMAGE, "image/jpeg")
    assert len(seen) == 2
    assert len(sleep.calls) == 1
    if wait is not None:
        assert sleep.calls == [wait]  # the host's Retry-After is honoured


async def test_a_429_asking_longer_than_the_policy_waits_is_raised_at_once() -> None:
    sleep = RecordingSleep()
    client, seen = host(httpx.Response(429, headers={"Retry-After": "30"}))
    async with client:
        with pytest.raises(RateLimited):
            await fetch_image(client, URL, provider="test", retry=quick_retry(sleep))
    assert len(seen) == 1
    assert sleep.calls == []


async def test_a_missing_image_is_not_retried() -> None:
    sleep = RecordingSleep()
    client, seen = host(httpx.Response(404))
    async with client:
        with pytest.raises(BadResponse):
            await fetch_image(client, URL, provider="test", retry=quick_retry(sleep))
    assert len(seen) == 1
    assert sleep.calls == []
