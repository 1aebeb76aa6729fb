"""Contract tests for the Replicate client against its loopback fake (replicate_fake.py)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from providers.base import GenerationRequest, PersonPolicy, SafetyLevel, SafetyOptions
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
from providers.replicate import KEY_ENV_VAR, ReplicateProvider
from providers.retry import RetryPolicy
from tests.fakes.loopback import LoopbackServer
from tests.fakes.manual_clock import ManualClock
from tests.fakes.replicate_fake import SENSITIVE, ReplicateFake, file_bytes, problem
from tests.fakes.scripting import RecordingSleep
from tests.fakes.served import served
from tests.providers.support import quick_retry

# Waits on the fake are bounded so that a regression fails the test instead of hanging it.
LIMIT = 5.0


@pytest.fixture
async def fake() -> AsyncIterator[ReplicateFake]:
    async with served(ReplicateFake()) as fake:
        yield fake


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def make(
    fake: ReplicateFake, http_client: httpx.AsyncClient, clock: ManualClock, sleep: RecordingSleep
) -> Any:
    def make(**kw: Any) -> ReplicateProvider:
        options: dict[str, Any] = {
            "base_url": fake.base_url,
            "retry": quick_retry(sleep),
            "poll_interval": 0.5,
            "sleep": clock.sleep,
            "clock": clock,
            **kw,
        }
        return ReplicateProvider(http_client, options.pop("api_key", fake.api_token), **options)

    return make


@pytest.fixture
def provider(make: Any) -> ReplicateProvider:
    return make()


def ask(**kw: object) -> GenerationRequest:
    return GenerationRequest(**{"prompt": "a lighthouse at dusk", "model": "imagen-4-fast", **kw})


def prediction(fake: ReplicateFake, pid: str, **fields: Any) -> dict[str, Any]:
    url = f"{fake.base_url}/v1/predictions/{pid}"
    return {
        "id": pid,
        "status": "succeeded",
        "output": None,
        "error": None,
        "urls": {"get": url, "cancel": f"{url}/cancel"},
        **fields,
    }


async def test_a_prediction_done_within_the_wait_needs_no_polling(
    provider: ReplicateProvider, fake: ReplicateFake, catalog: Catalog, clock: ManualClock
) -> None:
    result = await provider.generate(ask(aspect="4:3"), catalog.get("imagen-4-fast"))

    (image,) = result.images
    assert image.data == file_bytes("p1")
    assert image.mime_type == "image/jpeg"
    assert image.seed is None
    assert (image.width, image.height) == (1280, 896)
    assert image.url == f"{fake.base_url}/files/p1.jpg"
    assert (result.provider, result.model_id) == ("replicate", "google/imagen-4-fast")
    assert (result.cost_usd, result.cost_source) == (0.02, "catalog")
    (create,) = fake.stage_calls("create")
    assert create.path == "/v1/models/google/imagen-4-fast/predictions"
    assert create.headers["Authorization"] == f"Bearer {fake.api_token}"
    assert create.headers["Prefer"] == "wait=30"
    assert create.body == {
        "input": {
            "prompt": "a lighthouse at dusk",
            "aspect_ratio": "4:3",
            "output_format": "jpg",
            "safety_filter_level": "block_medium_and_above",
        }
    }
    assert fake.stage_calls("get") == []
    assert clock.sleeps == []
    assert "Authorization" not in fake.stage_calls("file")[0].headers


@pytest.mark.parametrize(
    ("level", "value"),
    [
        (SafetyLevel.STRICT, "block_low_and_above"),
        (SafetyLevel.STANDARD, "block_medium_and_above"),
        (SafetyLevel.RELAXED, "block_only_high"),
    ],
)
async def test_safety_level_maps_to_safety_filter_level(
    provider: ReplicateProvider,
    fake: ReplicateFake,
    catalog: Catalog,
    level: SafetyLevel,
    value: str,
) -> None:
    await provider.generate(ask(safety=SafetyOptions(level=level)), catalog.get("imagen-4-fast"))
    assert fake.stage_calls("create")[0].body["input"]["safety_filter_level"] == value


async def test_no_people_has_no_replicate_knob_so_only_documented_inputs_are_sent(
    provider: ReplicateProvider, fake: ReplicateFake, catalog: Catalog
) -> None:
    safety = SafetyOptions(level=SafetyLevel.STRICT, people=PersonPolicy.DONT_ALLOW)
    await provider.generate(ask(safety=safety), catalog.get("imagen-4-fast"))
    body = fake.stage_calls("create")[0].body["input"]
    assert set(body) == {"prompt", "aspect_ratio", "output_format", "safety_filter_level"}
    assert body["safety_filter_level"] == "block_low_and_above"


async def test_the_wait_is_configurable_and_zero_does_not_hold(
    make: Any, fake: ReplicateFake, catalog: Catalog
) -> None:
    await make(wait=60).generate(ask(), catalog.get("imagen-4-fast"))
    await make(wait=0).generate(ask(), catalog.get("imagen-4-fast"))
    first, second = fake.stage_calls("create")
    assert first.headers["Prefer"] == "wait=60"
    assert "Prefer" not in second.headers


async def test_an_unfinished_prediction_is_polled_at_urls_get(
    provider: ReplicateProvider, fake: ReplicateFake, catalog: Catalog, clock: ManualClock
) -> None:
    fake.statuses = ["starting", "processing", "succeeded"]
    result = await provider.generate(ask(), catalog.get("imagen-4-fast"))
    assert [image.data for image in result.images] == [file_bytes("p1")]
    gets = fake.stage_calls("get")
    assert [(call.method, call.path) for call in gets] == [("GET", "/v1/predictions/p1")] * 2
    assert all(call.headers["Authorization"] == f"Bearer {fake.api_token}" for call in gets)
    assert clock.sleeps == [0.5, 0.5]


async def test_count_above_one_fans_out_concurrently(
    provider: ReplicateProvider, fake: ReplicateFake, catalog: Catalog
) -> None:
    fake.gates["create"].close()
    task = asyncio.create_task(provider.generate(ask(count=3), catalog.get("imagen-4-fast")))
    # All three creates are held by the fake at the same time: they were sent concurrently.
    await asyncio.wait_for(fake.arrived("create", 3), LIMIT)
    fake.gates["create"].open()
    result = await asyncio.wait_for(task, LIMIT)
    assert sorted(image.data for image in result.images) == sorted(
        file_bytes(pid) for pid in ("p1", "p2", "p3")
    )
    assert result.cost_usd == 0.06


async def test_a_fan_out_returns_the_images_that_succeeded(
    provider: ReplicateProvider, fake: ReplicateFake, catalog: Catalog
) -> None:
    fake.script("create", 201, prediction(fake, "px", status="failed", error=SENSITIVE))
    result = await provider.generate(ask(count=3), catalog.get("imagen-4-fast"))
    assert len(result.images) == 2
    assert result.cost_usd == 0.04


async def test_a_fan_out_where_all_fail_raises(
    provider: ReplicateProvider, fake: ReplicateFake, catalog: Catalog
) -> None:
    with pytest.raises(ContentBlocked):
        await provider.generate(ask(count=2, prompt="forbidden"), catalog.get("imagen-4-fast"))
    assert len(fake.stage_calls("create")) == 2


async def test_a_sensitive_failure_is_content_blocked_and_not_retried(
    provider: ReplicateProvider, fake: ReplicateFake, catalog: Catalog
) -> None:
    fake.statuses = ["processing", "succeeded"]
    with pytest.raises(ContentBlocked) as caught:
        await provider.generate(ask(prompt="a forbidden scene"), catalog.get("imagen-4-fast"))
    assert "E005" in caught.value.reason
    assert len(fake.stage_calls("create")) == 1


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ("NSFW content detected. Try running it again, or try a different prompt.", ContentBlocked),
        ("Prediction failed: safety filter triggered", ContentBlocked),
        ("Invalid input: aspect ratio 5:4 is not supported", InvalidRequest),
        ("safety_filter_level must be one of: block_low_and_above", InvalidRequest),
        ("CUDA out of memory", ProviderUnavailable),
        ({"message": "upstream model error"}, ProviderUnavailable),
        (None, ProviderUnavailable),
    ],
)
async def test_failed_predictions_map_by_their_error(
    provider: ReplicateProvider,
    fake: ReplicateFake,
    catalog: Catalog,
    error: Any,
    expected: type[Exception],
) -> None:
    fake.script("create", 201, prediction(fake, "px", status="failed", error=error))
    with pytest.raises(expected):
        await provider.generate(ask(), catalog.get("imagen-4-fast"))
    assert len(fake.stage_calls("create")) == 1


async def test_a_prediction_canceled_elsewhere_is_unavailable(
    provider: ReplicateProvider, fake: ReplicateFake, catalog: Catalog
) -> None:
    fake.script("create", 201, prediction(fake, "px", status="canceled"))
    with pytest.raises(ProviderUnavailable, match="canceled"):
        await provider.generate(ask(), catalog.get("imagen-4-fast"))


async def test_bad_token_names_the_env_var_and_is_not_echoed(
    make: Any, fake: ReplicateFake, catalog: Catalog, sleep: RecordingSleep
) -> None:
    wrong = "r8_wrong_token_0123456789"
    with pytest.raises(AuthenticationFailed) as caught:
        await make(api_key=wrong).generate(ask(), catalog.get("imagen-4-fast"))
    assert caught.value.env_var == KEY_ENV_VAR == "REPLICATE_API_TOKEN"
    assert KEY_ENV_VAR in str(caught.value)
    assert wrong not in str(caught.value)
    assert sleep.calls == []


async def test_a_token_echoed_in_a_problem_is_redacted(
    provider: ReplicateProvider, fake: ReplicateFake, catalog: Catalog
) -> None:
    fake.script("create", 400, problem(400, "Bad request", f"token {fake.api_token} is odd"))
    with pytest.raises(InvalidRequest) as caught:
        await provider.generate(ask(), catalog.get("imagen-4-fast"))
    assert fake.api_token not in str(caught.value)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (402, problem(402, "Insufficient credit", "Add a payment method."), InsufficientCredits),
        (403, problem(403, "Forbidden", "You may not run this model"), AuthenticationFailed),
        (
            422,
            problem(422, "Input validation failed", "- input.aspect_ratio: must be one of ..."),
            InvalidRequest,
        ),
    ],
)
async def test_http_errors_map_into_the_tree_without_retrying(
    provider: ReplicateProvider,
    fake: ReplicateFake,
    catalog: Catalog,
    sleep: RecordingSleep,
    status: int,
    body: dict,
    expected: type[Exception],
) -> None:
    fake.script("create", status, body)
    with pytest.raises(expected) as caught:
        await provider.generate(ask(), catalog.get("imagen-4-fast"))
    assert caught.value.status == status  # type: ignore[attr-defined]
    assert body["detail"] in str(caught.value)
    assert sleep.calls == []


async def test_an_unknown_model_is_model_unavailable(
    provider: ReplicateProvider, fake: ReplicateFake, catalog: Catalog
) -> None:
    fake.models = ("google/imagen-4",)
    with pytest.raises(ModelUnavailable) as caught:
        await provider.generate(ask(), catalog.get("imagen-4-fast"))
    assert caught.value.model == "google/imagen-4-fast"


async def test_throttling_honours_retry_after(
    provider: ReplicateProvider, fake: ReplicateFake, catalog: Catalog, sleep: RecordingSleep
) -> None:
    fake.script(
        "create",
        429,
        problem(429, "Too Many Requests", "Request was throttled."),
        headers={"Retry-After": "2"},
    )
    result = await provider.generate(ask(), catalog.get("imagen-4-fast"))
    assert len(result.images) == 1
    assert sleep.calls == [2.0]


async def test_throttling_without_retry_after_reads_the_detail(
    provider: ReplicateProvider, fake: ReplicateFake, catalog: Catalog
) -> None:
    for _ in range(3):
        fake.script(
            "create",
            429,
            {"detail": "Request was throttled. Expected available in 3 seconds.", "status": 429},
        )
    with pytest.raises(RateLimited) as caught:
        await provider.generate(ask(), catalog.get("imagen-4-fast"))
    assert caught.value.retry_after == 3.0
    assert len(fake.stage_calls("create")) == 3


async def test_server_errors_are_retried_then_unavailable(
    provider: ReplicateProvider, fake: ReplicateFake, catalog: Catalog, sleep: RecordingSleep
) -> None:
    fake.script("create", 500, problem(500, "Internal Server Error", "oops"))
    fake.script("create", 502, "<html>bad gateway</html>", raw=True)
    fake.script("create", 503, problem(503, "Service Unavailable", "try later"))
    with pytest.raises(ProviderUnavailable) as caught:
        await provider.generate(ask(), catalog.get("imagen-4-fast"))
    assert caught.value.status == 503
    assert len(sleep.calls) == 2


async def test_a_failed_poll_is_asked_again_without_a_new_prediction(
    provider: ReplicateProvider, fake: ReplicateFake, catalog: Catalog
) -> None:
    fake.statuses = ["starting", "succeeded"]
    fake.script("get", 502, problem(502, "Bad Gateway", "upstream"))
    result = await provider.generate(ask(), catalog.get("imagen-4-fast"))
    assert len(result.images) == 1
    assert len(fake.stage_calls("create")) == 1
    assert len(fake.stage_calls("get")) == 2


async def test_polls_failing_past_their_retries_cancel_the_prediction(
    provider: ReplicateProvider, fake: ReplicateFake, catalog: Catalog
) -> None:
    fake.statuses = ["starting", "processing"]
    for _ in range(3):
        fake.script("get", 503, problem(503, "Service Unavailable", "try later"))
    with pytest.raises(ProviderUnavailable):
        await provider.generate(ask(), catalog.get("imagen-4-fast"))
    assert fake.canceled == ["p1"]


async def test_cancelling_while_polling_cancels_the_prediction(
    provider: ReplicateProvider, fake: ReplicateFake, catalog: Catalog
) -> None:
    fake.statuses = ["starting", "processing"]
    fake.gates["get"].close()
    task = asyncio.create_task(provider.generate(ask(), catalog.get("imagen-4-fast")))
    await asyncio.wait_for(fake.gates["get"].reached.wait(), LIMIT)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, LIMIT)
    assert fake.canceled == ["p1"]
    (cancel,) = fake.stage_calls("cancel")
    assert (cancel.method, cancel.path) == ("POST", "/v1/predictions/p1/cancel")
    assert cancel.headers["Authorization"] == f"Bearer {fake.api_token}"


async def test_cancelling_a_fan_out_cancels_every_prediction(
    provider: ReplicateProvider, fake: ReplicateFake, catalog: Catalog
) -> None:
    fake.statuses = ["processing"]
    fake.gates["get"].close()
    task = asyncio.create_task(provider.generate(ask(count=2), catalog.get("imagen-4-fast")))
    await asyncio.wait_for(fake.arrived("get", 2), LIMIT)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, LIMIT)
    assert sorted(fake.canceled) == ["p1", "p2"]


async def test_a_failing_cancel_still_lets_the_cancellation_through(
    provider: ReplicateProvider, fake: ReplicateFake, catalog: Catalog
) -> None:
    fake.statuses = ["processing"]
    fake.script("cancel", 500, problem(500, "Internal Server Error", "oops"))
    fake.gates["get"].close()
    task = asyncio.create_task(provider.generate(ask(), catalog.get("imagen-4-fast")))
    await asyncio.wait_for(fake.gates["get"].reached.wait(), LIMIT)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, LIMIT)
    assert len(fake.stage_calls("cancel")) == 1


async def test_waiting_past_max_wait_cancels_and_is_unavailable(
    make: Any, fake: ReplicateFake, catalog: Catalog, clock: ManualClock
) -> None:
    fake.statuses = ["processing"]
    with pytest.raises(ProviderUnavailable, match="processing"):
        await make(poll_interval=1.0, max_wait=3.0).generate(ask(), catalog.get("imagen-4-fast"))
    assert clock.sleeps == [1.0, 1.0, 1.0]
    assert fake.canceled == ["p1"]


async def test_a_stalled_create_times_out_as_unavailable(
    make: Any, fake: ReplicateFake, catalog: Catalog
) -> None:
    provider = make(wait=0, timeout=0.2, retry=RetryPolicy(attempts=1))
    fake.gates["create"].close()
    with pytest.raises(ProviderUnavailable, match="timed out"):
        await provider.generate(ask(), catalog.get("imagen-4-fast"))


async def test_a_list_output_and_a_data_uri_output_are_tolerated(
    provider: ReplicateProvider, fake: ReplicateFake, catalog: Catalog
) -> None:
    fake.script("create", 201, prediction(fake, "p1", output=[f"{fake.base_url}/files/p1.jpg"]))
    fake.adopt("p1")
    listed = await provider.generate(ask(), catalog.get("imagen-4-fast"))
    assert listed.images[0].data == file_bytes("p1")

    png = b"\x89PNG\r\n\x1a\nfake"
    inline = "data:image/png;base64," + base64.b64encode(png).decode()
    fake.script("create", 201, prediction(fake, "p9", output=inline))
    result = await provider.generate(ask(), catalog.get("imagen-4-fast"))
    (image,) = result.images
    assert (image.data, image.mime_type, image.url) == (png, "image/png", None)


async def test_missing_urls_fall_back_to_the_documented_endpoints(
    provider: ReplicateProvider, fake: ReplicateFake, catalog: Catalog
) -> None:
    fake.statuses = ["starting", "succeeded"]
    fake.script("create", 201, {"id": "p1", "status": "starting", "output": None})
    fake.adopt("p1")
    result = await provider.generate(ask(), catalog.get("imagen-4-fast"))
    assert len(result.images) == 1
    assert [call.path for call in fake.stage_calls("get")] == ["/v1/predictions/p1"]


async def test_urls_on_another_origin_are_refused(
    provider: ReplicateProvider, fake: ReplicateFake, catalog: Catalog
) -> None:
    elsewhere = ReplicateFake()
    async with LoopbackServer(elsewhere.app()) as other:
        url = f"{other.base_url}/v1/predictions/p1"
        fake.script(
            "create",
            201,
            {"id": "p1", "status": "starting", "urls": {"get": url, "cancel": f"{url}/cancel"}},
        )
        with pytest.raises(BadResponse, match="another host"):
            await provider.generate(ask(), catalog.get("imagen-4-fast"))
    assert elsewhere.calls == []


@pytest.mark.parametrize(
    ("stage", "answer"),
    [
        ("create", "not json"),
        ("create", '["a", "list"]'),
        ("create", '{"status": "succeeded"}'),
        ("create", '{"id": "p1"}'),
        ("get", '{"id": "p1", "status": "dreaming"}'),
        ("create", '{"id": "p1", "status": "succeeded", "output": null}'),
        ("create", '{"id": "p1", "status": "succeeded", "output": 42}'),
        ("create", '{"id": "p1", "status": "succeeded", "output": "data:image/png,raw"}'),
    ],
)
async def test_malformed_answers_are_bad_responses(
    provider: ReplicateProvider, fake: ReplicateFake, catalog: Catalog, stage: str, answer: str
) -> None:
    fake.statuses = ["starting", "succeeded"]
    fake.script(stage, 200, answer, raw=True)
    with pytest.raises(BadResponse):
        await provider.generate(ask(), catalog.get("imagen-4-fast"))


async def test_a_missing_output_file_is_a_bad_response(
    provider: ReplicateProvider, fake: ReplicateFake, catalog: Catalog
) -> None:
    fake.script("file", 404, "Not Found", raw=True)
    with pytest.raises(BadResponse, match="404"):
        await provider.generate(ask(), catalog.get("imagen-4-fast"))


async def test_a_failed_download_is_retried_without_predicting_again(
    provider: ReplicateProvider, fake: ReplicateFake, catalog: Catalog, sleep: RecordingSleep
) -> None:
    fake.script("file", 502, "Bad Gateway", raw=True)
    result = await provider.generate(ask(), catalog.get("imagen-4-fast"))
    assert [image.data for image in result.images] == [file_bytes("p1")]
    assert len(fake.stage_calls("create")) == 1  # one prediction, paid once
    assert len(fake.stage_calls("file")) == 2
    assert len(sleep.calls) == 1  # the retry policy's backoff, before the second download


async def test_constructor_bounds(http_client: httpx.AsyncClient) -> None:
    with pytest.raises(ValueError, match="wait"):
        ReplicateProvider(http_client, "t", wait=61)
    with pytest.raises(ValueError, match="poll_interval"):
        ReplicateProvider(http_client, "t", poll_interval=0)


@pytest.mark.parametrize("extra", [{"seed": 7}, {"negative_prompt": "blurry"}])
async def test_seed_and_negative_prompt_are_refused_before_any_call(
    provider: ReplicateProvider, fake: ReplicateFake, catalog: Catalog, extra: dict
) -> None:
    with pytest.raises(InvalidRequest):
        await provider.generate(ask(**extra), catalog.get("imagen-4-fast"))
    assert fake.calls == []


def test_capabilities_match_the_api() -> None:
    caps = ReplicateProvider.capabilities
    assert (caps.seed_input, caps.seed_output, caps.negative_prompt) == (False, False, False)
    assert caps.max_images_per_call == 1
    assert caps.cancel
    assert caps.safety_knobs == ("safety_filter_level",)
