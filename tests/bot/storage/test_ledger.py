"""The quota ledger on both engines: each limit, settling, expiry, resets, overrides, stats."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from bot.storage import NewGeneration, Store
from bot.storage.models import (
    DayTotal,
    EffectiveLimits,
    LimitName,
    ProviderTotal,
    QuotaOverrides,
    QuotaRefusal,
    Reservation,
    ReservationRequest,
    ReservationStatus,
    RoleQuota,
    UserTotal,
)
from tests.bot.conftest import NOW

NO_LIMITS = EffectiveLimits(None, None, None, None, None, None)
MIDNIGHT = datetime(2030, 1, 16, tzinfo=UTC)  # the reset after NOW (2030-01-15 12:00 UTC)
NEXT_MONTH = datetime(2030, 2, 1, tzinfo=UTC)


def limits(**values: float | None) -> EffectiveLimits:
    return dataclasses.replace(NO_LIMITS, **values)  # type: ignore[arg-type]


def ask(
    user: int = 1,
    guild: int | None = 10,
    images: int = 1,
    usd: float = 0.01,
    generation_id: int | None = None,
) -> ReservationRequest:
    return ReservationRequest(user, guild, images, usd, generation_id)


async def held(
    store: Store, request: ReservationRequest, lim: EffectiveLimits, now: datetime = NOW
) -> Reservation:
    outcome = await store.reserve(request, lim, now=now)
    assert isinstance(outcome, Reservation), outcome
    return outcome


async def refused(
    store: Store, request: ReservationRequest, lim: EffectiveLimits, now: datetime = NOW
) -> QuotaRefusal:
    outcome = await store.reserve(request, lim, now=now)
    assert isinstance(outcome, QuotaRefusal), outcome
    return outcome


# --- each limit -----------------------------------------------------------------------------


async def test_reservation_records_what_was_asked(store: Store) -> None:
    r = await held(store, ask(user=5, guild=None, images=3, usd=0.0123), NO_LIMITS)
    assert (r.user_id, r.guild_id, r.images, r.est_usd) == (5, None, 3, 0.0123)
    assert r.status == ReservationStatus.RESERVED
    assert (r.created_at, r.day, r.month) == (NOW, date(2030, 1, 15), date(2030, 1, 1))
    assert r.expires_at == NOW + timedelta(minutes=10)
    assert await store.get_reservation(r.id) == r


async def test_user_daily_images(store: Store) -> None:
    lim = limits(user_daily_images=5)
    await held(store, ask(images=3), lim)
    refusal = await refused(store, ask(images=3), lim)
    assert refusal == QuotaRefusal(LimitName.USER_DAILY_IMAGES, 3, 5, 3, MIDNIGHT)
    await held(store, ask(images=2), lim)  # exactly at the limit fits
    assert (await refused(store, ask(images=1), lim)).used == 5


async def test_user_daily_usd_is_exact(store: Store) -> None:
    lim = limits(user_daily_usd=0.3)
    await held(store, ask(usd=0.1), lim)
    await held(store, ask(usd=0.2), lim)  # 0.1 + 0.2 > 0.3 in floats, not in micro-dollars
    refusal = await refused(store, ask(usd=0.000001), lim)
    assert refusal == QuotaRefusal(LimitName.USER_DAILY_USD, 0.3, 0.3, 0.000001, MIDNIGHT)


async def test_concurrency(store: Store) -> None:
    lim = limits(max_concurrent=2)
    first = await held(store, ask(guild=10), lim)
    await held(store, ask(guild=11), lim)  # in flight counts across servers
    assert await refused(store, ask(guild=12), lim) == QuotaRefusal(
        LimitName.CONCURRENT, 2, 2, 1, None
    )
    assert await store.commit_reservation(first.id, 0.01, now=NOW)
    await held(store, ask(), lim)


async def test_cooldown(store: Store) -> None:
    lim = limits(cooldown_seconds=5)
    first = await held(store, ask(guild=10), lim)
    await store.release_reservation(first.id, "failed", now=NOW)  # a released one still counts
    soon = NOW + timedelta(seconds=2)
    assert await refused(store, ask(guild=11), lim, soon) == QuotaRefusal(
        LimitName.COOLDOWN, 2.0, 5, 0, NOW + timedelta(seconds=5)
    )
    await held(store, ask(user=2), lim, soon)  # someone else is not slowed down
    await held(store, ask(), lim, NOW + timedelta(seconds=5))


async def test_an_empty_reservation_starts_the_cooldown_at_the_limits_and_charges_nothing(
    store: Store,
) -> None:
    # A blocked request: 0 images, $0, even for a member who used the whole day.
    lim = limits(cooldown_seconds=5, user_daily_images=1, user_daily_usd=0.01)
    spent = await held(store, ask(), lim)
    await store.commit_reservation(spent.id, 0.01, now=NOW)
    later = NOW + timedelta(seconds=10)
    empty = await held(store, ask(images=0, usd=0.0), lim, later)
    await store.release_reservation(empty.id, "blocked", now=later)
    assert await refused(store, ask(images=0, usd=0.0), lim, later + timedelta(seconds=1)) == (
        QuotaRefusal(LimitName.COOLDOWN, 1.0, 5, 0, later + timedelta(seconds=5))
    )
    usage = await store.usage_for(1, 10, later)
    assert (usage.user_images_today, usage.user_usd_micros_today) == (1, 10_000)


async def test_guild_monthly_usd(store: Store) -> None:
    lim = limits(guild_monthly_usd=0.30)
    await held(store, ask(user=1, usd=0.20), lim)
    await held(store, ask(user=2, guild=11, usd=0.20), lim)  # another server's spend
    refusal = await refused(store, ask(user=3, usd=0.15), lim)
    assert refusal == QuotaRefusal(LimitName.GUILD_MONTHLY_USD, 0.20, 0.30, 0.15, NEXT_MONTH)
    await held(store, ask(user=3, guild=None, usd=0.15), lim)  # DMs have no server budget


async def test_global_daily_usd(store: Store) -> None:
    lim = limits(global_daily_usd=1.0)
    await held(store, ask(user=1, guild=10, usd=0.6), lim)
    await held(store, ask(user=2, guild=None, usd=0.3), lim)
    refusal = await refused(store, ask(user=3, guild=11, usd=0.2), lim)
    assert refusal == QuotaRefusal(LimitName.GLOBAL_DAILY_USD, 0.9, 1.0, 0.2, MIDNIGHT)
    tomorrow = MIDNIGHT + timedelta(seconds=1)
    await held(store, ask(user=3, guild=11, usd=0.2), lim, tomorrow)


async def test_a_refusal_writes_nothing(store: Store) -> None:
    lim = limits(user_daily_images=1)
    await held(store, ask(), lim)
    await refused(store, ask(), lim)
    assert len(await store.export_usage(NOW.date())) == 1


async def test_user_daily_limits_count_per_server(store: Store) -> None:
    lim = limits(user_daily_images=2)
    await held(store, ask(guild=10, images=2), lim)
    assert (await refused(store, ask(guild=10), lim)).limit == LimitName.USER_DAILY_IMAGES
    await held(store, ask(guild=11, images=2), lim)
    await held(store, ask(guild=None, images=2), lim)
    assert (await refused(store, ask(guild=None), lim)).limit == LimitName.USER_DAILY_IMAGES


async def test_days_and_months_are_utc(store: Store) -> None:
    lim = limits(user_daily_images=1, guild_monthly_usd=0.01)
    last_second = datetime(2030, 1, 31, 23, 59, 59, tzinfo=UTC)
    january = await held(store, ask(), lim, last_second)
    assert (january.day, january.month) == (date(2030, 1, 31), date(2030, 1, 1))
    assert (await refused(store, ask(user=2), lim, last_second)).resets_at == datetime(
        2030, 2, 1, tzinfo=UTC
    )
    february = await held(store, ask(), lim, datetime(2030, 2, 1, tzinfo=UTC))
    assert (february.day, february.month) == (date(2030, 2, 1), date(2030, 2, 1))
    # 08:00 on 2 February in Tokyo is still 1 February in UTC.
    tokyo = datetime(2030, 2, 2, 8, 0, tzinfo=timezone(timedelta(hours=9)))
    in_tokyo = await held(store, ask(user=3, guild=None), lim, tokyo)
    assert (in_tokyo.day, in_tokyo.created_at) == (date(2030, 2, 1), tokyo)


# --- settling -------------------------------------------------------------------------------


async def test_commit_charges_the_actual_cost(store: Store) -> None:
    r = await held(store, ask(images=4, usd=0.20), NO_LIMITS)
    before = await store.usage_for(1, 10, NOW)
    assert (before.user_images_today, before.user_usd_today, before.user_in_flight) == (4, 0.2, 1)
    assert await store.commit_reservation(r.id, 0.05, actual_images=3, now=NOW)
    after = await store.usage_for(1, 10, NOW)
    assert (after.user_images_today, after.user_usd_today, after.user_in_flight) == (3, 0.05, 0)
    assert (after.guild_usd_month, after.global_usd_today) == (0.05, 0.05)
    committed = await store.get_reservation(r.id)
    assert committed is not None
    assert (committed.status, committed.actual_images, committed.actual_usd) == (
        ReservationStatus.COMMITTED,
        3,
        0.05,
    )
    assert committed.settled_at == NOW


async def test_settling_happens_once(store: Store) -> None:
    a = await held(store, ask(), NO_LIMITS)
    assert await store.commit_reservation(a.id, 0.01, now=NOW)
    assert not await store.commit_reservation(a.id, 0.01, now=NOW)  # never charged twice
    assert not await store.release_reservation(a.id, "cancelled", now=NOW)  # nor un-charged

    b = await held(store, ask(), NO_LIMITS)
    assert await store.release_reservation(b.id, "blocked", now=NOW)
    assert not await store.release_reservation(b.id, "blocked", now=NOW)
    assert not await store.commit_reservation(b.id, 0.01, now=NOW)
    released = await store.get_reservation(b.id)
    assert released is not None
    assert (released.status, released.release_reason) == (ReservationStatus.RELEASED, "blocked")

    assert not await store.release_reservation(12345, "missing", now=NOW)
    usage = await store.usage_for(1, 10, NOW)
    assert (usage.user_images_today, usage.user_usd_micros_today) == (1, 10_000)


async def test_concurrent_releases_count_once(store: Store) -> None:
    r = await held(store, ask(), NO_LIMITS)
    results = await asyncio.gather(
        *(store.release_reservation(r.id, "cancelled", now=NOW) for _ in range(6))
    )
    assert sorted(results) == [False] * 5 + [True]


async def test_a_release_gives_every_limit_back(store: Store) -> None:
    lim = limits(user_daily_images=2, user_daily_usd=0.02, max_concurrent=1, global_daily_usd=0.02)
    r = await held(store, ask(images=2, usd=0.02), lim)
    await refused(store, ask(), lim)
    await store.release_reservation(r.id, "failed", now=NOW)
    await held(store, ask(images=2, usd=0.02), lim)


# --- expiry ---------------------------------------------------------------------------------


async def test_expiry(store: Store) -> None:
    await held(store, ask(usd=0.05), NO_LIMITS)  # the default TTL: ten minutes
    ttl = timedelta(seconds=60)
    short = await store.reserve(ask(user=2, usd=0.05), NO_LIMITS, now=NOW, ttl=ttl)
    assert isinstance(short, Reservation)
    assert short.expires_at == NOW + ttl
    almost = NOW + ttl - timedelta(microseconds=1)
    assert await store.release_expired(almost) == 0
    assert (await store.usage_for(2, 10, almost)).user_in_flight == 1

    at_expiry = NOW + ttl
    swept_yet = await store.usage_for(2, 10, at_expiry)  # counts nothing, even before the sweep
    assert (swept_yet.user_in_flight, swept_yet.user_usd_micros_today) == (0, 0)
    assert swept_yet.global_usd_micros_today == 50_000  # user 1's is still live
    assert await store.release_expired(at_expiry) == 1
    assert await store.release_expired(at_expiry) == 0
    expired = await store.get_reservation(short.id)
    assert expired is not None
    assert (expired.status, expired.release_reason) == (ReservationStatus.EXPIRED, "expired")
    assert not await store.release_reservation(short.id, "failed", now=at_expiry)

    # A slow owner that finishes after all: the provider was paid, so the spend is recorded.
    assert await store.commit_reservation(short.id, 0.04, now=at_expiry)
    assert (await store.usage_for(2, 10, at_expiry)).user_usd_micros_today == 40_000


# --- resets ---------------------------------------------------------------------------------


async def test_reset_user_day_forgives_the_user_limits_only(store: Store) -> None:
    lim = limits(user_daily_images=3)
    done = await held(store, ask(images=2, usd=0.02), lim)
    await store.commit_reservation(done.id, 0.02, now=NOW)
    still_open = await held(store, ask(images=1, usd=0.01), lim)  # forgiven too
    await held(store, ask(guild=11, images=3, usd=0.03), lim)  # another server: untouched
    assert (await refused(store, ask(), lim)).used == 3

    reset = await store.reset_user_day(10, 1, reset_by=99, now=NOW)
    assert (reset.guild_id, reset.user_id, reset.day, reset.reset_by) == (
        10,
        1,
        date(2030, 1, 15),
        99,
    )
    assert (reset.images, reset.usd, reset.created_at) == (3, 0.03, NOW)

    usage = await store.usage_for(1, 10, NOW)
    assert (usage.user_images_today, usage.user_usd_micros_today) == (0, 0)
    assert (usage.user_images_month, usage.user_usd_micros_month) == (3, 30_000)
    assert usage.guild_usd_micros_month == 30_000  # the server's budget is not refunded
    assert usage.global_usd_micros_today == 60_000
    assert (await store.usage_for(1, 11, NOW)).user_images_today == 3
    await held(store, ask(images=3), lim)

    rows = {row.reservation_id: row for row in await store.export_usage(NOW.date())}
    forgiven = [rid for rid, row in rows.items() if row.reset_id == reset.id]
    assert forgiven == [done.id, still_open.id]
    tomorrow = await store.reset_user_day(10, 1, reset_by=None, now=MIDNIGHT)
    assert (tomorrow.images, tomorrow.usd) == (0, 0.0)


# --- settings -------------------------------------------------------------------------------


async def test_guild_quota_overrides(store: Store) -> None:
    assert await store.get_guild_quota(10) == QuotaOverrides()
    first = QuotaOverrides(user_daily_images=50, user_daily_usd=1.25, guild_monthly_usd=40.0)
    await store.set_guild_quota(10, first, updated_by=7, now=NOW)
    assert await store.get_guild_quota(10) == first
    second = QuotaOverrides(cooldown_seconds=2.5, max_concurrent=4)
    await store.set_guild_quota(10, second, updated_by=7, now=NOW)
    assert await store.get_guild_quota(10) == second
    assert await store.get_guild_quota(11) == QuotaOverrides()


async def test_role_quotas(store: Store) -> None:
    vip = RoleQuota(role_id=2**60, user_daily_images=100, user_daily_usd=2.0)
    mods = RoleQuota(role_id=5, exempt=True)
    await store.set_role_quota(10, vip, updated_by=1, now=NOW)
    await store.set_role_quota(10, mods, updated_by=1, now=NOW)
    await store.set_role_quota(11, RoleQuota(role_id=6, cooldown_seconds=0), updated_by=1, now=NOW)
    assert await store.role_quotas(10) == [mods, vip]
    faster = dataclasses.replace(vip, cooldown_seconds=1.0, max_concurrent=3)
    await store.set_role_quota(10, faster, updated_by=1, now=NOW)
    assert await store.role_quotas(10) == [mods, faster]
    assert await store.remove_role_quota(10, 5)
    assert not await store.remove_role_quota(10, 5)
    assert await store.role_quotas(10) == [faster]


# --- reporting ------------------------------------------------------------------------------


async def _generation(store: Store, provider: str | None, model: str = "flux-schnell") -> int:
    g = await store.create_generation(NewGeneration(1, 10, 20, "p", None, "1:1", 1, None, model))
    if provider is not None:
        await store.complete_generation(
            g.id,
            provider=provider,
            model_id=f"{provider}-id",
            seeds=[1],
            cost_usd=0.0,
            cost_source="test",
            provider_latency_ms=1.0,
            total_latency_ms=1.0,
        )
    return g.id


async def _charge(
    store: Store,
    user: int,
    guild: int | None,
    images: int,
    usd: float,
    now: datetime,
    generation_id: int | None = None,
    commit: bool = True,
) -> Reservation:
    r = await held(store, ask(user, guild, images, usd, generation_id), NO_LIMITS, now)
    if commit:
        assert await store.commit_reservation(r.id, usd, now=now)
    else:
        assert await store.release_reservation(r.id, "failed", now=now)
    return r


async def test_guild_stats(store: Store) -> None:
    runware, fal = await _generation(store, "runware"), await _generation(store, "fal")
    yesterday = NOW - timedelta(days=1)
    await _charge(store, 1, 10, 4, 0.04, yesterday, runware)
    await _charge(store, 2, 10, 1, 0.10, yesterday, fal)
    await _charge(store, 1, 10, 2, 0.02, NOW, runware)
    await _charge(store, 3, 10, 1, 0.01, NOW)  # not linked to a generation
    await _charge(store, 3, 10, 9, 0.90, NOW, commit=False)  # released: not spend
    await _charge(store, 1, 11, 5, 0.50, NOW)  # another server
    await _charge(store, 1, 10, 5, 0.50, NOW - timedelta(days=5))  # before `since`
    await held(store, ask(4, 10, 1, 0.3), NO_LIMITS)  # in flight: not spend yet

    stats = await store.guild_stats(10, yesterday.date())
    assert stats.days == (
        DayTotal(date(2030, 1, 14), 5, 0.14),
        DayTotal(date(2030, 1, 15), 3, 0.03),
    )
    assert stats.top_users == (
        UserTotal(2, 1, 0.10),
        UserTotal(1, 6, 0.06),
        UserTotal(3, 1, 0.01),
    )
    assert stats.providers == (
        ProviderTotal("fal", 1, 0.10),
        ProviderTotal("runware", 6, 0.06),
        ProviderTotal("unknown", 1, 0.01),
    )
    assert (stats.images, round(stats.usd, 6)) == (8, 0.17)
    assert (await store.guild_stats(10, yesterday.date(), top=1)).top_users == (
        UserTotal(2, 1, 0.10),
    )
    assert (await store.guild_stats(12, yesterday.date())).days == ()


async def test_export_usage(store: Store) -> None:
    gen = await _generation(store, "runware", model="flux-dev")
    old = await _charge(store, 1, 10, 1, 0.01, NOW - timedelta(days=2))
    kept = await _charge(store, 1, 10, 2, 0.02, NOW, gen)
    dm = await _charge(store, 2, None, 1, 0.01, NOW, commit=False)
    other = await _charge(store, 3, 11, 1, 0.01, NOW)

    rows = await store.export_usage(NOW.date())
    assert [r.reservation_id for r in rows] == [kept.id, dm.id, other.id]
    first = rows[0]
    assert (first.provider, first.model, first.generation_id) == ("runware", "flux-dev", gen)
    assert (first.status, first.images, first.est_usd, first.actual_usd) == (
        ReservationStatus.COMMITTED,
        2,
        0.02,
        0.02,
    )
    assert (first.created_at, first.day, first.guild_id, first.user_id) == (NOW, NOW.date(), 10, 1)
    assert (rows[1].guild_id, rows[1].status, rows[1].release_reason) == (
        None,
        ReservationStatus.RELEASED,
        "failed",
    )
    assert [r.reservation_id for r in await store.export_usage(NOW.date(), 10)] == [kept.id]
    assert len(await store.export_usage(date(2030, 1, 1))) == 4
    assert old.id not in {r.reservation_id for r in rows}


async def test_negative_amounts_are_rejected_by_the_schema(store: Store) -> None:
    with pytest.raises(Exception, match=r"(?i)check"):
        await store.reserve(ask(images=-1), NO_LIMITS, now=NOW)
    assert await store.export_usage(NOW.date()) == []
