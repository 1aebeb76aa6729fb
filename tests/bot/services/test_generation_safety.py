"""Safety in the pipeline: checked before any reservation or provider call, the knobs sent to the
provider, and what happens to images the provider flags."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bot.services.errors import ImagesWithheld, PromptBlocked, QuotaRefused
from bot.services.generation import GenerationOptions, GenerationService, Requester
from bot.services.moderation import SafetyService
from bot.services.quotas import QuotaLimits, QuotaService
from bot.storage import GenerationStatus, Store, open_store
from bot.storage.models import LimitName, ReservationStatus, UsageRow
from providers.base import (
    Capabilities,
    GeneratedImage,
    GenerationRequest,
    ImageProvider,
    PersonPolicy,
    SafetyLevel,
    SafetyOptions,
)
from providers.catalog import Catalog, ModelOffer, ModelSpec
from providers.router import Router

GUILD = 500
IN_GENERAL = Requester(user_id=11, guild_id=GUILD, channel_id=2)
IN_NSFW = Requester(user_id=11, guild_id=GUILD, channel_id=3, channel_age_restricted=True)


class Flagging(ImageProvider):
    """Answers every request with one image per `flags` entry, flagged as told, $0.02 each."""

    name = "runware"
    capabilities = Capabilities(
        seed_input=True, seed_output=True, max_images_per_call=4, negative_prompt=True
    )

    def __init__(self, *flags: bool) -> None:
        self.flags = flags
        self.requests: list[GenerationRequest] = []

    async def _generate(
        self, request: GenerationRequest, model: ModelSpec, offer: ModelOffer
    ) -> list[GeneratedImage]:
        self.requests.append(request)
        return [
            GeneratedImage(b"img", "image/jpeg", seed=i + 1, flagged_nsfw=flag, cost_usd=0.02)
            for i, flag in enumerate(self.flags or (False,) * request.count)
        ]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with open_store(f"sqlite:///{tmp_path / 'bot.sqlite3'}") as store:
        yield store


@pytest.fixture
def safety(store: Store) -> SafetyService:
    return SafetyService(store)


def pipeline(
    store: Store, catalog: Catalog, safety: SafetyService, provider: ImageProvider
) -> GenerationService:
    return GenerationService(
        store=store,
        router=Router([provider]),
        catalog=catalog,
        default_model="imagen-4-fast",
        quotas=QuotaService(store, QuotaLimits(cooldown_seconds=0)),
        safety=safety,
    )


async def ledger(store: Store) -> list[UsageRow]:
    return await store.export_usage(date(2000, 1, 1))


async def test_a_blocked_prompt_calls_no_provider_charges_nothing_and_is_recorded(
    store: Store, catalog: Catalog, safety: SafetyService
) -> None:
    await safety.set_modlog(GUILD, 999, by=1)
    provider = Flagging()
    with pytest.raises(PromptBlocked) as caught:
        await pipeline(store, catalog, safety, provider).generate(
            IN_GENERAL, GenerationOptions(prompt="a fluffy cat", negative_prompt="no csam")
        )
    blocked = caught.value
    assert blocked.verdict.blocked
    assert "Nothing was charged" in blocked.message
    assert blocked.modlog_channel_id == 999
    assert provider.requests == []
    # An empty reservation, released at once: it starts the cooldown and charges nothing.
    [row] = await ledger(store)
    assert (row.images, row.est_usd, row.actual_usd) == (0, 0.0, None)
    assert (row.status, row.release_reason) == (ReservationStatus.RELEASED, "blocked")
    assert row.generation_id == blocked.record.id
    assert blocked.record is not None
    record = await store.get_generation(blocked.record.id)
    assert record is not None
    assert blocked.record.prompt == "a fluffy cat"
    assert record.status is GenerationStatus.BLOCKED
    assert record.error is not None
    assert record.error.startswith("safety: Blocked (absolute)")
    assert record.negative_prompt == "no csam"
    snapshot = await store.usage_for(11, GUILD, datetime.now(UTC))
    assert snapshot.user_last_request_at is not None  # the cooldown started
    assert (snapshot.user_images_today, snapshot.user_usd_micros_today) == (0, 0)


async def test_blocked_again_within_the_cooldown_is_refused_without_telling_the_mod_log_again(
    store: Store, catalog: Catalog, safety: SafetyService
) -> None:
    await safety.set_modlog(GUILD, 999, by=1)
    service = pipeline(store, catalog, safety, Flagging())
    service.quotas = QuotaService(store, QuotaLimits(cooldown_seconds=600))
    blocked = GenerationOptions(prompt="a fluffy cat", negative_prompt="no csam")

    with pytest.raises(PromptBlocked) as first:
        await service.generate(IN_GENERAL, blocked)
    with pytest.raises(PromptBlocked) as second:
        await service.generate(IN_GENERAL, blocked)
    with pytest.raises(QuotaRefused) as then:
        await service.generate(IN_GENERAL, GenerationOptions(prompt="a fluffy cat"))

    assert first.value.modlog_channel_id == 999
    assert second.value.modlog_channel_id is None  # refused all the same, posted once
    assert second.value.verdict.blocked
    # A blocked request starts the cooldown like any other.
    assert then.value.cause.limit is LimitName.COOLDOWN  # type: ignore[attr-defined]
    statuses = [(await store.get_generation(i)).status for i in (1, 2, 3)]  # type: ignore[union-attr]
    assert statuses == [
        GenerationStatus.BLOCKED,
        GenerationStatus.BLOCKED,
        GenerationStatus.REFUSED,
    ]


async def test_vary_is_checked_again_against_the_current_settings(
    store: Store, catalog: Catalog, safety: SafetyService
) -> None:
    provider = Flagging()
    service = pipeline(store, catalog, safety, provider)
    await service.generate(IN_GENERAL, GenerationOptions(prompt="two clowns juggling"))
    await safety.add_term(GUILD, "clowns", by=1)
    with pytest.raises(PromptBlocked):
        await service.vary(IN_GENERAL)
    assert len(provider.requests) == 1


@pytest.mark.parametrize(
    ("level", "requester", "sent"),
    [
        ("strict", IN_NSFW, SafetyLevel.STRICT),
        ("standard", IN_NSFW, SafetyLevel.STANDARD),
        ("relaxed", IN_GENERAL, SafetyLevel.STANDARD),
        ("relaxed", IN_NSFW, SafetyLevel.RELAXED),
    ],
)
async def test_the_provider_gets_the_level_in_effect_and_the_people_policy(
    store: Store,
    catalog: Catalog,
    safety: SafetyService,
    level: str,
    requester: Requester,
    sent: SafetyLevel,
) -> None:
    await safety.set_level(GUILD, level, by=1)
    await safety.set_people(GUILD, "dont_allow", by=1)
    provider = Flagging()
    await pipeline(store, catalog, safety, provider).generate(
        requester, GenerationOptions(prompt="a quiet harbour")
    )
    assert provider.requests[0].safety == SafetyOptions(level=sent, people=PersonPolicy.DONT_ALLOW)


async def test_a_flagged_image_is_withheld_under_standard_and_not_charged(
    store: Store, catalog: Catalog, safety: SafetyService
) -> None:
    provider = Flagging(False, True, False)
    outcome = await pipeline(store, catalog, safety, provider).generate(
        IN_NSFW, GenerationOptions(prompt="a beach at noon", count=3)
    )
    assert [image.seed for image in outcome.result.images] == [1, 3]
    assert outcome.result.cost_usd == pytest.approx(0.04)
    assert any("flagged 1 of the 3 images" in note for note in outcome.notes)
    record = await store.get_generation(outcome.record.id)
    assert record is not None
    assert (record.status, record.seeds) == (GenerationStatus.SUCCEEDED, (1, 3))
    [row] = await ledger(store)
    assert (row.status, row.actual_images, row.actual_usd) == (
        ReservationStatus.COMMITTED,
        2,
        pytest.approx(0.04),
    )


async def test_when_every_image_is_flagged_nothing_is_posted_or_charged(
    store: Store, catalog: Catalog, safety: SafetyService
) -> None:
    provider = Flagging(True, True)
    with pytest.raises(ImagesWithheld, match="all 2 images") as caught:
        await pipeline(store, catalog, safety, provider).generate(
            IN_GENERAL, GenerationOptions(prompt="a beach at noon", count=2)
        )
    assert "Nothing was charged" in caught.value.message
    [row] = await ledger(store)
    assert (row.status, row.release_reason) == (ReservationStatus.RELEASED, "withheld")
    record = await store.get_generation(1)
    assert record is not None
    assert record.status is GenerationStatus.BLOCKED
    assert record.error is not None
    assert "flagged all 2" in record.error
    assert "$0.0400" in record.error  # the provider's bill, kept for the operator


async def test_relaxed_in_an_age_restricted_channel_keeps_flagged_images_for_spoilers(
    store: Store, catalog: Catalog, safety: SafetyService
) -> None:
    await safety.set_level(GUILD, "relaxed", by=1)
    provider = Flagging(True, False)
    outcome = await pipeline(store, catalog, safety, provider).generate(
        IN_NSFW, GenerationOptions(prompt="a beach at noon", count=2)
    )
    assert [image.flagged_nsfw for image in outcome.result.images] == [True, False]
    assert outcome.notes == ()
    [row] = await ledger(store)
    assert (row.actual_images, row.actual_usd) == (2, pytest.approx(0.04))

    with pytest.raises(ImagesWithheld):  # the same server, a channel that is not age-restricted
        await pipeline(store, catalog, safety, Flagging(True)).generate(
            IN_GENERAL, GenerationOptions(prompt="a beach at noon")
        )
