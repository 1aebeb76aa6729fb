"""/generate end to end on each provider's loopback fake, plus failover and hedging scenarios.

The real bot (real discord.py client, real services, real provider clients built from settings)
runs against the loopback Discord, with CANVASBOT_PROVIDERS and each provider's key and base URL
pointing at its fake. Stalls are held by the fakes until the test releases them; nothing sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.storage import GenerationStatus
from tests.e2e.conftest import BotFactory
from tests.e2e.helpers import field, result_message
from tests.fakes.aimlapi_fake import AimlApiFake
from tests.fakes.discord import FakeDiscord
from tests.fakes.fal_fake import FalFake
from tests.fakes.gemini_fake import GeminiFake, google_error
from tests.fakes.replicate_fake import ReplicateFake
from tests.fakes.runcomfy_fake import Plan, RunComfyFake
from tests.fakes.runware_fake import RunwareFake
from tests.fakes.served import served

LIMIT = 15.0


@dataclass(frozen=True)
class Case:
    label: str  # the Provider field of the embed
    seeds: bool  # does the embed show a seed (else "not reported")
    footer: str  # how the cost is sourced
    calls: Callable[[Any], int]  # generation requests the fake received


CASES = {
    "runware": Case("Runware", True, "reported by provider", lambda f: len(f.tasks)),
    "runcomfy": Case("RunComfy", True, "catalog price", lambda f: len(f.jobs)),
    "aimlapi": Case("AI/ML API", True, "catalog price", lambda f: len(f.requests)),
    "gemini": Case("Gemini API", False, "catalog price", lambda f: len(f.calls)),
    "fal": Case("fal", True, "catalog price", lambda f: len(f.stage_calls("submit"))),
    "replicate": Case("Replicate", False, "catalog price", lambda f: len(f.stage_calls("create"))),
}


@asynccontextmanager
async def provider_fake(name: str) -> AsyncIterator[tuple[Any, dict[str, str]]]:
    """The provider's fake, answering at once, and the settings that point the bot at it."""
    if name == "runware":
        async with RunwareFake() as runware:
            yield runware, {"RUNWARE_API_KEY": runware.api_key, "RUNWARE_BASE_URL": runware.url}
    elif name == "runcomfy":
        async with RunComfyFake() as runcomfy:
            runcomfy.plans.append(Plan(steps=["completed"]))
            yield (
                runcomfy,
                {"RUNCOMFY_API_KEY": runcomfy.api_key, "RUNCOMFY_BASE_URL": runcomfy.base_url},
            )
    elif name == "aimlapi":
        async with AimlApiFake() as aimlapi:
            yield (
                aimlapi,
                {"AIMLAPI_API_KEY": aimlapi.api_key, "AIMLAPI_BASE_URL": aimlapi.base_url},
            )
    elif name == "gemini":
        async with served(GeminiFake()) as gemini:
            yield gemini, {"GEMINI_API_KEY": gemini.api_key, "GEMINI_BASE_URL": gemini.base_url}
    elif name == "fal":
        async with served(FalFake(statuses=["COMPLETED"])) as fal:
            yield fal, {"FAL_KEY": fal.api_key, "FAL_BASE_URL": fal.base_url}
    elif name == "replicate":
        async with served(ReplicateFake()) as replicate:
            yield (
                replicate,
                {
                    "REPLICATE_API_TOKEN": replicate.api_token,
                    "REPLICATE_BASE_URL": replicate.base_url,
                },
            )
    else:  # pragma: no cover
        raise AssertionError(name)


@pytest.mark.parametrize("name", list(CASES))
async def test_generate_on_each_providers_fake(
    fake: FakeDiscord, canvasbot: BotFactory, name: str
) -> None:
    case = CASES[name]
    async with (
        provider_fake(name) as (provider, env),
        canvasbot(CANVASBOT_PROVIDERS=name, **env) as (_, app),
    ):
        message = await result_message(
            await fake.slash("generate", {"prompt": "a tram depot in the rain"})
        )
        record = await app.store.generation_by_message(message.id)
        assert case.calls(provider) == 1

    (embed,) = message.embeds
    assert embed["description"] == "a tram depot in the rain"
    assert field(embed, "Provider") == case.label
    assert field(embed, "Model") == "Imagen 4 Fast"
    assert field(embed, "Cost") == "$0.0200"
    assert f"({case.footer})" in embed["footer"]["text"]
    assert "author" not in embed  # a real model, not the offline preview
    assert len(message.attachments) == 1
    assert record is not None
    assert record.status is GenerationStatus.SUCCEEDED
    assert (record.provider, record.cost_usd) == (name, 0.02)
    assert [(a["provider"], a["outcome"]) for a in record.attempts] == [(name, "succeeded")]
    if case.seeds:
        assert isinstance(record.seeds[0], int)
        assert field(embed, "Seed") == str(record.seeds[0])
    else:
        assert record.seeds == (None,)
        assert field(embed, "Seed") == "not reported"
    fake.assert_clean()


