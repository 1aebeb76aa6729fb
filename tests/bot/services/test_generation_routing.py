"""The pipeline with quotas in front of real provider clients and their loopback fakes: what a
hedged, a failed-over and a blocked generation record, and what the user is charged."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from bot.services.errors import GenerationFailed
from bot.services.generation import GenerationOptions, GenerationService, Requester
from bot.services.quotas import QuotaService
from bot.storage import GenerationStatus, Store, open_store
from bot.storage.models import ReservationStatus
from providers.catalog import Catalog
from providers.fal import FalProvider
from providers.gemini import GeminiProvider
from providers.retry import RetryPolicy
from providers.router import HedgePolicy, Router
from providers.runware import RunwareProvider
from tests.fakes.fal_fake import FalFake
from tests.fakes.gemini_fake import GeminiFake
from tests.fakes.runware_fake import RunwareFake
from tests.fakes.scripting import RecordingSleep
from tests.fakes.served import served

ALICE = Requester(user_id=11, guild_id=1, channel_id=2)
LIMIT = 10.0


def retry() -> RetryPolicy:
    return RetryPolicy(attempts=1, sleep=RecordingSleep())


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with open_store(f"sqlite:///{tmp_path / 'bot.sqlite3'}") as store:
        yield store


def pipeline(store: Store, catalog: Catalog, router: Router) -> GenerationService:
    return GenerationService(
        store=store,
        router=router,
        catalog=catalog,
        default_model="imagen-4-fast",
        quotas=QuotaService(store),
    )


async def test_a_hedged_generation_charges_the_user_once_at_the_winners_cost(
    store: Store, catalog: Catalog, http_client: httpx.AsyncClient
) -> None:
    async with served(FalFake()) as fal_fake, RunwareFake() as runware_fake:
        fal_fake.gates["status"].close()  # fal stalls in its queue
        held = runware_fake.stall_next()
        router = Router(
            [
                FalProvider(
                    http_client,
                    fal_fake.api_key,
                    base_url=fal_fake.base_url,
                    retry=retry(),
                    sleep=RecordingSleep(),
                ),
                RunwareProvider(
                    http_client, runware_fake.api_key, base_url=runware_fake.url, retry=retry()
                ),
            ],
            hedge=HedgePolicy(after_ms=5),
        )
        task = asyncio.create_task(
            pipeline(store, catalog, router).generate(
                ALICE, GenerationOptions(prompt="a tram depot in the rain")
            )
        )
        await asyncio.wait_for(fal_fake.gates["status"].reached.wait(), LIMIT)
        await asyncio.wait_for(held.arrived.wait(), LIMIT)
        held.release.set()
        outcome = await asyncio.wait_for(task, LIMIT)
        assert fal_fake.cancelled == ["req-1"]

    record = await store.get_generation(outcome.record.id)
    assert record is not None
    assert (record.provider, record.cost_usd, record.cost_source) == ("runware", 0.02, "reported")
    assert record.hedge_cost_usd == 0.02  # recorded for the operator, not charged
    assert [(a["provider"], a["outcome"]) for a in record.attempts] == [
        ("runware", "hedged"),
        ("runware", "succeeded"),
        ("fal", "cancelled"),
    ]
    assert record.attempts[2]["cost_usd"] == 0.02
    now = datetime.now(UTC)
    (charge,) = await store.export_usage(now.date())
    assert (charge.status, charge.actual_usd, charge.generation_id) == (
        ReservationStatus.COMMITTED,
        0.02,
        record.id,
    )
    usage = await store.usage_for(ALICE.user_id, ALICE.guild_id, now)
    assert usage.user_usd_today == 0.02
    stats = {s.provider: s for s in await store.provider_stats(now - timedelta(hours=1))}
    assert (stats["runware"].successes, stats["runware"].spend_usd) == (1, 0.02)
    assert (stats["fal"].cancelled, stats["fal"].hedge_spend_usd) == (1, 0.02)


async def test_a_blocked_generation_records_who_refused_it_and_charges_nothing(
    store: Store, catalog: Catalog, http_client: httpx.AsyncClient
) -> None:
    async with served(GeminiFake()) as gemini_fake, RunwareFake() as runware_fake:
        router = Router(
            [
                GeminiProvider(
                    http_client, gemini_fake.api_key, base_url=gemini_fake.base_url, retry=retry()
                ),
                RunwareProvider(
                    http_client, runware_fake.api_key, base_url=runware_fake.url, retry=retry()
                ),
            ]
        )
        with pytest.raises(GenerationFailed):
            await pipeline(store, catalog, router).generate(
                ALICE, GenerationOptions(prompt="a forbidden garden")
            )
        assert runware_fake.requests == []

    record = await store.latest_generation(ALICE.user_id)
    assert record is None  # nothing succeeded
    now = datetime.now(UTC)
    (charge,) = await store.export_usage(now.date())
    assert charge.status is ReservationStatus.RELEASED
    blocked = await store.get_generation(charge.generation_id or 0)
    assert blocked is not None
    assert blocked.status is GenerationStatus.BLOCKED
    assert [(a["provider"], a["outcome"], a["error"]) for a in blocked.attempts] == [
        ("gemini", "failed", "ContentBlocked")
    ]
    (gemini,) = await store.provider_stats(now - timedelta(hours=1))
    assert (gemini.provider, gemini.refused, gemini.failures, gemini.error_rate) == (
        "gemini",
        1,
        0,
        None,
    )
