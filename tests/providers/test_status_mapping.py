"""HTTP statuses every provider client maps the same way, whatever its own error shapes."""

from __future__ import annotations

import httpx
import pytest

from providers.aimlapi import AimlApiProvider
from providers.base import GenerationRequest, ImageProvider
from providers.catalog import ModelSpec
from providers.errors import ProviderUnavailable
from providers.fal import FalProvider
from providers.gemini import GeminiProvider
from providers.replicate import ReplicateProvider
from providers.runcomfy import RunComfyProvider
from providers.runware import RunwareProvider
from tests.fakes.scripting import RecordingSleep
from tests.providers.support import quick_retry

BASE = "https://provider.example"
PROVIDERS: list[type[ImageProvider]] = [
    RunwareProvider,
    RunComfyProvider,
    AimlApiProvider,
    GeminiProvider,
    FalProvider,
    ReplicateProvider,
]


@pytest.mark.parametrize("cls", PROVIDERS, ids=lambda cls: cls.name)
async def test_408_is_unavailable_retried_then_failed_over(
    cls: type[ImageProvider], model: ModelSpec, sleep: RecordingSleep
) -> None:
    """A 408 means the server gave up waiting for our request: try again, then another
    provider, rather than report the request itself as invalid."""
    seen: list[httpx.Request] = []

    def timeout(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(408, json={"message": "Request Timeout"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(timeout)) as client:
        retry = quick_retry(sleep, 2)
        provider = cls(client, "k-0123456789", base_url=BASE, retry=retry)  # type: ignore[call-arg]
        with pytest.raises(ProviderUnavailable) as caught:
            await provider.generate(GenerationRequest(prompt="a kite", model=model.key), model)

    assert caught.value.status == 408
    assert len(seen) == 2  # retried once by the policy, then raised for the router
