"""Attempts and hedge cost recorded with each generation, and the per-provider figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.storage import GenerationStatus, NewGeneration, Store
from bot.storage.models import ProviderStats
from bot.storage.stats import GenerationFacts, percentile, provider_stats


def new(user_id: int = 1) -> NewGeneration:
    return NewGeneration(user_id, 10, 20, "a lighthouse", None, "1:1", 1, None, "imagen-4-fast")


def attempt(provider: str, outcome: str, **extra: Any) -> dict[str, Any]:
    return {
        "provider": provider,
        "outcome": outcome,
        "detail": "",
        "model": "imagen-4-fast",
    } | extra


async def succeed(store: Store, provider: str, latency_ms: float, cost: float, **kw: Any) -> int:
    created = await store.create_generation(new())
    await store.complete_generation(
        created.id,
        provider=provider,
        model_id=f"{provider}-model",
        seeds=[None],
        cost_usd=cost,
        cost_source="catalog",
        provider_latency_ms=latency_ms,
        total_latency_ms=latency_ms + 10,
        **kw,
    )
    return created.id


async def test_the_hedge_cost_and_the_attempts_are_recorded_with_the_result(store: Store) -> None:
    attempts = [
        attempt("fal", "hedged"),  # JSON-able dicts, stored and read back as they were
        attempt("runware", "succeeded", latency_ms=812.5, cost_usd=None, error=""),
        attempt(
            "fal", "cancelled", detail="another provider answered", latency_ms=900.0, cost_usd=0.02
        ),
    ]
    generation_id = await succeed(
        store, "runware", 812.5, 0.02, hedge_cost_usd=0.02, attempts=attempts
    )
    done = await store.get_generation(generation_id)
    assert done is not None
    assert done.hedge_cost_usd == 0.02
    assert done.cost_usd == 0.02  # the user's cost: the winner's, once
    assert done.attempts == tuple(attempts)


async def test_defaults_keep_older_callers_working(store: Store) -> None:
    generation_id = await succeed(store, "local", 5.0, 0.0)
    done = await store.get_generation(generation_id)
    assert done is not None
    assert (done.hedge_cost_usd, done.attempts) == (0.0, ())
    pending = await store.get_generation((await store.create_generation(new())).id)
    assert pending is not None
    assert (pending.hedge_cost_usd, pending.attempts) == (None, ())


async def test_a_failure_records_its_attempts_and_keeps_them_when_given_none(store: Store) -> None:
    created = await store.create_generation(new())
    tried = [attempt("runware", "failed", detail="503", error="ProviderUnavailable")]
    await store.fail_generation(
        created.id, status=GenerationStatus.FAILED, error="503", provider="runware", attempts=tried
    )
    await store.fail_generation(created.id, status=GenerationStatus.INTERRUPTED, error="again")
    failed = await store.get_generation(created.id)
    assert failed is not None
    assert failed.attempts == tuple(tried)


async def test_provider_stats_count_calls_latency_and_spend_per_provider(store: Store) -> None:
    # Failed over from a rate-limited fal to runware.
    await succeed(
        store,
        "runware",
        1000.0,
        0.02,
        attempts=[
            attempt("fal", "failed", error="RateLimited"),
            attempt("runware", "succeeded", latency_ms=1000.0),
        ],
    )
    # fal stalled, runware was hedged in and won; fal's request was cancelled.
    await succeed(
        store,
        "runware",
        3000.0,
        0.04,
        hedge_cost_usd=0.02,
        attempts=[
            attempt("runware", "hedged"),
            attempt("runware", "succeeded", latency_ms=3000.0),
            attempt("fal", "cancelled", cost_usd=0.02),
            attempt("gemini", "skipped", detail="gemini cannot use a chosen seed"),
        ],
    )
    # A prompt runware's safety refused: not a fault of runware.
    blocked = await store.create_generation(new())
    await store.fail_generation(
        blocked.id,
        status=GenerationStatus.BLOCKED,
        error="blocked",
        provider="runware",
        attempts=[attempt("runware", "failed", error="ContentBlocked")],
    )
    # Both failed.
    failed = await store.create_generation(new())
    await store.fail_generation(
        failed.id,
        status=GenerationStatus.FAILED,
        error="503",
        provider="runware",
        attempts=[
            attempt("runware", "failed", error="ProviderUnavailable"),
            attempt("fal", "failed", error="ModelUnavailable"),
        ],
    )
    # Recorded without attempts (as before migration 0003): counted for its own provider.
    await succeed(store, "gemini", 500.0, 0.02)
    # Refused by a quota before any provider, and one still pending: no provider calls.
    refused = await store.create_generation(new())
    await store.fail_generation(refused.id, status=GenerationStatus.REFUSED, error="quota")
    await store.create_generation(new())

    stats = await store.provider_stats(datetime.now(UTC) - timedelta(hours=1))

    assert stats == [
        ProviderStats(
            "fal", requests=3, failures=2, cancelled=1, spend_usd=0.0, hedge_spend_usd=0.02
        ),
        ProviderStats(
            "gemini", requests=1, successes=1, p50_ms=500.0, p90_ms=500.0, spend_usd=0.02
        ),
        ProviderStats(
            "runware",
            requests=4,
            successes=2,
            failures=1,
            refused=1,
            p50_ms=1000.0,
            p90_ms=3000.0,
            spend_usd=0.06,
        ),
    ]
    by_name = {s.provider: s for s in stats}
    assert by_name["runware"].error_rate == pytest.approx(1 / 3)
    assert by_name["fal"].error_rate == 1.0
    assert by_name["gemini"].error_rate == 0.0
    assert await store.provider_stats(datetime.now(UTC) + timedelta(hours=1)) == []


async def test_provider_stats_with_no_generations_is_empty(store: Store) -> None:
    assert await store.provider_stats(datetime.now(UTC) - timedelta(days=1)) == []


def test_error_rate_is_unknown_without_a_verdict() -> None:
    only_refusals = provider_stats(
        [
            GenerationFacts(
                "fal", "blocked", [attempt("fal", "failed", error="InvalidRequest")], None, None
            )
        ]
    )
    assert only_refusals == [ProviderStats("fal", requests=1, refused=1)]
    assert only_refusals[0].error_rate is None


def test_percentiles_are_nearest_rank() -> None:
    samples = [float(n) for n in range(1, 11)]  # 1 … 10
    assert percentile(samples, 0.5) == 5.0
    assert percentile(samples, 0.9) == 9.0
    assert percentile([7.0], 0.9) == 7.0
    assert percentile([], 0.5) is None
