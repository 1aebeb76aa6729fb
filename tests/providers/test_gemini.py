"""Contract tests for the Gemini API client against its loopback fake (gemini_fake.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from providers.base import GenerationRequest, PersonPolicy, SafetyLevel, SafetyOptions
from providers.catalog import Catalog
from providers.errors import (
    AuthenticationFailed,
    BadResponse,
    ContentBlocked,
    InvalidRequest,
    ModelUnavailable,
    ProviderUnavailable,
    RateLimited,
)
from providers.gemini import KEY_ENV_VAR, GeminiProvider
from providers.retry import RetryPolicy
from tests.fakes.gemini_fake import FILTER_REASON, GeminiFake, google_error, jpeg_bytes
from tests.fakes.loopback import LoopbackServer
from tests.fakes.scripting import RecordingSleep
from tests.fakes.served import served
from tests.providers.support import quick_retry

RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"


@pytest.fixture
async def fake() -> AsyncIterator[GeminiFake]:
    async with served(GeminiFake()) as fake:
        yield fake


@pytest.fixture
def provider(
    fake: GeminiFake, http_client: httpx.AsyncClient, sleep: RecordingSleep
) -> GeminiProvider:
    return GeminiProvider(
        http_client,
        fake.api_key,
        base_url=fake.base_url,
        retry=quick_retry(sleep),
    )


def ask(**kw: object) -> GenerationRequest:
    return GenerationRequest(**{"prompt": "a lighthouse at dusk", "model": "imagen-4-fast", **kw})


async def test_success_decodes_bytes_and_sends_the_documented_body(
    provider: GeminiProvider, fake: GeminiFake, catalog: Catalog
) -> None:
    result = await provider.generate(ask(count=2, aspect="16:9"), catalog.get("imagen-4-fast"))

    assert [image.data for image in result.images] == [jpeg_bytes(0), jpeg_bytes(1)]
    assert {image.mime_type for image in result.images} == {"image/jpeg"}
    assert all(image.seed is None and image.url is None for image in result.images)
    assert (result.images[0].width, result.images[0].height) == (1408, 768)
    assert (result.provider, result.model_id) == ("gemini", "imagen-4.0-fast-generate-001")
    assert (result.cost_usd, result.cost_source) == (0.04, "catalog")
    (call,) = fake.calls
    assert call.model == "imagen-4.0-fast-generate-001"
    assert call.headers["x-goog-api-key"] == fake.api_key
    assert call.body == {
        "instances": [{"prompt": "a lighthouse at dusk"}],
        "parameters": {
            "sampleCount": 2,
            "aspectRatio": "16:9",
            "personGeneration": "allow_adult",
            "safetySetting": "block_medium_and_above",
            "includeRaiReason": True,
            "outputOptions": {"mimeType": "image/jpeg"},
        },
    }


@pytest.mark.parametrize(
    ("level", "setting"),
    [
        (SafetyLevel.STRICT, "block_low_and_above"),
        (SafetyLevel.STANDARD, "block_medium_and_above"),
        (SafetyLevel.RELAXED, "block_only_high"),
    ],
)
async def test_safety_options_map_to_the_gemini_parameters(
    provider: GeminiProvider,
    fake: GeminiFake,
    catalog: Catalog,
    level: SafetyLevel,
    setting: str,
) -> None:
    safety = SafetyOptions(level=level, people=PersonPolicy.DONT_ALLOW)
    await provider.generate(ask(safety=safety), catalog.get("imagen-4-fast"))
    params = fake.calls[0].body["parameters"]
    assert (params["safetySetting"], params["personGeneration"]) == (setting, "dont_allow")


@pytest.mark.parametrize(
    ("people", "wire"),
    [(PersonPolicy.ALLOW_ADULT, "allow_adult"), (PersonPolicy.DONT_ALLOW, "dont_allow")],
)
async def test_the_people_policy_maps_to_person_generation(
    provider: GeminiProvider, fake: GeminiFake, catalog: Catalog, people: PersonPolicy, wire: str
) -> None:
    await provider.generate(ask(safety=SafetyOptions(people=people)), catalog.get("imagen-4-fast"))
    params = fake.calls[0].body["parameters"]
    assert (params["personGeneration"], params["safetySetting"]) == (wire, "block_medium_and_above")


async def test_some_images_filtered_returns_the_rest_and_prices_only_those(
    provider: GeminiProvider, fake: GeminiFake, catalog: Catalog
) -> None:
    fake.filtered = {1}
    result = await provider.generate(ask(count=3), catalog.get("imagen-4-fast"))
    assert [image.data for image in result.images] == [jpeg_bytes(0), jpeg_bytes(2)]
    assert result.cost_usd == 0.04


async def test_every_image_filtered_is_content_blocked_with_the_reason(
    provider: GeminiProvider, fake: GeminiFake, catalog: Catalog
) -> None:
    fake.filtered = {0, 1}
    with pytest.raises(ContentBlocked) as caught:
        await provider.generate(ask(count=2), catalog.get("imagen-4-fast"))
    assert caught.value.reason == FILTER_REASON
    assert len(fake.calls) == 1  # a refusal is not retried


async def test_an_empty_answer_is_read_as_filtered(
    provider: GeminiProvider, fake: GeminiFake, catalog: Catalog
) -> None:
    fake.script(200, {})
    with pytest.raises(ContentBlocked):
        await provider.generate(ask(), catalog.get("imagen-4-fast"))


async def test_blocked_prompt_is_content_blocked_and_not_retried(
    provider: GeminiProvider, fake: GeminiFake, catalog: Catalog
) -> None:
    with pytest.raises(ContentBlocked) as caught:
        await provider.generate(ask(prompt="a forbidden thing"), catalog.get("imagen-4-fast"))
    assert "Responsible AI" in caught.value.reason
    assert caught.value.status == 400
    assert len(fake.calls) == 1


async def test_bad_key_names_the_env_var_and_never_echoes_the_key(
    fake: GeminiFake, http_client: httpx.AsyncClient, catalog: Catalog, sleep: RecordingSleep
) -> None:
    wrong = "AIzaWrongKey-0123456789"
    provider = GeminiProvider(
        http_client, wrong, base_url=fake.base_url, retry=RetryPolicy(sleep=sleep)
    )
    with pytest.raises(AuthenticationFailed) as caught:
        await provider.generate(ask(), catalog.get("imagen-4-fast"))
    assert caught.value.env_var == KEY_ENV_VAR
    assert KEY_ENV_VAR in str(caught.value)
    assert wrong not in str(caught.value)
    assert len(fake.calls) == 1
    assert sleep.calls == []


async def test_a_key_echoed_in_an_error_message_is_redacted(
    provider: GeminiProvider, fake: GeminiFake, catalog: Catalog
) -> None:
    fake.script(400, google_error(400, "INVALID_ARGUMENT", f"bad request for key {fake.api_key}"))
    with pytest.raises(InvalidRequest) as caught:
        await provider.generate(ask(), catalog.get("imagen-4-fast"))
    assert fake.api_key not in str(caught.value)
    assert "[redacted]" in str(caught.value)


async def test_permission_denied_is_an_authentication_failure(
    provider: GeminiProvider, fake: GeminiFake, catalog: Catalog
) -> None:
    fake.script(403, google_error(403, "PERMISSION_DENIED", "Method doesn't allow unregistered"))
    with pytest.raises(AuthenticationFailed) as caught:
        await provider.generate(ask(), catalog.get("imagen-4-fast"))
    assert caught.value.env_var == KEY_ENV_VAR


async def test_retired_model_is_model_unavailable(
    provider: GeminiProvider, fake: GeminiFake, catalog: Catalog
) -> None:
    fake.retired = {"imagen-4.0-fast-generate-001"}
    with pytest.raises(ModelUnavailable) as caught:
        await provider.generate(ask(), catalog.get("imagen-4-fast"))
    assert caught.value.model == "imagen-4.0-fast-generate-001"
    assert "imagen-4.0-fast-generate-001" in str(caught.value)
    assert len(fake.calls) == 1


async def test_rate_limit_honours_retry_info_then_succeeds(
    provider: GeminiProvider, fake: GeminiFake, catalog: Catalog, sleep: RecordingSleep
) -> None:
    fake.script(
        429,
        google_error(
            429,
            "RESOURCE_EXHAUSTED",
            "Quota exceeded for metric: generate_requests_per_model",
            [{"@type": RETRY_INFO, "retryDelay": "2s"}],
        ),
    )
    result = await provider.generate(ask(), catalog.get("imagen-4-fast"))
    assert len(result.images) == 1
    assert sleep.calls == [2.0]
    assert len(fake.calls) == 2


async def test_rate_limit_longer_than_we_wait_fails_over_at_once(
    provider: GeminiProvider, fake: GeminiFake, catalog: Catalog, sleep: RecordingSleep
) -> None:
    fake.script(
        429,
        google_error(
            429,
            "RESOURCE_EXHAUSTED",
            "Quota exceeded",
            [{"@type": RETRY_INFO, "retryDelay": "37s"}],
        ),
    )
    with pytest.raises(RateLimited) as caught:
        await provider.generate(ask(), catalog.get("imagen-4-fast"))
    assert caught.value.retry_after == 37.0
    assert sleep.calls == []
    assert len(fake.calls) == 1


async def test_rate_limit_without_retry_info_uses_retry_after_header(
    provider: GeminiProvider, fake: GeminiFake, catalog: Catalog
) -> None:
    for _ in range(3):
        fake.script(
            429,
            google_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded"),
            headers={"Retry-After": "1"},
        )
    with pytest.raises(RateLimited) as caught:
        await provider.generate(ask(), catalog.get("imagen-4-fast"))
    assert caught.value.retry_after == 1.0
    assert len(fake.calls) == 3


async def test_server_errors_are_retried_then_unavailable(
    provider: GeminiProvider, fake: GeminiFake, catalog: Catalog, sleep: RecordingSleep
) -> None:
    fake.script(503, google_error(503, "UNAVAILABLE", "The model is overloaded."))
    fake.script(500, "<html>Internal error</html>", raw=True)
    fake.script(504, google_error(504, "DEADLINE_EXCEEDED", "Deadline exceeded"))
    with pytest.raises(ProviderUnavailable) as caught:
        await provider.generate(ask(), catalog.get("imagen-4-fast"))
    assert caught.value.status == 504
    assert len(fake.calls) == 3
    assert len(sleep.calls) == 2


async def test_a_server_error_then_success(
    provider: GeminiProvider, fake: GeminiFake, catalog: Catalog
) -> None:
    fake.script(503, google_error(503, "UNAVAILABLE", "The model is overloaded."))
    result = await provider.generate(ask(), catalog.get("imagen-4-fast"))
    assert [image.data for image in result.images] == [jpeg_bytes(0)]


async def test_a_refused_safety_setting_is_invalid_not_blocked(
    provider: GeminiProvider, fake: GeminiFake, catalog: Catalog
) -> None:
    fake.script(
        400,
        google_error(
            400, "INVALID_ARGUMENT", "Only block_low_and_above is supported for safetySetting."
        ),
    )
    with pytest.raises(InvalidRequest):
        await provider.generate(ask(), catalog.get("imagen-4-fast"))
    assert len(fake.calls) == 1


@pytest.mark.parametrize(
    "answer",
    [
        "not json at all",
        '["a", "list"]',
        '{"predictions": {"bytesBase64Encoded": "AAAA"}}',
        '{"predictions": [{"bytesBase64Encoded": "***not base64***"}]}',
        '{"predictions": [{"mimeType": "image/jpeg"}]}',
        '{"predictions": ["a string"]}',
    ],
)
async def test_malformed_answers_are_bad_responses(
    provider: GeminiProvider, fake: GeminiFake, catalog: Catalog, answer: str
) -> None:
    fake.script(200, answer, raw=True)
    with pytest.raises(BadResponse):
        await provider.generate(ask(), catalog.get("imagen-4-fast"))
    assert len(fake.calls) == 1  # not retried: the same answer would come back


async def test_a_stalled_answer_times_out_as_unavailable(
    fake: GeminiFake, http_client: httpx.AsyncClient, catalog: Catalog
) -> None:
    provider = GeminiProvider(
        http_client,
        fake.api_key,
        base_url=fake.base_url,
        retry=RetryPolicy(attempts=1),
        timeout=0.2,
    )
    fake.gate.close()
    with pytest.raises(ProviderUnavailable, match="timed out"):
        await provider.generate(ask(), catalog.get("imagen-4-fast"))
    assert fake.gate.reached.is_set()


async def test_connection_refused_is_unavailable(
    http_client: httpx.AsyncClient, catalog: Catalog
) -> None:
    server = LoopbackServer(GeminiFake().app())
    await server.start()
    base_url = server.base_url
    await server.stop()
    provider = GeminiProvider(
        http_client, "k" * 20, base_url=base_url, retry=RetryPolicy(attempts=1)
    )
    with pytest.raises(ProviderUnavailable, match="could not connect"):
        await provider.generate(ask(), catalog.get("imagen-4-fast"))


@pytest.mark.parametrize("extra", [{"seed": 7}, {"negative_prompt": "blurry"}])
async def test_seed_and_negative_prompt_are_refused_before_any_call(
    provider: GeminiProvider, fake: GeminiFake, catalog: Catalog, extra: dict
) -> None:
    with pytest.raises(InvalidRequest):
        await provider.generate(ask(**extra), catalog.get("imagen-4-fast"))
    assert fake.calls == []


def test_capabilities_match_the_api() -> None:
    caps = GeminiProvider.capabilities
    assert (caps.seed_input, caps.seed_output, caps.negative_prompt) == (False, False, False)
    assert caps.max_images_per_call == 4
    assert not caps.cancel
    assert not caps.reports_cost
    assert GeminiProvider.key_env_var == "GEMINI_API_KEY"
