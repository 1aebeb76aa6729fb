"""No provider client lets its key reach a log line or an error, on success or on failure."""

from __future__ import annotations

import logging

import pytest

from providers.aimlapi import AimlApiProvider
from providers.base import GenerationRequest
from providers.errors import ProviderError
from providers.retry import RetryPolicy
from providers.runcomfy import RunComfyProvider
from providers.runware import RunwareProvider
from tests.fakes.aimlapi_fake import AimlApiFake
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