async def test_a_rate_limited_first_provider_fails_over_to_the_second(
    fake: FakeDiscord, canvasbot: BotFactory
) -> None:
    retry_info = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "60s"}
    async with (
        provider_fake("gemini") as (gemini, gemini_env),
        provider_fake("fal") as (fal, fal_env),
        canvasbot(CANVASBOT_PROVIDERS="gemini,fal", **gemini_env, **fal_env) as (_, app),
    ):
        gemini.script(429, google_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded.", [retry_info]))
        message = await result_message(await fake.slash("generate", {"prompt": "a harbour"}))
        record = await app.store.generation_by_message(message.id)
        assert len(gemini.calls) == 1  # asked to wait a minute: no retry, the next provider
        assert len(fal.stage_calls("submit")) == 1

    (embed,) = message.embeds
    assert field(embed, "Provider") == "fal"
    assert field(embed, "Cost") == "$0.0200"
    assert field(embed, "Seed") == str(fal.default_seed)
    assert record is not None
    assert [(a["provider"], a["outcome"], a["error"]) for a in record.attempts] == [
        ("gemini", "failed", "RateLimited"),
        ("fal", "succeeded", ""),
    ]
    fake.assert_clean()


async def test_a_hedge_beats_a_stalled_provider_and_the_user_pays_once(
    fake: FakeDiscord, canvasbot: BotFactory
) -> None:
    async with (
        served(FalFake()) as fal,
        RunwareFake() as runware,
        canvasbot(
            CANVASBOT_PROVIDERS="fal,runware",
            CANVASBOT_HEDGE_AFTER_MS=20,
            FAL_KEY=fal.api_key,
            FAL_BASE_URL=fal.base_url,
            RUNWARE_API_KEY=runware.api_key,
            RUNWARE_BASE_URL=runware.url,
        ) as (_, app),
    ):
        fal.gates["status"].close()  # fal's queue never moves
        held = runware.stall_next()  # Runware answers once fal is surely waiting in its queue
        handle = await fake.slash("generate", {"prompt": "a lighthouse at dawn"})
        await asyncio.wait_for(fal.gates["status"].reached.wait(), LIMIT)
        await asyncio.wait_for(held.arrived.wait(), LIMIT)
        held.release.set()
        message = await result_message(handle)
        record = await app.store.generation_by_message(message.id)
        stats = await app.store.provider_stats(datetime.now(UTC) - timedelta(hours=1))
        ledger = await app.store.export_usage(datetime.now(UTC).date())
        assert fal.cancelled == ["req-1"]  # the loser was told to stop

    (embed,) = message.embeds
    assert field(embed, "Provider") == "Runware"
    assert field(embed, "Cost") == "$0.0200"
    assert record is not None
    assert (record.provider, record.cost_usd, record.cost_source) == ("runware", 0.02, "reported")
    assert record.hedge_cost_usd == 0.02  # recorded for the operator
    assert [(a["provider"], a["outcome"]) for a in record.attempts] == [
        ("runware", "hedged"),
        ("runware", "succeeded"),
        ("fal", "cancelled"),
    ]
    # The member's ledger: one reservation, committed once at the winner's cost.
    assert [(row.status, row.actual_usd) for row in ledger] == [("committed", 0.02)]
    # Charged once, at the winner's cost; the loser's estimate is kept apart.
    assert [(s.provider, s.spend_usd, s.hedge_spend_usd) for s in stats] == [
        ("fal", 0.0, 0.02),
        ("runware", 0.02, 0.0),
    ]
    fake.assert_clean()
