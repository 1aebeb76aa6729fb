"""No provider client lets its key reach a log line or an error, on success or on failure."""

from __future__ import annotations

import logging

import httpx
import pytest
from aiohttp import web

from providers.aimlapi import AimlApiProvider
from providers.base import GenerationRequest
from providers.errors import ProviderError
from providers.gemini import GeminiProvider
from providers.retry import RetryPolicy
from providers.runcomfy import RunComfyProvider
from providers.runware import RunwareProvider
from tests.fakes.aimlapi_fake import AimlApiFake
from tests.fakes.loopback import LoopbackServer
from tests.fakes.runcomfy_fake import RunComfyFake
from tests.fakes.runware_fake import RunwareFake
from tests.fakes.scripting import RecordingSleep

KEY = "sk-secret-0123456789abcdef"


@pytest.mark.parametrize("which", ["runware", "runcomfy", "aimlapi"])
async def test_the_key_never_reaches_logs_or_errors(which, catalog, http_client, caplog):
    caplog.set_level(logging.DEBUG)
    retry = RetryPolicy(attempts=2, sleep=RecordingSleep())
    request = GenerationRequest(prompt="a quiet harbour at dawn", model="imagen-4-fast", count=2)
    model = catalog.get("imagen-4-fast")
    fakes = {"runware": RunwareFake, "runcomfy": RunComfyFake, "aimlapi": AimlApiFake}
    async with fakes[which](api_key=KEY) as fake:
        url = fake.url if isinstance(fake, RunwareFake) else fake.base_url
        providers = {
            "runware": RunwareProvider,
            "runcomfy": RunComfyProvider,
            "aimlapi": AimlApiProvider,
        }
        good = providers[which](http_client, KEY, base_url=url, retry=retry)
        bad = providers[which](http_client, KEY[::-1], base_url=url, retry=retry)

        result = await good.generate(request, model)
        with pytest.raises(ProviderError) as caught:
            await bad.generate(request, model)

    assert len(result.images) == 2
    assert caplog.records  # httpx and httpcore did log: the check below has something to read
    for secret in (KEY, KEY[::-1]):
        assert secret not in caplog.text
        assert secret not in str(caught.value)
        assert secret not in repr(caught.value.__dict__)


async def test_a_redirect_does_not_carry_a_key_to_another_host(catalog):
    # The bot's shared client follows redirects (for image CDNs); httpx strips only
    # Authorization across origins, so Gemini's x-goog-api-key would travel with one.
    seen: list[str] = []

    async def elsewhere(request: web.Request) -> web.Response:
        seen.append(request.headers.get("x-goog-api-key", ""))
        return web.json_response({"predictions": []})

    other_app = web.Application()
    other_app.router.add_route("*", "/{tail:.*}", elsewhere)
    async with LoopbackServer(other_app) as other:

        async def redirect(request: web.Request) -> web.Response:
            raise web.HTTPTemporaryRedirect(other.url(request.path))

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", redirect)
        async with LoopbackServer(app) as api, httpx.AsyncClient(follow_redirects=True) as client:
            provider = GeminiProvider(
                client, KEY, base_url=api.base_url, retry=RetryPolicy(attempts=1)
            )
            with pytest.raises(ProviderError) as caught:
                await provider.generate(
                    GenerationRequest(prompt="a quiet harbour", model="imagen-4-fast"),
                    catalog.get("imagen-4-fast"),
                )
    assert seen == []  # the other host never heard from us, let alone got the key
    assert KEY not in str(caught.value)
