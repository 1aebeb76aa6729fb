"""Router behaviour with scripted providers: skip, fail over, never fail over, hedge, break."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from providers.base import Capabilities, GeneratedImage, GenerationRequest, ImageProvider
from providers.catalog import Catalog, ModelOffer, ModelSpec
from providers.errors import (
    AuthenticationFailed,
    ContentBlocked,
    ModelUnavailable,
    ProviderUnavailable,
    RateLimited,
)
from providers.health import BreakerState
from providers.router import HedgePolicy, NoProviderAvailable, Router


class Scripted(ImageProvider):
    """Answers as told: a list of errors to raise first, or a stall until released."""

    capabilities = Capabilities(
        seed_input=True, seed_output=True, max_images_per_call=4, max_prompt_chars=3000
    )

    def __init__(
        self,
        name: str,
        *errors: Exception,
        stall: asyncio.Event | None = None,
        max_prompt: int = 3000,
        seeds: bool = True,
        models: set[str] | None = None,
    ) -> None:
        self.name = name  # type: ignore[misc]
        self.errors = list(errors)
        self.stall = stall
        self.calls = 0
        self.cancelled = 0
        self.started = asyncio.Event()
        self.models = models
        self.capabilities = Capabilities(
            seed_input=seeds,
            seed_output=seeds,  # type: ignore[misc]
            max_images_per_call=4,
            max_prompt_chars=max_prompt,
        )

    def offer_for(self, model: ModelSpec) -> ModelOffer | None:
        if self.models is not None and model.key not in self.models:
            return None
        return ModelOffer(self.name, f"{self.name}:{model.key}", 0.02)

    async def _generate(
        self, request: GenerationRequest, model: ModelSpec, offer: ModelOffer
    ) -> list[GeneratedImage]:
        self.calls += 1
        self.started.set()
        if self.stall is not None:
            try:
                await self.stall.wait()
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
        if self.errors:
            raise self.errors.pop(0)
        return [
            GeneratedImage(b"x", "image/jpeg", seed=1, cost_usd=0.02) for _ in range(request.count)
        ]


def request(prompt: str = "a boat", **kw: object) -> GenerationRequest:
    return GenerationRequest(prompt=prompt, model=str(kw.pop("model", "imagen-4-fast")), **kw)


async def test_fails_over_in_order_on_provider_faults(catalog: Catalog) -> None:
    first = Scripted("a", ProviderUnavailable("503", provider="a"))
    second = Scripted("b", AuthenticationFailed("bad key", provider="b"))
    third = Scripted("c")
    routed = await Router([first, second, third]).generate(request(), catalog.get("imagen-4-fast"))
    assert routed.result.provider == "c"
    assert [(a.provider, a.outcome) for a in routed.attempts] == [
        ("a", "failed"),
        ("b", "failed"),
        ("c", "succeeded"),
    ]


@pytest.mark.parametrize("error", [ContentBlocked("unsafe", provider="a")])
async def test_a_blocked_prompt_never_fails_over(catalog: Catalog, error: Exception) -> None:
    second = Scripted("b")
    with pytest.raises(ContentBlocked):
        await Router([Scripted("a", error), second]).generate(
            request(), catalog.get("imagen-4-fast")
        )
    assert second.calls == 0


async def test_providers_that_cannot_serve_are_skipped_with_the_reason(catalog: Catalog) -> None:
    short = Scripted("aimlapi", max_prompt=400)
    seedless = Scripted("gemini", seeds=False)
    able = Scripted("runware")
    routed = await Router([short, seedless, able]).generate(
        request("x" * 500, seed=3), catalog.get("imagen-4-fast")
    )
    assert routed.result.provider == "runware"
    skipped = {a.provider: a.detail for a in routed.attempts if a.outcome == "skipped"}
    assert "400 characters" in skipped["aimlapi"]
    assert "seed" in skipped["gemini"]
    assert short.calls == seedless.calls == 0


async def test_when_nobody_can_serve_the_error_says_why(catalog: Catalog) -> None:
    with pytest.raises(NoProviderAvailable, match="400 characters"):
        await Router([Scripted("aimlapi", max_prompt=400)]).generate(
            request("x" * 500), catalog.get("imagen-4-fast")
        )


async def test_all_failing_raises_the_first_error_with_every_attempt(catalog: Catalog) -> None:
    with pytest.raises(RateLimited) as caught:
        await Router(
            [
                Scripted("a", RateLimited("slow", provider="a")),
                Scripted("b", ProviderUnavailable("down", provider="b")),
            ]
        ).generate(request(), catalog.get("imagen-4-fast"))
    assert [a.provider for a in caught.value.attempts] == ["a", "b"]  # type: ignore[attr-defined]


async def test_a_stalled_provider_is_hedged_and_the_loser_cancelled(catalog: Catalog) -> None:
    never = asyncio.Event()
    stalled = Scripted("slow", stall=never)
    quick = Scripted("quick")
    router = Router([stalled, quick], hedge=HedgePolicy(after_ms=20))
    routed = await router.generate(request(count=2), catalog.get("imagen-4-fast"))
    assert routed.result.provider == "quick"
    assert stalled.cancelled == 1
    outcomes = [(a.provider, a.outcome) for a in routed.attempts]
    assert ("quick", "hedged") in outcomes
    assert ("slow", "cancelled") in outcomes
    assert routed.result.cost_usd == pytest.approx(0.04)  # the user pays for the winner only
    assert routed.hedge_cost_usd == pytest.approx(0.04)  # the loser's possible cost is recorded


async def test_without_hedging_a_slow_provider_is_waited_for(catalog: Catalog) -> None:
    release = asyncio.Event()
    slow = Scripted("slow", stall=release)
    other = Scripted("other")
    task = asyncio.create_task(
        Router([slow, other]).generate(request(), catalog.get("imagen-4-fast"))
    )
    await slow.started.wait()
    release.set()
    routed = await task
    assert routed.result.provider == "slow"
    assert other.calls == 0


async def test_adaptive_hedge_delay_follows_the_p90_within_bounds() -> None:
    policy = HedgePolicy(min_ms=500, max_ms=8000, initial_ms=4000)
    router = Router([Scripted("a")], hedge=policy)
    health = router.health["a"]
    assert policy.delay_s(health) == 4.0
    health.latencies_ms.extend([1000, 1100, 1200, 1300, 1400, 1500, 1600, 1700, 1800, 5000])
    assert policy.delay_s(health) == 1.8
    health.latencies_ms.extend([20000] * 10)
    assert policy.delay_s(health) == 8.0
    assert not HedgePolicy(after_ms=0).enabled


async def test_cancelling_the_caller_cancels_the_provider(catalog: Catalog) -> None:
    stalled = Scripted("slow", stall=asyncio.Event())
    task = asyncio.create_task(Router([stalled]).generate(request(), catalog.get("imagen-4-fast")))
    await stalled.started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert stalled.cancelled == 1


async def test_breaker_opens_after_consecutive_failures_and_one_probe_closes_it(
    catalog: Catalog,
) -> None:
    now = [0.0]
    flaky = Scripted("flaky", *(ProviderUnavailable("down", provider="flaky") for _ in range(3)))
    backup = Scripted("backup")
    router = Router([flaky, backup], breaker_threshold=3, breaker_cooldown=30, clock=lambda: now[0])
    model = catalog.get("imagen-4-fast")
    for _ in range(3):
        await router.generate(request(), model)
    assert router.health["flaky"].breaker.state is BreakerState.OPEN
    routed = await router.generate(request(), model)
    assert ("flaky", "skipped", "circuit breaker open") in [
        (a.provider, a.outcome, a.detail) for a in routed.attempts
    ]
    assert flaky.calls == 3
    now[0] = 31.0  # cooldown over: one probe goes through, succeeds, and closes the breaker
    routed = await router.generate(request(), model)
    assert routed.result.provider == "flaky"
    assert router.health["flaky"].breaker.state is BreakerState.CLOSED


async def test_a_failed_probe_opens_the_breaker_again(catalog: Catalog) -> None:
    now = [0.0]
    flaky = Scripted("flaky", *(ProviderUnavailable("down", provider="flaky") for _ in range(2)))
    router = Router(
        [flaky, Scripted("backup")], breaker_threshold=1, breaker_cooldown=10, clock=lambda: now[0]
    )
    model = catalog.get("imagen-4-fast")
    await router.generate(request(), model)
    now[0] = 11.0
    await router.generate(request(), model)  # the probe fails
    assert router.health["flaky"].breaker.state is BreakerState.OPEN
    assert flaky.calls == 2


class Counting(Scripted):
    """Yields to the loop mid-call so that calls can overlap; records the most in flight."""

    def __init__(self, name: str, max_concurrency: int | None) -> None:
        super().__init__(name)
        self.capabilities = Capabilities(
            seed_input=True,
            seed_output=True,  # type: ignore[misc]
            max_images_per_call=4,
            max_concurrency=max_concurrency,
        )
        self.active = 0
        self.most = 0

    async def _generate(
        self, request: GenerationRequest, model: ModelSpec, offer: ModelOffer
    ) -> list[GeneratedImage]:
        self.active += 1
        self.most = max(self.most, self.active)
        for _ in range(5):  # a provider call takes several loop turns
            await asyncio.sleep(0)
        self.active -= 1
        return await super()._generate(request, model, offer)


@pytest.mark.parametrize("limit", [2, None])
async def test_concurrency_limit_caps_calls_in_flight_per_provider(
    catalog: Catalog, limit: int | None
) -> None:
    provider = Counting("fal", limit)
    router = Router([provider])
    model = catalog.get("imagen-4-fast")
    await asyncio.gather(*(router.generate(request(), model) for _ in range(6)))
    assert provider.calls == 6
    if limit:
        assert provider.most == limit
    else:
        assert provider.most == 6  # the same load without a limit overlaps fully


async def test_a_retired_model_falls_back_with_a_plain_note(tmp_path: Path) -> None:
    catalog = Catalog.load()
    retired = Scripted("runware", ModelUnavailable("model not found", provider="runware"))
    routed = await Router([retired], catalog=catalog).generate(
        request(model="imagen-4-ultra"), catalog.get("imagen-4-ultra")
    )
    assert routed.model is not None
    assert routed.model.key == "imagen-4"
    assert "Imagen 4 Ultra" in routed.notes[0]
    assert "Imagen 4 was used" in routed.notes[0]


async def test_model_unavailable_at_one_provider_fails_over_to_the_next(
    catalog: Catalog,
) -> None:
    gone = Scripted("a", ModelUnavailable("404", provider="a"))
    routed = await Router([gone, Scripted("b")], catalog=catalog).generate(
        request(), catalog.get("imagen-4-fast")
    )
    assert routed.result.provider == "b"
    assert routed.notes == ()
