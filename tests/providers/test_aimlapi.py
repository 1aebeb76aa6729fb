"""Contract tests of providers/aimlapi.py against the loopback AI/ML API fake."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import httpx
import pytest

from providers.aimlapi import KEY_ENV_VAR, AimlApiProvider
from providers.base import Aspect, GenerationRequest, PersonPolicy, SafetyLevel, SafetyOptions
from providers.catalog import ModelOffer
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
)
from tests.fakes.aimlapi_fake import AimlApiFake
from tests.fakes.scripting import RecordingSleep, Reply
from tests.providers.support import quick_retry

KEY = "aiml-fake-key-3e5c7a9b"


@pytest.fixture
async def fake() -> AsyncIterator[AimlApiFake]:
    async with AimlApiFake(api_key=KEY) as server:
        yield server


def make(
    fake: AimlApiFake,
    client: httpx.AsyncClient,
    sleep: RecordingSleep,
    *,
    key: str = KEY,
    attempts: int = 3,
    timeout: float = 10.0,
    **options: bool,
) -> AimlApiProvider:
    retry = quick_retry(sleep, attempts)
    return AimlApiProvider(
        client, key, base_url=fake.base_url, retry=retry, timeout=timeout, **options
    )


def req(**kw: object) -> GenerationRequest:
    kw.setdefault("prompt", "a fox reading a newspaper in a cafe")
    kw.setdefault("model", "imagen-4-fast")
    return GenerationRequest(**kw)  # type: ignore[arg-type]


# -- success ---------------------------------------------------------------------------------


async def test_three_inline_images_with_the_seed_that_was_sent(fake, http_client, sleep, model):
    result = await make(fake, http_client, sleep).generate(req(count=3, aspect=Aspect.WIDE), model)

    [body] = fake.bodies
    assert body["model"] == "google/imagen-4.0-fast-generate-001"
    assert body["prompt"] == "a fox reading a newspaper in a cafe"
    assert body["num_images"] == 3
    assert body["aspect_ratio"] == "16:9"
    assert body["enhance_prompt"] is False  # never rewrite the user's prompt by default
    assert body["convert_base64_to_url"] is False
    seed = body["seed"]  # chosen for the user: AI/ML API does not echo one
    assert isinstance(seed, int)
    assert [image.seed for image in result.images] == [seed, seed, seed]
    assert [image.data for image in result.images] == fake.generated
    assert all(image.mime_type == "image/png" for image in result.images)
    assert all((image.width, image.height) == (1408, 768) for image in result.images)
    assert result.cost_source == "catalog"
    assert result.cost_usd == pytest.approx(0.06)
    assert fake.downloads == []
    assert fake.requests[0].headers["authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize("status", [200, 201])
async def test_url_answers_are_downloaded(fake, http_client, sleep, model, status):
    fake.success_status = status

    result = await make(fake, http_client, sleep, inline_images=False).generate(
        req(count=2, seed=9), model
    )

    assert fake.bodies[0]["convert_base64_to_url"] is True
    assert [image.data for image in result.images] == fake.generated
    assert all(image.url and image.url.startswith(fake.base_url) for image in result.images)
    assert [image.seed for image in result.images] == [9, 9]
    assert len(fake.downloads) == 2


async def test_the_users_seed_is_sent(fake, http_client, sleep, model):
    await make(fake, http_client, sleep).generate(req(seed=4_294_967_295), model)

    assert fake.bodies[0]["seed"] == 4_294_967_295


@pytest.mark.parametrize(
    ("level", "setting"),
    [
        (SafetyLevel.STRICT, "block_low_and_above"),
        (SafetyLevel.STANDARD, "block_medium_and_above"),
        (SafetyLevel.RELAXED, "block_only_high"),
    ],
)
@pytest.mark.parametrize("people", list(PersonPolicy))
async def test_safety_options_are_mapped(fake, http_client, sleep, model, level, setting, people):
    await make(fake, http_client, sleep).generate(
        req(safety=SafetyOptions(level=level, people=people)), model
    )

    assert fake.bodies[0]["safety_setting"] == setting
    assert fake.bodies[0]["person_generation"] == people.value


async def test_prompt_enhancement_is_an_operator_choice(fake, http_client, sleep, model):
    await make(fake, http_client, sleep, enhance_prompt=True).generate(req(), model)

    assert fake.bodies[0]["enhance_prompt"] is True


async def test_a_prompt_of_400_characters_is_accepted(fake, http_client, sleep, model):
    result = await make(fake, http_client, sleep).generate(req(prompt="a" * 400), model)

    assert len(result.images) == 1


@pytest.mark.parametrize(
    ("request_options", "reason"),
    [
        ({"prompt": "a" * 401}, "at most 400"),
        ({"negative_prompt": "blur"}, "negative prompt"),
    ],
)
async def test_requests_it_cannot_serve_are_refused_before_any_call(
    fake, http_client, sleep, model, request_options, reason
):
    provider = make(fake, http_client, sleep)

    assert reason in (provider.unsupported_reason(req(**request_options), model) or "")
    with pytest.raises(InvalidRequest, match=reason):
        await provider.generate(req(**request_options), model)
    assert fake.requests == []


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        (400, "Body validation error! aspect_ratio: Invalid enum value", InvalidRequest),
        (400, "Body validation error! safety_setting: Invalid enum value", InvalidRequest),
        (400, "Your prompt was blocked by our safety system", ContentBlocked),
        (400, "The prompt violates the content policy (Responsible AI)", ContentBlocked),
        (400, "Model google/imagen-4.0-fast-generate-001 is not supported", ModelUnavailable),
        (401, "Unauthorized", AuthenticationFailed),
        (
            403,
            "You have run out of credits. Top up at https://aimlapi.com/app/billing",
            InsufficientCredits,
        ),
        (404, "Not Found", ModelUnavailable),
        (422, "Unprocessable entity", InvalidRequest),
        (429, "Free-tier limit: You've reached your free limit for the hour.", RateLimited),
        (500, "Internal server error", ProviderUnavailable),
        (503, "Service unavailable", ProviderUnavailable),
    ],
)
async def test_documented_errors_map_into_the_tree(
    fake, http_client, sleep, model, status, message, expected
):
    fake.fail_next(status, message)

    with pytest.raises(ProviderError) as caught:
        await make(fake, http_client, sleep, attempts=1).generate(req(), model)

    assert type(caught.value) is expected
    assert caught.value.provider == "aimlapi"
    assert caught.value.status == status


async def test_a_list_of_validation_messages_is_kept(fake, http_client, sleep, model):
    body = {"message": ["prompt: Required", "seed: Too big"], "statusCode": 400}
    fake.reply_next(Reply(400, body))

    with pytest.raises(InvalidRequest, match="prompt: Required; seed: Too big"):
        await make(fake, http_client, sleep).generate(req(), model)


async def test_wrong_key_names_the_env_var_and_never_the_key(fake, http_client, sleep, model):
    wrong = "aiml-wrong-key-1a2b3c4d"

    with pytest.raises(AuthenticationFailed) as caught:
        await make(fake, http_client, sleep, key=wrong).generate(req(), model)

    assert KEY_ENV_VAR in str(caught.value)
    assert caught.value.env_var == KEY_ENV_VAR
    assert wrong not in str(caught.value)
    assert len(fake.requests) == 1


async def test_a_key_echoed_in_an_error_is_redacted(fake, http_client, sleep, model):
    fake.fail_next(401, f"Invalid token {KEY}")

    with pytest.raises(AuthenticationFailed) as caught:
        await make(fake, http_client, sleep).generate(req(), model)

    assert KEY not in str(caught.value)


async def test_an_unknown_model_is_model_unavailable_by_name(fake, http_client, sleep, model):
    gone = dataclasses.replace(
        model, offers={"aimlapi": ModelOffer("aimlapi", "google/imagen-3.0-generate-002", 0.03)}
    )

    with pytest.raises(ModelUnavailable, match=r"imagen-3\.0") as caught:
        await make(fake, http_client, sleep).generate(req(), gone)

    assert caught.value.model == "google/imagen-3.0-generate-002"
    assert caught.value.status == 404


async def test_a_blocked_prompt_is_content_blocked_and_not_retried(fake, http_client, sleep, model):
    with pytest.raises(ContentBlocked):
        await make(fake, http_client, sleep).generate(req(prompt="a forbidden-subject"), model)
    assert len(fake.requests) == 1


async def test_429_then_success_is_retried_honouring_retry_after(fake, http_client, sleep, model):
    fake.fail_next(429, "Too many requests", headers={"Retry-After": "1"})

    result = await make(fake, http_client, sleep).generate(req(), model)

    assert len(result.images) == 1
    assert sleep.calls == [1.0]
    assert len(fake.requests) == 2


async def test_429_without_retry_after_backs_off(fake, http_client, sleep, model):
    fake.fail_next(429, "Too many requests")

    await make(fake, http_client, sleep).generate(req(), model)

    assert len(sleep.calls) == 1
    assert 0 < sleep.calls[0] <= 4.0


async def test_a_failed_download_is_retried_without_generating_again(
    fake, http_client, sleep, model
):
    fake.fail_next_download(502)

    result = await make(fake, http_client, sleep, inline_images=False).generate(req(), model)

    assert result.images[0].data == fake.generated[0]
    assert len(fake.requests) == 1
    assert len(fake.downloads) == 2


async def test_timeout_is_provider_unavailable(fake, http_client, sleep, model):
    stall = fake.stall_next()

    with pytest.raises(ProviderUnavailable, match="timed out"):
        await make(fake, http_client, sleep, attempts=1, timeout=0.2).generate(req(), model)
    assert stall.arrived.is_set()


@pytest.mark.parametrize(
    "reply",
    [
        Reply(201, text='{"data": [{"b64_json": "iVBOR'),
        Reply(200, json={"data": []}),
        Reply(200, json={"images": [{"url": "https://cdn.example/x.png"}]}),
        Reply(200, json={"data": [{"mime_type": "image/png"}]}),
        Reply(200, json={"data": [{"b64_json": "not base64!"}]}),
        Reply(200, json=[]),
    ],
    ids=["truncated", "empty", "other-shape", "no-image", "bad-base64", "array"],
)
async def test_malformed_answers_are_bad_responses(fake, http_client, sleep, model, reply):
    fake.reply_next(reply)

    with pytest.raises(BadResponse):
        await make(fake, http_client, sleep).generate(req(), model)
    assert len(fake.requests) == 1


async def test_an_error_page_that_is_not_json_maps_by_status(fake, http_client, sleep, model):
    fake.reply_next(Reply(502, text="<html>bad gateway</html>", content_type="text/html"))

    with pytest.raises(ProviderUnavailable):
        await make(fake, http_client, sleep, attempts=1).generate(req(), model)


# -- the fake itself follows the documentation -------------------------------------------------


async def test_fake_enforces_the_documented_schema(fake, http_client):
    url = fake.base_url + "/v1/images/generations"
    headers = {"Authorization": f"Bearer {KEY}"}
    base = {"model": "google/imagen-4.0-fast-generate-001", "prompt": "a cat"}
    for body in (
        {**base, "prompt": "a" * 401},
        {**base, "num_images": 5},
        {**base, "seed": -1},
        {**base, "aspect_ratio": "2:1"},
        {**base, "safety_setting": "block_none"},
        {**base, "negative_prompt": "dogs"},
    ):
        response = await http_client.post(url, json=body, headers=headers)
        assert response.status_code == 400, body
        assert response.json()["message"].startswith("Body validation error!")
    ok = await http_client.post(url, json=base, headers=headers)
    assert ok.status_code == 201
    assert set(ok.json()["data"][0]) >= {"url", "mime_type"}  # the documented default: a URL
    assert (await http_client.post(url, json=base)).status_code == 401
