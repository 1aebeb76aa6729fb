"""Contract tests of providers/runware.py against the loopback Runware fake."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from providers.base import (
    Aspect,
    GeneratedImage,
    GenerationRequest,
    SafetyLevel,
    SafetyOptions,
)
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
from providers.memory import TYPICAL_IMAGE_BYTES, ImageMemory
from providers.runware import KEY_ENV_VAR, RunwareProvider
from tests.fakes.runware_fake import RunwareFake
from tests.fakes.scripting import RecordingSleep, Reply, jpeg_bytes
from tests.providers.support import quick_retry

KEY = "rw-fake-key-5f1c9d2e"


@pytest.fixture
async def fake() -> AsyncIterator[RunwareFake]:
    async with RunwareFake(api_key=KEY) as server:
        yield server


def make(
    fake: RunwareFake,
    client: httpx.AsyncClient,
    sleep: RecordingSleep,
    *,
    key: str = KEY,
    attempts: int = 3,
    timeout: float = 10.0,
    inline_images: bool = True,
) -> RunwareProvider:
    retry = quick_retry(sleep, attempts)
    return RunwareProvider(
        client, key, base_url=fake.url, retry=retry, timeout=timeout, inline_images=inline_images
    )


def req(**kw: object) -> GenerationRequest:
    kw.setdefault("prompt", "a lighthouse in a storm, oil painting")
    kw.setdefault("model", "imagen-4-fast")
    return GenerationRequest(**kw)  # type: ignore[arg-type]


# -- success ---------------------------------------------------------------------------------


@pytest.mark.parametrize("inline", [True, False], ids=["inline", "urls"])
async def test_three_images_with_their_own_seeds_costs_and_bytes(
    fake, http_client, sleep, model, inline
):
    provider = make(fake, http_client, sleep, inline_images=inline)

    result = await provider.generate(req(count=3, aspect=Aspect.WIDE), model)

    assert len(result.images) == 3
    assert len(fake.requests) == 1
    [task] = fake.tasks
    assert task["numberResults"] == 3
    assert task["outputType"] == ("base64Data" if inline else "URL")
    seeds = [image.seed for image in result.images]
    assert len(set(seeds)) == 3
    assert all(isinstance(seed, int) and seed >= 1 for seed in seeds)
    for image in result.images:
        assert image.data == jpeg_bytes(image.seed)  # the bytes served for that image
        assert image.mime_type == "image/jpeg"
        assert image.cost_usd == pytest.approx(0.02)
        assert (image.width, image.height) == (1408, 768)
    assert result.cost_usd == pytest.approx(0.06)
    assert result.cost_source == "reported"
    assert result.model_id == "google:2@3"
    # Inline bytes save a download round trip per image.
    assert len(fake.downloads) == (0 if inline else 3)


@pytest.mark.parametrize(
    ("aspect", "size"),
    [
        (Aspect.SQUARE, (1024, 1024)),
        (Aspect.WIDE, (1408, 768)),
        (Aspect.TALL, (768, 1408)),
        (Aspect.LANDSCAPE, (1280, 896)),
        (Aspect.PORTRAIT, (896, 1280)),
    ],
)
async def test_aspect_is_sent_as_an_allowed_imagen_size(
    fake, http_client, sleep, model, aspect, size
):
    result = await make(fake, http_client, sleep).generate(req(aspect=aspect), model)

    [task] = fake.tasks
    assert (task["width"], task["height"]) == size
    assert (result.images[0].width, result.images[0].height) == size


async def test_negative_prompt_seed_and_bearer_key_are_sent(fake, http_client, sleep, model):
    result = await make(fake, http_client, sleep).generate(
        req(count=2, seed=42, negative_prompt="blurry, text"), model
    )

    [task] = fake.tasks
    assert task["seed"] == 42
    assert task["negativePrompt"] == "blurry, text"
    assert task["positivePrompt"] == "a lighthouse in a storm, oil painting"
    assert task["includeCost"] is True
    assert fake.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert [image.seed for image in result.images] == [42, 43]


async def test_no_seed_is_sent_when_the_user_chose_none(fake, http_client, sleep, model):
    result = await make(fake, http_client, sleep).generate(req(), model)

    assert "seed" not in fake.tasks[0]
    assert "negativePrompt" not in fake.tasks[0]
    assert result.images[0].seed is not None  # Runware reports the seed it used


@pytest.mark.parametrize("level", list(SafetyLevel))
async def test_safety_check_is_requested_in_a_mode_the_model_accepts(
    fake, http_client, sleep, model, level
):
    request = req(safety=SafetyOptions(level=level))

    result = await make(fake, http_client, sleep).generate(request, model)

    assert fake.tasks[0]["safety"] == {"checkContent": True, "mode": "fast"}
    assert result.images[0].flagged_nsfw is False


async def test_nsfw_flag_is_carried_on_the_image(fake, http_client, sleep, model):
    result = await make(fake, http_client, sleep).generate(
        req(prompt="nsfw-marker at the beach", count=2), model
    )

    assert [image.flagged_nsfw for image in result.images] == [True, True]


async def test_seed_zero_is_refused_before_any_call(fake, http_client, sleep, model):
    with pytest.raises(InvalidRequest, match="seeds start at 1"):
        await make(fake, http_client, sleep).generate(req(seed=0), model)
    assert fake.requests == []


async def test_base64_output_is_decoded(fake, http_client, sleep, model):
    data = jpeg_bytes(7)
    item = {"seed": 7, "cost": 0.02, "imageBase64Data": base64.b64encode(data).decode()}
    fake.reply_next(Reply(200, {"data": [item]}))

    result = await make(fake, http_client, sleep).generate(req(), model)

    assert result.images[0].data == data
    assert fake.downloads == []


# -- retries ---------------------------------------------------------------------------------


async def test_503_then_success_is_retried_with_a_fresh_task_uuid(fake, http_client, sleep, model):
    fake.fail_next(503, "serverError", "Service temporarily unavailable")

    result = await make(fake, http_client, sleep).generate(req(count=2), model)

    assert len(result.images) == 2
    assert len(sleep.calls) == 1
    first, second = (task["taskUUID"] for task in fake.tasks)
    assert first != second
    assert uuid.UUID(first).version == uuid.UUID(second).version == 4


async def test_429_retry_after_is_honoured(fake, http_client, sleep, model):
    fake.fail_next(429, "rateLimitExceeded", "Too many requests", headers={"Retry-After": "2"})

    result = await make(fake, http_client, sleep).generate(req(), model)

    assert len(result.images) == 1
    assert sleep.calls == [2.0]
    assert len(fake.tasks) == 2


async def test_429_asking_longer_than_we_wait_fails_over_at_once(fake, http_client, sleep, model):
    fake.fail_next(429, "rateLimitExceeded", "Too many requests", headers={"Retry-After": "30"})

    with pytest.raises(RateLimited) as caught:
        await make(fake, http_client, sleep).generate(req(), model)

    assert caught.value.retry_after == 30.0
    assert sleep.calls == []
    assert len(fake.requests) == 1


async def test_persistent_503_gives_up_after_the_policys_attempts(fake, http_client, sleep, model):
    for _ in range(3):
        fake.fail_next(503, "serverError", "Service temporarily unavailable")

    with pytest.raises(ProviderUnavailable):
        await make(fake, http_client, sleep, attempts=3).generate(req(), model)

    assert len(fake.requests) == 3
    assert len(sleep.calls) == 2


async def test_without_room_for_them_now_images_come_as_urls_downloaded_within_the_budget(
    fake, http_client, sleep, model
):
    provider = make(fake, http_client, sleep)
    # One typical image fits beside what is held, two do not: the answer cannot be inline.
    held = GeneratedImage(data=b"x", mime_type="image/jpeg", seed=1)
    provider.memory = memory = ImageMemory(TYPICAL_IMAGE_BYTES + 1)
    memory.track(held)

    result = await provider.generate(req(count=2), model)

    [task] = fake.tasks
    assert task["outputType"] == "URL"
    assert len(fake.downloads) == 2
    assert [image.data for image in result.images] == [jpeg_bytes(i.seed) for i in result.images]
    assert memory.held == 1 + sum(len(image.data) for image in result.images)


async def test_an_inline_answer_holds_its_room_while_runware_works(fake, http_client, sleep, model):
    provider = make(fake, http_client, sleep)
    provider.memory = memory = ImageMemory(10 * TYPICAL_IMAGE_BYTES)
    stall = fake.stall_next()

    call = asyncio.create_task(provider.generate(req(count=2), model))
    await stall.arrived.wait()
    # The bytes will arrive with the answer, before anything could wait: their room is taken now.
    assert memory.held == 2 * TYPICAL_IMAGE_BYTES
    stall.release.set()
    result = await call

    assert memory.held == sum(len(image.data) for image in result.images)  # now the images count


async def test_the_room_held_for_an_inline_answer_comes_back_when_the_call_fails(
    fake, http_client, sleep, model
):
    provider = make(fake, http_client, sleep, key="rw-wrong-key-0000")
    provider.memory = memory = ImageMemory(10 * TYPICAL_IMAGE_BYTES)

    with pytest.raises(AuthenticationFailed):
        await provider.generate(req(count=4), model)

    [task] = fake.tasks
    assert task["outputType"] == "base64Data"
    assert memory.held == 0


async def test_a_failed_download_is_retried_without_generating_again(
    fake, http_client, sleep, model
):
    fake.fail_next_download(502)

    result = await make(fake, http_client, sleep, inline_images=False).generate(req(), model)

    assert len(result.images) == 1
    assert len(fake.requests) == 1  # one inference, paid once
    assert len(fake.downloads) == 2


async def test_a_missing_image_is_a_bad_response(fake, http_client, sleep, model):
    fake.fail_next_download(404)

    with pytest.raises(BadResponse):
        await make(fake, http_client, sleep, inline_images=False).generate(req(), model)


async def test_timeout_is_provider_unavailable(fake, http_client, sleep, model):
    stall = fake.stall_next()

    with pytest.raises(ProviderUnavailable, match="timed out"):
        await make(fake, http_client, sleep, attempts=1, timeout=0.2).generate(req(), model)

    assert stall.arrived.is_set()


async def test_a_stalled_attempt_is_retried_and_the_retry_succeeds(fake, http_client, sleep, model):
    fake.stall_next()

    # The timeout also bounds the retry, which must succeed: 0.5 s leaves room on a busy machine.
    provider = make(fake, http_client, sleep, attempts=2, timeout=0.5)

    result = await provider.generate(req(), model)

    assert len(result.images) == 1
    assert len(fake.tasks) == 2
    assert fake.tasks[0]["taskUUID"] != fake.tasks[1]["taskUUID"]


# -- errors ----------------------------------------------------------------------------------


async def test_wrong_key_names_the_env_var_and_never_the_key(fake, http_client, sleep, model):
    wrong = "rw-wrong-key-a8b7c6d5"

    with pytest.raises(AuthenticationFailed) as caught:
        await make(fake, http_client, sleep, key=wrong).generate(req(), model)

    error = caught.value
    assert KEY_ENV_VAR in str(error)
    assert error.env_var == KEY_ENV_VAR
    assert wrong not in str(error)
    assert len(fake.requests) == 1  # not retried


async def test_a_key_echoed_by_the_provider_is_redacted(fake, http_client, sleep, model):
    fake.fail_next(401, "invalidApiKey", f"Invalid API key {KEY}.", parameter="apiKey")

    with pytest.raises(AuthenticationFailed) as caught:
        await make(fake, http_client, sleep).generate(req(), model)

    assert KEY not in str(caught.value)
    assert KEY not in repr(caught.value.args)
    assert "[redacted]" in str(caught.value)


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, "invalidPositivePrompt", InvalidRequest),
        (401, "invalidApiKey", AuthenticationFailed),
        (402, "insufficientCredits", InsufficientCredits),
        (403, "forbidden", AuthenticationFailed),
        (400, "invalidProviderContent", ContentBlocked),
        (400, "invalidModel", ModelUnavailable),
        (504, "timeoutProvider", ProviderUnavailable),
    ],
)
async def test_documented_errors_map_into_the_tree(
    fake, http_client, sleep, model, status, code, expected
):
    fake.fail_next(status, code, f"scripted {code}")

    with pytest.raises(ProviderError) as caught:
        await make(fake, http_client, sleep, attempts=1).generate(req(), model)

    assert type(caught.value) is expected
    assert caught.value.status == status
    assert caught.value.provider == "runware"


@pytest.mark.parametrize(
    ("status", "expected"),
    [(400, InvalidRequest), (401, AuthenticationFailed), (402, InsufficientCredits)],
)
async def test_legacy_error_shape_is_understood(fake, http_client, sleep, model, status, expected):
    fake.fail_next_legacy(status, 19, "Legacy failure text")

    with pytest.raises(expected, match="Legacy failure text"):
        await make(fake, http_client, sleep, attempts=1).generate(req(), model)


async def test_validation_by_the_fake_is_an_invalid_request(fake, http_client, sleep, model):
    # A size Imagen does not accept: the catalog is data, so an operator could get it wrong.
    bad = dataclasses.replace(model, sizes={**model.sizes, "1:1": (1000, 1000)})

    with pytest.raises(InvalidRequest, match="dimensions"):
        await make(fake, http_client, sleep).generate(req(), bad)
    assert len(fake.requests) == 1


async def test_an_unknown_model_is_model_unavailable(fake, http_client, sleep, model):
    retired = dataclasses.replace(
        model, offers={"runware": ModelOffer("runware", "google:9@9", 0.02)}
    )

    with pytest.raises(ModelUnavailable) as caught:
        await make(fake, http_client, sleep).generate(req(), retired)

    assert caught.value.model == "google:9@9"
    assert "google:9@9" in str(caught.value)


async def test_content_moderation_is_content_blocked_and_not_retried(
    fake, http_client, sleep, model
):
    with pytest.raises(ContentBlocked) as caught:
        await make(fake, http_client, sleep).generate(req(prompt="a forbidden-subject"), model)

    assert caught.value.reason == "invalidProviderContent"
    assert len(fake.requests) == 1


async def test_an_error_page_that_is_not_json_still_maps_by_status(fake, http_client, sleep, model):
    fake.reply_next(Reply(503, text="<html>Bad gateway</html>", content_type="text/html"))

    with pytest.raises(ProviderUnavailable):
        await make(fake, http_client, sleep, attempts=1).generate(req(), model)


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, text='{"data": [{"imageURL": ', content_type="application/json"),
        Reply(200, text="", content_type="application/json"),
        Reply(200, json=[{"taskType": "imageInference"}]),
        Reply(200, json={"data": []}),
        Reply(200, json={"data": [{"taskType": "imageInference", "seed": 3}]}),
    ],
    ids=["truncated", "empty", "array", "no-images", "no-url"],
)
async def test_malformed_answers_are_bad_responses(fake, http_client, sleep, model, reply):
    fake.reply_next(reply)

    with pytest.raises(BadResponse):
        await make(fake, http_client, sleep).generate(req(), model)
    assert len(fake.requests) == 1  # not retried


# -- the fake itself follows the documentation -------------------------------------------------


async def test_fake_enforces_the_documented_task_rules(fake, http_client):
    def task(**kw: object) -> dict:
        base = {
            "taskType": "imageInference",
            "taskUUID": str(uuid.uuid4()),
            "model": "google:2@3",
            "positivePrompt": "a cat",
            "width": 1024,
            "height": 1024,
        }
        return {**base, **kw}

    headers = {"Authorization": f"Bearer {KEY}"}
    cases = {
        "invalidTaskUUID": task(taskUUID=str(uuid.uuid1())),
        "invalidPositivePrompt": task(positivePrompt="a"),
        "invalidWidth": task(width=1000),
        "invalidNumberResults": task(numberResults=5),
        "invalidSeed": task(seed=0),
        "invalidSafety": task(safety={"checkContent": True, "mode": "full"}),
    }
    for code, body in cases.items():
        response = await http_client.post(fake.url, json=[body], headers=headers)
        assert response.status_code == 400, code
        assert response.json()["errors"][0]["code"] == code

    reused = task()
    assert (await http_client.post(fake.url, json=[reused], headers=headers)).status_code == 200
    again = await http_client.post(fake.url, json=[reused], headers=headers)
    assert again.json()["errors"][0]["code"] == "duplicateTaskUUID"

    auth_task = {"taskType": "authentication", "apiKey": KEY}
    ok = await http_client.post(fake.url, json=[auth_task, task()])
    assert ok.status_code == 200
    assert (await http_client.post(fake.url, json=[task()])).status_code == 401
