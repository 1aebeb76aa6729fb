"""Contract tests of providers/runcomfy.py against the loopback RunComfy queue fake."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import httpx
import pytest

from providers.base import Aspect, GenerationRequest
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
from providers.runcomfy import KEY_ENV_VAR, RunComfyProvider
from tests.fakes.runcomfy_fake import MODEL_ID, Plan, RunComfyFake
from tests.fakes.scripting import ParkingSleep, RecordingSleep, Reply, Stall, jpeg_bytes
from tests.providers.support import quick_retry

KEY = "rc-fake-key-7d3a9b1e"


@pytest.fixture
async def fake() -> AsyncIterator[RunComfyFake]:
    async with RunComfyFake(api_key=KEY) as server:
        yield server


def make(
    fake: RunComfyFake,
    client: httpx.AsyncClient,
    sleep: RecordingSleep,
    *,
    key: str = KEY,
    attempts: int = 3,
    timeout: float = 10.0,
    max_wait: float = 60.0,
    poll_sleep: RecordingSleep | None = None,
) -> RunComfyProvider:
    retry = quick_retry(sleep, attempts)
    return RunComfyProvider(
        client,
        key,
        base_url=fake.base_url,
        retry=retry,
        timeout=timeout,
        poll_interval=0.5,
        max_poll_interval=2.0,
        max_wait=max_wait,
        sleep=poll_sleep,  # None: the retry policy's (recording) sleep
    )


def req(**kw: object) -> GenerationRequest:
    kw.setdefault("prompt", "a paper boat on a rain puddle")
    kw.setdefault("model", "imagen-4-fast")
    return GenerationRequest(**kw)  # type: ignore[arg-type]


# -- success ---------------------------------------------------------------------------------


async def test_one_image_through_the_queue(fake, http_client, sleep, model):
    result = await make(fake, http_client, sleep).generate(req(aspect=Aspect.WIDE), model)

    [job] = fake.jobs.values()
    assert job.model_id == MODEL_ID
    assert job.input["prompt"] == "a paper boat on a rain puddle"
    assert job.input["aspect_ratio"] == "16:9"
    assert "negative_prompt" not in job.input
    seed = job.input["seed"]  # chosen by the client: the user gave none
    [image] = result.images
    assert image.seed == seed
    assert image.data == jpeg_bytes(seed)
    assert (image.width, image.height) == (1408, 768)
    assert image.cost_usd is None
    assert result.cost_source == "catalog"
    assert result.cost_usd == pytest.approx(0.02)
    assert job.polls == 3  # in_queue, in_progress, completed
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in fake.requests)


async def test_count_fans_out_one_job_per_image_with_consecutive_seeds(
    fake, http_client, sleep, model
):
    result = await make(fake, http_client, sleep).generate(
        req(count=3, seed=100, negative_prompt="text, watermark"), model
    )

    assert sorted(job["seed"] for job in fake.submitted()) == [100, 101, 102]
    assert all(job["negative_prompt"] == "text, watermark" for job in fake.submitted())
    assert sorted(image.seed for image in result.images) == [100, 101, 102]
    assert all(image.data == jpeg_bytes(image.seed) for image in result.images)
    assert result.cost_usd == pytest.approx(0.06)


async def test_output_images_list_is_understood(fake, http_client, sleep, model):
    fake.plans.append(Plan(output="images"))

    result = await make(fake, http_client, sleep).generate(req(seed=5), model)

    assert result.images[0].data == jpeg_bytes(5)


async def test_polling_interval_is_short_and_bounded(fake, http_client, sleep, model):
    fake.plans.append(Plan(steps=["in_queue"] * 8 + ["completed"]))

    await make(fake, http_client, sleep).generate(req(), model)

    assert sleep.calls[0] == 0.5
    assert sleep.calls == sorted(sleep.calls)
    assert max(sleep.calls) == 2.0
    assert len(sleep.calls) == 8


# -- the caller abandons, or the job outlives max_wait -----------------------------------------


async def test_abandoning_a_queued_job_cancels_it_then_propagates(fake, http_client, sleep, model):
    fake.plans.append(Plan(steps=["in_queue"]))  # queued for ever
    task = asyncio.create_task(
        make(fake, http_client, sleep, poll_sleep=ParkingSleep()).generate(req(), model)
    )
    await fake.until_polled(1)

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    [job] = fake.jobs.values()
    assert job.cancel_requests == 1
    assert job.state == "cancelled"


async def test_abandoning_a_running_job_still_propagates(fake, http_client, sleep, model):
    fake.plans.append(Plan(steps=["in_progress"]))
    task = asyncio.create_task(
        make(fake, http_client, sleep, poll_sleep=ParkingSleep()).generate(req(), model)
    )
    await fake.until_polled(1)

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    [job] = fake.jobs.values()
    assert job.cancel_requests == 1  # asked; RunComfy answered not_cancellable
    assert job.state == "in_progress"


async def test_a_job_outliving_max_wait_is_cancelled_and_unavailable(
    fake, http_client, sleep, model
):
    fake.plans.append(Plan(steps=["in_queue"]))

    with pytest.raises(ProviderUnavailable, match="no result after"):
        await make(fake, http_client, sleep, max_wait=3.0).generate(req(), model)

    [job] = fake.jobs.values()
    assert job.state == "cancelled"
    assert sum(sleep.calls) >= 3.0
    assert sum(sleep.calls) < 3.0 + 2.0  # stopped within one interval of max_wait


async def test_one_failed_image_cancels_its_queued_siblings(fake, http_client, sleep, model):
    gate = Stall()
    fake.plans.extend([Plan(steps=[gate, "completed"], outcome="failed"), Plan(steps=["in_queue"])])
    task = asyncio.create_task(
        make(fake, http_client, sleep, poll_sleep=ParkingSleep()).generate(req(count=2), model)
    )
    await fake.until_polled(2)  # both jobs submitted and polled: one held, one queued

    gate.release.set()
    with pytest.raises(ProviderUnavailable, match="failed"):
        await task

    states = sorted(job.state for job in fake.jobs.values())
    assert states == ["cancelled", "completed"]


# -- failures of a job ---------------------------------------------------------------------


async def test_failed_result_maps_the_error_text(fake, http_client, sleep, model):
    fake.plans.append(Plan(outcome="failed", error="CUDA out of memory"))

    with pytest.raises(ProviderUnavailable, match="CUDA out of memory"):
        await make(fake, http_client, sleep).generate(req(), model)
    assert len([r for r in fake.requests if r.path.startswith("/v1/models/")]) == 1


async def test_failed_result_about_safety_is_content_blocked(fake, http_client, sleep, model):
    fake.plans.append(Plan(outcome="failed", error="Output blocked by the NSFW filter"))

    with pytest.raises(ContentBlocked, match="NSFW"):
        await make(fake, http_client, sleep).generate(req(), model)


async def test_a_job_cancelled_at_runcomfy_is_unavailable(fake, http_client, sleep, model):
    fake.plans.append(Plan(steps=["in_queue", "cancelled"]))

    with pytest.raises(ProviderUnavailable, match="cancelled"):
        await make(fake, http_client, sleep).generate(req(), model)


# -- error codes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, 400001, ModelUnavailable),
        (400, 400002, InsufficientCredits),
        (401, 400004, AuthenticationFailed),
        (403, 403001, AuthenticationFailed),
        (404, 404001, ModelUnavailable),
        (422, 422001, InvalidRequest),
        (500, 500001, ProviderUnavailable),
        (429, None, RateLimited),
    ],
)
async def test_submit_errors_map_into_the_tree(
    fake, http_client, sleep, model, status, code, expected
):
    fake.fail_next("submit", status, code, f"scripted {code}")

    with pytest.raises(ProviderError) as caught:
        await make(fake, http_client, sleep, attempts=1).generate(req(), model)

    assert type(caught.value) is expected
    assert caught.value.provider == "runcomfy"


async def test_error_code_nested_in_an_error_object_is_understood(fake, http_client, sleep, model):
    body = {"error": {"code": 400002, "message": "Insufficient balance"}}
    fake.reply_next("submit", Reply(400, body))

    with pytest.raises(InsufficientCredits, match="Insufficient balance"):
        await make(fake, http_client, sleep).generate(req(), model)


async def test_wrong_key_names_the_env_var_and_never_the_key(fake, http_client, sleep, model):
    wrong = "rc-wrong-key-0f9e8d7c"

    with pytest.raises(AuthenticationFailed) as caught:
        await make(fake, http_client, sleep, key=wrong).generate(req(), model)

    assert KEY_ENV_VAR in str(caught.value)
    assert caught.value.env_var == KEY_ENV_VAR
    assert wrong not in str(caught.value)
    assert len(fake.requests) == 1


async def test_a_key_echoed_in_an_error_is_redacted(fake, http_client, sleep, model):
    fake.fail_next("submit", 401, 400004, f"token {KEY} is expired")

    with pytest.raises(AuthenticationFailed) as caught:
        await make(fake, http_client, sleep).generate(req(), model)

    assert KEY not in str(caught.value)


async def test_an_unknown_model_is_model_unavailable_by_name(fake, http_client, sleep, model):
    gone = dataclasses.replace(
        model, offers={"runcomfy": ModelOffer("runcomfy", "google-deepmind/imagen-3/x", 0.02)}
    )

    with pytest.raises(ModelUnavailable, match="imagen-3/x") as caught:
        await make(fake, http_client, sleep).generate(req(), gone)

    assert caught.value.model == "google-deepmind/imagen-3/x"


async def test_a_request_lost_while_polling_is_a_bad_response(fake, http_client, sleep, model):
    fake.fail_next("status", 404, 404001, "Request not found")

    with pytest.raises(BadResponse, match="lost track"):
        await make(fake, http_client, sleep).generate(req(), model)


async def test_a_job_whose_status_polls_keep_failing_is_cancelled(fake, http_client, sleep, model):
    for _ in range(3):
        fake.fail_next("status", 503, None, "upstream unavailable")

    with pytest.raises(ProviderUnavailable, match="upstream unavailable"):
        await make(fake, http_client, sleep, attempts=3).generate(req(), model)

    [job] = fake.jobs.values()
    assert job.cancel_requests == 1
    assert job.state == "cancelled"  # it was still queued: the slot is freed


async def test_an_unreadable_result_still_asks_to_cancel_the_job(fake, http_client, sleep, model):
    fake.reply_next("result", Reply(200, text="<html>oops</html>", content_type="text/html"))

    with pytest.raises(BadResponse):
        await make(fake, http_client, sleep).generate(req(), model)

    [job] = fake.jobs.values()
    assert job.cancel_requests == 1  # asked; the job had completed, so nothing changes
    assert job.state == "completed"


async def test_a_transient_poll_error_is_retried_without_resubmitting(
    fake, http_client, sleep, model
):
    fake.fail_next("status", 503, None, "upstream unavailable")

    result = await make(fake, http_client, sleep).generate(req(), model)

    assert len(result.images) == 1
    assert len(fake.jobs) == 1


async def test_submit_503_then_success_is_retried(fake, http_client, sleep, model):
    fake.fail_next("submit", 503, 500001, "busy")

    result = await make(fake, http_client, sleep).generate(req(), model)

    assert len(result.images) == 1
    assert len([r for r in fake.requests if r.path.startswith("/v1/models/")]) == 2


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, text="{not json"),
        Reply(200, json={"status_url": "x"}),
        Reply(200, json=["req-1"]),
    ],
    ids=["malformed", "no-request-id", "array"],
)
async def test_malformed_submit_answers_are_bad_responses(fake, http_client, sleep, model, reply):
    fake.reply_next("submit", reply)

    with pytest.raises(BadResponse):
        await make(fake, http_client, sleep).generate(req(), model)


async def test_a_stalled_submit_times_out_as_unavailable(fake, http_client, sleep, model):
    stall = Stall()
    fake.reply_next("submit", stall)

    with pytest.raises(ProviderUnavailable, match="timed out"):
        await make(fake, http_client, sleep, attempts=1, timeout=0.2).generate(req(), model)
    assert stall.arrived.is_set()


async def test_urls_pointing_elsewhere_are_not_followed_with_the_key(
    fake, http_client, sleep, model
):
    fake.advertised_base = "http://127.0.0.2:9"  # nothing listens there

    result = await make(fake, http_client, sleep).generate(req(), model)

    assert len(result.images) == 1
    assert fake.jobs["req-0001"].polls == 3


# -- the fake itself follows the documentation -------------------------------------------------


async def test_fake_enforces_the_input_schema(fake, http_client):
    url = f"{fake.base_url}/v1/models/{MODEL_ID}"
    headers = {"Authorization": f"Bearer {KEY}"}
    for body in (
        {"prompt": "a cat", "aspect_ratio": "2:1"},
        {"prompt": "a cat", "seed": "7"},
        {"prompt": "a cat", "num_images": 2},
        {"negative_prompt": "dogs"},
    ):
        response = await http_client.post(url, json=body, headers=headers)
        assert response.status_code == 422, body
        assert response.json()["error_code"] == 422001
    ok = await http_client.post(url, json={"prompt": "a cat"}, headers=headers)
    assert set(ok.json()) == {"request_id", "status_url", "result_url", "cancel_url"}
    no_key = await http_client.post(url, json={"prompt": "a cat"})
    assert no_key.json()["error_code"] == 400004
