"""The router in front of the real provider clients, each talking HTTP to its loopback fake.

tests/providers/test_router.py proves the routing rules with in-process scripted providers; here
the same rules hold end to end through the clients' error mapping: a 429 fails over, a provider's
safety refusal does not, a stalled queue loses to a hedge and receives the provider's own cancel
call, a retired model (404 from the fakes) falls back to the catalog's successor, and a circuit
breaker opens on repeated 503s and closes after a good probe. Nothing sleeps: stalls are held by
the fakes until the test lets them go, and the breaker's clock is a manual one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from providers.aimlapi import AimlApiProvider
from providers.base import GenerationRequest, ImageProvider
from providers.catalog import Catalog
from providers.errors import ContentBlocked
from providers.fal import FalProvider
from providers.gemini import GeminiProvider
from providers.health import BreakerState
from providers.replicate import ReplicateProvider
from providers.retry import RetryPolicy
from providers.router import HedgePolicy, Router
from providers.runware import RunwareProvider
from tests.fakes.aimlapi_fake import AimlApiFake
from tests.fakes.fal_fake import FalFake
from tests.fakes.gemini_fake import GeminiFake, google_error
from tests.fakes.manual_clock import ManualClock
from tests.fakes.replicate_fake import ReplicateFake
from tests.fakes.runware_fake import RunwareFake
from tests.fakes.scripting import RecordingSleep
from tests.fakes.served import served
from tests.providers.support import quick_retry

# Waits on the fakes are bounded so that a regression fails the test instead of hanging it.
LIMIT = 10.0
# Hedge almost at once: which provider wins is decided by what the fakes hold, not by timing.
HEDGE = HedgePolicy(after_ms=5)


def retry(attempts: int = 2) -> RetryPolicy:
    return quick_retry(RecordingSleep(), attempts)


def runware(http: httpx.AsyncClient, fake: RunwareFake, **kw: Any) -> RunwareProvider:
    return RunwareProvider(http, fake.api_key, base_url=fake.url, retry=retry(**kw))


def fal(http: httpx.AsyncClient, fake: FalFake) -> FalProvider:
    return FalProvider(
        http, fake.api_key, base_url=fake.base_url, retry=retry(), sleep=RecordingSleep()
    )


def replicate(http: httpx.AsyncClient, fake: ReplicateFake) -> ReplicateProvider:
    return ReplicateProvider(
        http, fake.api_token, base_url=fake.base_url, retry=retry(), sleep=RecordingSleep()
    )


def gemini(http: httpx.AsyncClient, fake: GeminiFake) -> GeminiProvider:
    return GeminiProvider(http, fake.api_key, base_url=fake.base_url, retry=retry())


def aimlapi(http: httpx.AsyncClient, fake: AimlApiFake) -> AimlApiProvider:
    return AimlApiProvider(http, fake.api_key, base_url=fake.base_url, retry=retry())


def ask(prompt: str = "a lighthouse at dusk", **kw: Any) -> GenerationRequest:
    return GenerationRequest(prompt=prompt, model="imagen-4-fast", **kw)


def outcomes(attempts: Any) -> list[tuple[str, str, str]]:
    return [(a.provider, a.outcome, a.error) for a in attempts]


async def test_rate_limits_and_outages_fail_over_in_the_configured_order(
    http_client: httpx.AsyncClient, catalog: Catalog
) -> None:
    async with (
        AimlApiFake() as aiml_fake,
        served(GeminiFake()) as gemini_fake,
        RunwareFake() as runware_fake,
    ):
        # A 429 asking for longer than we would wait fails over at once, without a retry.
        aiml_fake.fail_next(429, "Too many requests", headers={"Retry-After": "60"})
        # A 503 is retried once, then fails over.
        for _ in range(2):
            gemini_fake.script(503, google_error(503, "UNAVAILABLE", "The model is overloaded."))
        router = Router(
            [
                aimlapi(http_client, aiml_fake),
                gemini(http_client, gemini_fake),
                runware(http_client, runware_fake),
            ]
        )
        routed = await router.generate(ask(), catalog.get("imagen-4-fast"))

    assert routed.result.provider == "runware"
    assert (routed.result.cost_usd, routed.result.cost_source) == (0.02, "reported")
    assert outcomes(routed.attempts) == [
        ("aimlapi", "failed", "RateLimited"),
        ("gemini", "failed", "ProviderUnavailable"),
        ("runware", "succeeded", ""),
    ]
    assert len(aiml_fake.requests) == 1
    assert len(gemini_fake.calls) == 2
    assert len(runware_fake.tasks) == 1
    assert router.health["aimlapi"].failures == router.health["gemini"].failures == 1
    assert routed.hedge_cost_usd == 0.0


BLOCKING: dict[str, Callable[[httpx.AsyncClient, Any], ImageProvider]] = {
    "gemini": gemini,
    "fal": fal,
    "replicate": replicate,
}
FAKES: dict[str, Callable[[], Any]] = {
    "gemini": GeminiFake,
    "fal": lambda: FalFake(statuses=["COMPLETED"]),
    "replicate": ReplicateFake,
}


@pytest.mark.parametrize("name", sorted(BLOCKING))
async def test_a_prompt_the_provider_blocks_is_never_sent_to_the_next_one(
    http_client: httpx.AsyncClient, catalog: Catalog, name: str
) -> None:
    async with served(FAKES[name]()) as first_fake, RunwareFake() as runware_fake:
        router = Router(
            [BLOCKING[name](http_client, first_fake), runware(http_client, runware_fake)]
        )
        with pytest.raises(ContentBlocked) as caught:
            # Runware's fake would accept this prompt: failing over would undo the refusal.
            await router.generate(ask("a forbidden garden"), catalog.get("imagen-4-fast"))

    assert caught.value.provider == name
    assert outcomes(caught.value.attempts) == [(name, "failed", "ContentBlocked")]  # type: ignore[attr-defined]
    assert runware_fake.requests == []
    # A refusal says nothing about the provider's health.
    assert router.health[name].failures == 0
    assert router.health[name].breaker.state is BreakerState.CLOSED


async def test_a_hedge_wins_against_a_stalled_fal_queue_and_fal_is_sent_its_cancel(
    http_client: httpx.AsyncClient, catalog: Catalog
) -> None:
    async with served(FalFake()) as fal_fake, RunwareFake() as runware_fake:
        fal_fake.gates["status"].close()  # fal's queue never moves
        held = runware_fake.stall_next()  # and Runware answers only when the test says so
        router = Router(
            [fal(http_client, fal_fake), runware(http_client, runware_fake)], hedge=HEDGE
        )
        task = asyncio.create_task(router.generate(ask(), catalog.get("imagen-4-fast")))
        await asyncio.wait_for(fal_fake.gates["status"].reached.wait(), LIMIT)
        await asyncio.wait_for(held.arrived.wait(), LIMIT)  # the hedge has started
        held.release.set()
        routed = await asyncio.wait_for(task, LIMIT)

        assert routed.result.provider == "runware"
        assert [(a.provider, a.outcome) for a in routed.attempts] == [
            ("runware", "hedged"),
            ("runware", "succeeded"),
            ("fal", "cancelled"),
        ]
        (cancel,) = fal_fake.stage_calls("cancel")
        assert (cancel.method, cancel.path) == ("PUT", "/fal-ai/imagen4/requests/req-1/cancel")
        assert fal_fake.cancelled == ["req-1"]
        assert fal_fake.stage_calls("result") == []
    # The user pays the winner's cost; the loser's estimate is recorded apart.
    assert (routed.result.cost_usd, routed.result.cost_source) == (0.02, "reported")
    assert routed.hedge_cost_usd == 0.02
    # A hedge that lost is no verdict on fal.
    assert router.health["fal"].failures == 0


async def test_a_hedge_wins_against_a_stalled_replicate_prediction_which_is_cancelled(
    http_client: httpx.AsyncClient, catalog: Catalog
) -> None:
    async with (
        served(ReplicateFake(statuses=["processing"])) as replicate_fake,
        served(GeminiFake()) as gemini_fake,
    ):
        replicate_fake.gates["get"].close()  # the prediction never finishes
        gemini_fake.gate.close()
        router = Router(
            [replicate(http_client, replicate_fake), gemini(http_client, gemini_fake)], hedge=HEDGE
        )
        task = asyncio.create_task(router.generate(ask(), catalog.get("imagen-4-fast")))
        await asyncio.wait_for(replicate_fake.arrived("get", 1), LIMIT)
        await asyncio.wait_for(gemini_fake.gate.reached.wait(), LIMIT)
        gemini_fake.gate.open()
        routed = await asyncio.wait_for(task, LIMIT)

        assert routed.result.provider == "gemini"
        (cancel,) = replicate_fake.stage_calls("cancel")
        assert (cancel.method, cancel.path) == ("POST", "/v1/predictions/p1/cancel")
        assert cancel.headers["Authorization"] == f"Bearer {replicate_fake.api_token}"
        assert replicate_fake.canceled == ["p1"]
    assert routed.result.images[0].seed is None  # Gemini takes and reports no seed
    assert (routed.result.cost_usd, routed.result.cost_source) == (0.02, "catalog")
    assert routed.hedge_cost_usd == 0.02


async def test_a_model_retired_everywhere_falls_back_to_its_successor_with_a_note(
    http_client: httpx.AsyncClient, catalog: Catalog
) -> None:
    fast = catalog.get("imagen-4-fast")
    assert fast.fallback == "imagen-4"
    async with (
        served(GeminiFake(retired={"imagen-4.0-fast-generate-001"})) as gemini_fake,
        served(FalFake(models=("fal-ai/imagen4/preview",), statuses=["COMPLETED"])) as fal_fake,
    ):
        router = Router(
            [gemini(http_client, gemini_fake), fal(http_client, fal_fake)], catalog=catalog
        )
        routed = await router.generate(ask(count=2), fast)

    assert routed.model is not None
    assert routed.model.key == "imagen-4"
    assert (routed.result.provider, routed.result.model_id) == ("gemini", "imagen-4.0-generate-001")
    assert (routed.result.cost_usd, routed.result.cost_source) == (0.08, "catalog")
    assert routed.notes == (
        "Imagen 4 Fast is not available from the configured providers (it may have been "
        "retired), so Imagen 4 was used.",
    )
    assert [(a.provider, a.outcome, a.model, a.error) for a in routed.attempts] == [
        ("gemini", "failed", "imagen-4-fast", "ModelUnavailable"),
        ("fal", "failed", "imagen-4-fast", "ModelUnavailable"),
        ("gemini", "succeeded", "imagen-4", ""),
    ]
    assert [call.model for call in gemini_fake.calls] == [
        "imagen-4.0-fast-generate-001",
        "imagen-4.0-generate-001",
    ]
    # A retired model is no verdict on the providers' health.
    assert router.health["gemini"].failures == router.health["fal"].failures == 0


async def test_a_model_retired_at_one_provider_fails_over_without_changing_model(
    http_client: httpx.AsyncClient, catalog: Catalog
) -> None:
    async with (
        served(GeminiFake(retired={"imagen-4.0-fast-generate-001"})) as gemini_fake,
        RunwareFake() as runware_fake,
    ):
        router = Router(
            [gemini(http_client, gemini_fake), runware(http_client, runware_fake)], catalog=catalog
        )
        routed = await router.generate(ask(), catalog.get("imagen-4-fast"))

    assert (routed.result.provider, routed.result.model_id) == ("runware", "google:2@3")
    assert routed.notes == ()
    assert outcomes(routed.attempts) == [
        ("gemini", "failed", "ModelUnavailable"),
        ("runware", "succeeded", ""),
    ]


async def test_the_breaker_opens_on_repeated_outages_and_closes_after_a_good_probe(
    http_client: httpx.AsyncClient, catalog: Catalog
) -> None:
    clock = ManualClock()
    model = catalog.get("imagen-4-fast")
    async with RunwareFake() as runware_fake, served(FalFake(statuses=["COMPLETED"])) as fal_fake:
        router = Router(
            [runware(http_client, runware_fake, attempts=1), fal(http_client, fal_fake)],
            breaker_threshold=2,
            breaker_cooldown=30.0,
            clock=clock,
        )
        breaker = router.health["runware"].breaker
        for _ in range(2):
            runware_fake.fail_next(503, "timeoutProvider", "The provider timed out.")
            routed = await router.generate(ask(), model)
            assert routed.result.provider == "fal"
        assert breaker.state is BreakerState.OPEN
        assert len(runware_fake.requests) == 2

        # Open: Runware is skipped, saying why, and hears nothing.
        routed = await router.generate(ask(), model)
        assert routed.result.provider == "fal"
        first = routed.attempts[0]
        assert (first.provider, first.outcome, first.detail) == (
            "runware",
            "skipped",
            "circuit breaker open",
        )
        assert len(runware_fake.requests) == 2

        # After the cooldown one probe goes through; it succeeds, and the breaker closes.
        clock.now += 30.0
        assert breaker.state is BreakerState.HALF_OPEN
        routed = await router.generate(ask(), model)
        assert routed.result.provider == "runware"
        assert breaker.state is BreakerState.CLOSED
        assert len(runware_fake.requests) == 3
        assert len(fal_fake.stage_calls("submit")) == 3
