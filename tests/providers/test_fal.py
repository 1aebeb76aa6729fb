"""Contract tests for the fal.ai queue client against its loopback fake (fal_fake.py)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from providers.base import GenerationRequest
from providers.catalog import Catalog
from providers.errors import (
    AuthenticationFailed,
    BadResponse,
    ContentBlocked,
    InsufficientCredits,
    InvalidRequest,
    ModelUnavailable,
    ProviderUnavailable,
    RateLimited,
)
from providers.fal import KEY_ENV_VAR, FalProvider
from providers.retry import RetryPolicy
from tests.fakes.fal_fake import CONTENT_POLICY_DETAIL, FalFake, file_bytes
from tests.fakes.loopback import LoopbackServer
from tests.fakes.manual_clock import ManualClock
from tests.fakes.scripting import RecordingSleep
from tests.fakes.served import served
from tests.providers.support import quick_retry

# Waits on the fake are bounded so that a regression fails the test instead of hanging it.
LIMIT = 5.0


@pytest.fixture
async def fake() -> AsyncIterator[FalFake]:
    async with served(FalFake()) as fake:
        yield fake


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def make(
    fake: FalFake, http_client: httpx.AsyncClient, clock: ManualClock, sleep: RecordingSleep
) -> Any:
    def make(**kw: Any) -> FalProvider:
        options: dict[str, Any] = {
            "base_url": fake.base_url,
            "retry": quick_retry(sleep),
            "poll_interval": 0.5,
            "sleep": clock.sleep,
            "clock": clock,
            **kw,
        }
        return FalProvider(http_client, options.pop("api_key", fake.api_key), **options)

    return make


@pytest.fixture
def provider(make: Any) -> FalProvider:
    return make()


def ask(**kw: object) -> GenerationRequest:
    return GenerationRequest(**{"prompt": "a lighthouse at dusk", "model": "imagen-4-fast", **kw})


async def test_success_walks_the_queue_and_downloads_every_image(
    provider: FalProvider, fake: FalFake, catalog: Catalog, clock: ManualClock
) -> None:
    result = await provider.generate(
        ask(count=2, aspect="9:16", negative_prompt="blurry"), catalog.get("imagen-4-fast")
    )

    assert [image.data for image in result.images] == [
        file_bytes("req-1", 0),
        file_bytes("req-1", 1),
    ]
    assert [image.seed for image in result.images] == [fake.default_seed, None]
    assert [(image.width, image.height) for image in result.images] == [(768, 1408)] * 2
    assert result.images[0].url == f"{fake.base_url}/files/req-1-0.jpg"
    assert (result.cost_usd, result.cost_source) == (0.04, "catalog")
    (submit,) = fake.stage_calls("submit")
    assert submit.path == "/fal-ai/imagen4/preview/fast"
    assert submit.headers["Authorization"] == f"Key {fake.api_key}"
    assert submit.body == {
        "prompt": "a lighthouse at dusk",
        "negative_prompt": "blurry",
        "aspect_ratio": "9:16",
        "num_images": 2,
    }
    # IN_QUEUE, IN_PROGRESS, COMPLETED: three polls of the returned status_url, two waits between.
    assert [call.path for call in fake.stage_calls("status")] == [
        "/fal-ai/imagen4/requests/req-1/status"
    ] * 3
    assert clock.sleeps == [0.5, 0.5]
    assert len(fake.stage_calls("result")) == 1
    assert fake.cancelled == []


async def test_the_key_goes_to_fal_only_never_to_the_file_host(
    provider: FalProvider, fake: FalFake, catalog: Catalog
) -> None:
    await provider.generate(ask(), catalog.get("imagen-4-fast"))
    for call in fake.calls:
        if call.stage == "file":
            assert "Authorization" not in call.headers
        else:
            assert call.headers["Authorization"] == f"Key {fake.api_key}"


async def test_a_chosen_seed_is_sent_and_reported(
    provider: FalProvider, fake: FalFake, catalog: Catalog
) -> None:
    result = await provider.generate(ask(seed=1234), catalog.get("imagen-4-fast"))
    assert fake.stage_calls("submit")[0].body["seed"] == 1234
    assert result.images[0].seed == 1234


async def test_an_answer_completed_at_once_is_not_waited_for(
    provider: FalProvider, fake: FalFake, catalog: Catalog, clock: ManualClock
) -> None:
    fake.statuses = ["COMPLETED"]
    result = await provider.generate(ask(), catalog.get("imagen-4-fast"))
    assert len(result.images) == 1
    assert clock.sleeps == []


async def test_urls_on_another_origin_are_refused(
    provider: FalProvider, fake: FalFake, catalog: Catalog
) -> None:
    elsewhere = FalFake()
    async with LoopbackServer(elsewhere.app()) as other:
        fake.script(
            "submit",
            200,
            {
                "request_id": "req-x",
                "status_url": f"{other.base_url}/fal-ai/imagen4/requests/req-x/status",
                "response_url": f"{other.base_url}/fal-ai/imagen4/requests/req-x",
                "cancel_url": f"{other.base_url}/fal-ai/imagen4/requests/req-x/cancel",
            },
        )
        with pytest.raises(BadResponse, match="another host"):
            await provider.generate(ask(), catalog.get("imagen-4-fast"))
    assert elsewhere.calls == []


async def test_bad_key_names_fal_key_and_is_not_echoed(
    make: Any, fake: FalFake, catalog: Catalog, sleep: RecordingSleep
) -> None:
    wrong = "wrong-key-id:wrong-secret"
    provider = make(api_key=wrong)
    with pytest.raises(AuthenticationFailed) as caught:
        await provider.generate(ask(), catalog.get("imagen-4-fast"))
    assert caught.value.env_var == KEY_ENV_VAR == "FAL_KEY"
    assert "FAL_KEY" in str(caught.value)
    assert wrong not in str(caught.value)
    assert sleep.calls == []


async def test_a_key_echoed_in_an_error_is_redacted(
    provider: FalProvider, fake: FalFake, catalog: Catalog
) -> None:
    fake.script("submit", 400, {"detail": f"malformed key {fake.api_key}"})
    with pytest.raises(InvalidRequest) as caught:
        await provider.generate(ask(), catalog.get("imagen-4-fast"))
    assert fake.api_key not in str(caught.value)


async def test_forbidden_is_authentication_but_an_exhausted_balance_is_credits(
    provider: FalProvider, fake: FalFake, catalog: Catalog
) -> None:
    fake.script("submit", 403, {"detail": "Not authorized to access this application"})
    with pytest.raises(AuthenticationFailed):
        await provider.generate(ask(), catalog.get("imagen-4-fast"))
    fake.script(
        "submit",
        403,
        {"detail": "User is locked. Reason: Exhausted balance. Top up your balance at fal.ai."},
    )
    with pytest.raises(InsufficientCredits):
        await provider.generate(ask(), catalog.get("imagen-4-fast"))


async def test_an_unknown_model_is_model_unavailable(
    provider: FalProvider, fake: FalFake, catalog: Catalog
) -> None:
    fake.models = ("fal-ai/imagen4/preview",)
    with pytest.raises(ModelUnavailable) as caught:
        await provider.generate(ask(), catalog.get("imagen-4-fast"))
    assert caught.value.model == "fal-ai/imagen4/preview/fast"
    assert len(fake.stage_calls("submit")) == 1


async def test_content_policy_violation_on_the_result_is_content_blocked(
    provider: FalProvider, fake: FalFake, catalog: Catalog
) -> None:
    with pytest.raises(ContentBlocked) as caught:
        await provider.generate(ask(prompt="a forbidden scene"), catalog.get("imagen-4-fast"))
    assert "content checker" in caught.value.reason
    assert len(fake.stage_calls("result")) == 1  # a refusal is not asked again


async def test_content_policy_violation_on_submit_is_content_blocked(
    provider: FalProvider, fake: FalFake, catalog: Catalog
) -> None:
    fake.script("submit", 422, {"detail": CONTENT_POLICY_DETAIL})
    with pytest.raises(ContentBlocked):
        await provider.generate(ask(), catalog.get("imagen-4-fast"))


async def test_other_validation_errors_are_invalid_requests(
    provider: FalProvider, fake: FalFake, catalog: Catalog, sleep: RecordingSleep
) -> None:
    fake.script(
        "submit",
        422,
        {
            "detail": [
                {"loc": ["body", "num_images"], "msg": "must be <= 4", "type": "less_than_equal"}
            ]
        },
    )
    with pytest.raises(InvalidRequest, match="must be <= 4"):
        await provider.generate(ask(), catalog.get("imagen-4-fast"))
    assert sleep.calls == []


async def test_retryable_header_makes_an_error_transient(
    provider: FalProvider, fake: FalFake, catalog: Catalog, sleep: RecordingSleep
) -> None:
    fake.script(
        "submit",
        400,
        {"detail": "Runner busy", "error_type": "runner_scheduling_failure"},
        headers={"X-Fal-Retryable": "true"},
    )
    result = await provider.generate(ask(), catalog.get("imagen-4-fast"))
    assert len(result.images) == 1
    assert len(fake.stage_calls("submit")) == 2
    assert len(sleep.calls) == 1


async def test_rate_limit_honours_retry_after(
    provider: FalProvider, fake: FalFake, catalog: Catalog, sleep: RecordingSleep
) -> None:
    fake.script("submit", 429, {"detail": "Too many requests"}, headers={"Retry-After": "3"})
    result = await provider.generate(ask(), catalog.get("imagen-4-fast"))
    assert len(result.images) == 1
    assert sleep.calls == [3.0]


async def test_rate_limit_that_persists_is_raised(
    provider: FalProvider, fake: FalFake, catalog: Catalog
) -> None:
    for _ in range(3):
        fake.script("submit", 429, {"detail": "Too many requests"})
    with pytest.raises(RateLimited) as caught:
        await provider.generate(ask(), catalog.get("imagen-4-fast"))
    assert caught.value.retry_after is None


async def test_server_errors_on_submit_are_retried_then_unavailable(
    provider: FalProvider, fake: FalFake, catalog: Catalog
) -> None:
    fake.script("submit", 503, {"detail": "Service unavailable"})
    fake.script("submit", 502, "<html>bad gateway</html>", raw=True)
    fake.script("submit", 500, {"detail": "Internal error"})
    with pytest.raises(ProviderUnavailable) as caught:
        await provider.generate(ask(), catalog.get("imagen-4-fast"))
    assert caught.value.status == 500
    assert len(fake.stage_calls("submit")) == 3


async def test_a_failed_status_poll_is_asked_again_without_resubmitting(
    provider: FalProvider, fake: FalFake, catalog: Catalog
) -> None:
    fake.script("status", 503, {"detail": "Service unavailable"})
    result = await provider.generate(ask(), catalog.get("imagen-4-fast"))
    assert len(result.images) == 1
    assert len(fake.stage_calls("submit")) == 1
    assert len(fake.stage_calls("status")) == 4


async def test_status_polls_failing_past_their_retries_cancel_the_request(
    provider: FalProvider, fake: FalFake, catalog: Catalog
) -> None:
    for _ in range(3):
        fake.script("status", 503, {"detail": "Service unavailable"})
    with pytest.raises(ProviderUnavailable):
        await provider.generate(ask(), catalog.get("imagen-4-fast"))
    assert fake.cancelled == ["req-1"]
    assert fake.stage_calls("result") == []


async def test_a_request_that_failed_at_fal_is_unavailable_and_not_resubmitted(
    provider: FalProvider, fake: FalFake, catalog: Catalog
) -> None:
    fake.statuses = ["IN_PROGRESS", "COMPLETED"]
    fake.script(
        "result",
        504,
        {"detail": "Request timed out", "error_type": "request_timeout"},
        headers={"X-Fal-Error-Type": "request_timeout"},
    )
    fake.script("result", 504, {"detail": "Request timed out", "error_type": "request_timeout"})
    fake.script("result", 504, {"detail": "Request timed out", "error_type": "request_timeout"})
    with pytest.raises(ProviderUnavailable, match="Request timed out"):
        await provider.generate(ask(), catalog.get("imagen-4-fast"))
    assert len(fake.stage_calls("submit")) == 1


async def test_error_info_on_a_completed_status_is_used_when_the_result_is_empty(
    provider: FalProvider, fake: FalFake, catalog: Catalog
) -> None:
    fake.script(
        "status",
        200,
        {
            "status": "COMPLETED",
            "error": "Output flagged by the safety checker",
            "error_type": "content_policy_violation",
        },
    )
    fake.script("result", 200, {"images": []})
    with pytest.raises(ContentBlocked, match="safety checker"):
        await provider.generate(ask(), catalog.get("imagen-4-fast"))


async def test_a_failed_status_is_raised_without_fetching_the_result(
    provider: FalProvider, fake: FalFake, catalog: Catalog
) -> None:
    fake.script("status", 200, {"status": "FAILED", "error": "runner crashed"})
    with pytest.raises(ProviderUnavailable, match="runner crashed"):
        await provider.generate(ask(), catalog.get("imagen-4-fast"))
    assert fake.stage_calls("result") == []


async def test_cancelling_during_a_status_poll_cancels_at_fal(
    provider: FalProvider, fake: FalFake, catalog: Catalog
) -> None:
    fake.gates["status"].close()
    task = asyncio.create_task(provider.generate(ask(), catalog.get("imagen-4-fast")))
    await asyncio.wait_for(fake.gates["status"].reached.wait(), LIMIT)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, LIMIT)
    assert fake.cancelled == ["req-1"]
    (cancel,) = fake.stage_calls("cancel")
    assert (cancel.method, cancel.path) == ("PUT", "/fal-ai/imagen4/requests/req-1/cancel")
    assert cancel.headers["Authorization"] == f"Key {fake.api_key}"
    assert fake.stage_calls("result") == []


async def test_cancelling_between_polls_cancels_at_fal(
    make: Any, fake: FalFake, catalog: Catalog
) -> None:
    waiting = asyncio.Event()

    async def sleep_forever(seconds: float) -> None:
        waiting.set()
        await asyncio.Event().wait()

    provider = make(sleep=sleep_forever)
    task = asyncio.create_task(provider.generate(ask(), catalog.get("imagen-4-fast")))
    await asyncio.wait_for(waiting.wait(), LIMIT)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, LIMIT)
    assert fake.cancelled == ["req-1"]


async def test_a_failing_cancel_still_lets_the_cancellation_through(
    provider: FalProvider, fake: FalFake, catalog: Catalog
) -> None:
    fake.script("cancel", 500, {"detail": "Internal error"})
    fake.gates["status"].close()
    task = asyncio.create_task(provider.generate(ask(), catalog.get("imagen-4-fast")))
    await asyncio.wait_for(fake.gates["status"].reached.wait(), LIMIT)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, LIMIT)
    assert len(fake.stage_calls("cancel")) == 1


async def test_a_stalled_cancel_is_bounded_by_the_cancel_timeout(
    make: Any, fake: FalFake, catalog: Catalog
) -> None:
    provider = make(cancel_timeout=0.2)
    fake.gates["status"].close()
    fake.gates["cancel"].close()
    task = asyncio.create_task(provider.generate(ask(), catalog.get("imagen-4-fast")))
    await asyncio.wait_for(fake.gates["status"].reached.wait(), LIMIT)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, LIMIT)
    assert fake.gates["cancel"].reached.is_set()


async def test_waiting_past_max_wait_cancels_and_is_unavailable(
    make: Any, fake: FalFake, catalog: Catalog, clock: ManualClock
) -> None:
    fake.statuses = ["IN_QUEUE"]
    provider = make(poll_interval=1.0, max_wait=3.0)
    with pytest.raises(ProviderUnavailable, match="IN_QUEUE"):
        await provider.generate(ask(), catalog.get("imagen-4-fast"))
    assert clock.sleeps == [1.0, 1.0, 1.0]
    assert fake.cancelled == ["req-1"]
    assert len(fake.stage_calls("submit")) == 1


async def test_a_stalled_submit_times_out_as_unavailable(
    make: Any, fake: FalFake, catalog: Catalog
) -> None:
    provider = make(timeout=0.2, retry=RetryPolicy(attempts=1))
    fake.gates["submit"].close()
    with pytest.raises(ProviderUnavailable, match="timed out"):
        await provider.generate(ask(), catalog.get("imagen-4-fast"))


async def test_a_data_uri_image_is_decoded(
    provider: FalProvider, fake: FalFake, catalog: Catalog
) -> None:
    png = b"\x89PNG\r\n\x1a\nfake"
    fake.script(
        "result",
        200,
        {
            "images": [{"url": "data:image/png;base64," + base64.b64encode(png).decode()}],
            "seed": 9,
        },
    )
    result = await provider.generate(ask(), catalog.get("imagen-4-fast"))
    (image,) = result.images
    assert (image.data, image.mime_type, image.url, image.seed) == (png, "image/png", None, 9)
    assert fake.stage_calls("file") == []


@pytest.mark.parametrize(
    ("stage", "answer"),
    [
        ("submit", "not json"),
        ("submit", '{"request_id": "r"}'),
        ("status", '{"status": "SOMETHING_NEW"}'),
        ("status", '["COMPLETED"]'),
        ("result", '{"seed": 1}'),
        ("result", '{"images": [{"content_type": "image/jpeg"}]}'),
        ("result", '{"images": ["https://example.invalid/x.jpg"]}'),
        ("result", '{"images": [{"url": "data:image/png;base64,@@@"}]}'),
    ],
)
async def test_malformed_answers_are_bad_responses(
    provider: FalProvider, fake: FalFake, catalog: Catalog, stage: str, answer: str
) -> None:
    fake.script(stage, 200, answer, raw=True)
    with pytest.raises(BadResponse):
        await provider.generate(ask(), catalog.get("imagen-4-fast"))


async def test_a_missing_image_file_is_a_bad_response(
    provider: FalProvider, fake: FalFake, catalog: Catalog
) -> None:
    fake.script("file", 404, "Not Found", raw=True)
    with pytest.raises(BadResponse, match="404"):
        await provider.generate(ask(), catalog.get("imagen-4-fast"))


async def test_a_failed_download_is_retried_without_generating_again(
    provider: FalProvider, fake: FalFake, catalog: Catalog, sleep: RecordingSleep
) -> None:
    fake.script("file", 502, "Bad Gateway", raw=True)
    result = await provider.generate(ask(), catalog.get("imagen-4-fast"))
    assert [image.data for image in result.images] == [file_bytes("req-1", 0)]
    assert len(fake.stage_calls("submit")) == 1  # one request, paid once
    assert len(fake.stage_calls("result")) == 1
    assert len(fake.stage_calls("file")) == 2
    assert len(sleep.calls) == 1  # the retry policy's backoff, before the second download


async def test_a_throttled_download_waits_as_asked_without_generating_again(
    provider: FalProvider, fake: FalFake, catalog: Catalog, sleep: RecordingSleep
) -> None:
    fake.script("file", 429, "Too Many Requests", headers={"Retry-After": "1"}, raw=True)
    result = await provider.generate(ask(), catalog.get("imagen-4-fast"))
    assert [image.data for image in result.images] == [file_bytes("req-1", 0)]
    assert len(fake.stage_calls("submit")) == 1  # one request, paid once
    assert len(fake.stage_calls("file")) == 2
    assert sleep.calls == [1.0]  # the image host's Retry-After


async def test_poll_interval_is_bounded(http_client: httpx.AsyncClient) -> None:
    with pytest.raises(ValueError, match="poll_interval"):
        FalProvider(http_client, "k", poll_interval=0)
    with pytest.raises(ValueError, match="poll_interval"):
        FalProvider(http_client, "k", poll_interval=60)


def test_capabilities_match_the_api() -> None:
    caps = FalProvider.capabilities
    assert (caps.seed_input, caps.seed_output, caps.negative_prompt) == (True, True, True)
    assert caps.max_images_per_call == 4
    assert caps.cancel
    assert caps.max_concurrency == 10
