"""The quota service: limits from settings, server and role overrides, charging, /quota, /stats."""

from __future__ import annotations

import ast
import asyncio
import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.services.quotas import (
    ENV_NAMES,
    USAGE_CSV_COLUMNS,
    QuotaExceeded,
    QuotaLimits,
    QuotaService,
    discord_timestamp,
    effective_limits,
    write_usage_csv,
)
from bot.storage import Store
from bot.storage.ledger import next_day_start, next_month_start
from bot.storage.models import (
    EffectiveLimits,
    LimitName,
    QuotaOverrides,
    QuotaRefusal,
    Reservation,
    ReservationStatus,
    RoleQuota,
)
from tests.bot.conftest import NOW

MIDNIGHT = datetime(2030, 1, 16, tzinfo=UTC)
GUILD, VIP, MODS = 10, 501, 502


@pytest.fixture
def quotas(store: Store) -> QuotaService:
    return QuotaService(store, QuotaLimits(cooldown_seconds=0), clock=lambda: NOW)


# --- settings -------------------------------------------------------------------------------


def test_defaults_are_the_documented_ones() -> None:
    assert QuotaLimits().model_dump() == {
        "user_daily_images": 25,
        "user_daily_usd": 0.50,
        "cooldown_seconds": 5.0,
        "max_concurrent_per_user": 2,
        "guild_monthly_usd": 20.0,
        "global_daily_usd": 10.0,
    }


def test_from_env_reads_the_issue_names() -> None:
    assert set(ENV_NAMES) == set(QuotaLimits.model_fields)
    limits = QuotaLimits.from_env(
        {
            "CANVASBOT_USER_DAILY_IMAGES": "40",
            "CANVASBOT_USER_DAILY_USD": "1.5",
            "CANVASBOT_COOLDOWN_SECONDS": "2",
            "CANVASBOT_MAX_CONCURRENT_PER_USER": "3",
            "CANVASBOT_GUILD_MONTHLY_USD": "50",
            "CANVASBOT_GLOBAL_DAILY_USD": "",  # empty: the default
            "UNRELATED": "x",
        }
    )
    assert (limits.user_daily_images, limits.user_daily_usd, limits.cooldown_seconds) == (
        40,
        1.5,
        2.0,
    )
    assert (limits.max_concurrent_per_user, limits.guild_monthly_usd) == (3, 50.0)
    assert limits.global_daily_usd == 10.0


@pytest.mark.parametrize(
    "values",
    [{"user_daily_images": -1}, {"global_daily_usd": "lots"}, {"daily_images": 3}],
    ids=["negative", "not-a-number", "unknown-field"],
)
def test_bad_values_are_refused(values: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        QuotaLimits.model_validate(values)


# --- effective limits -----------------------------------------------------------------------


def test_defaults_apply_without_overrides() -> None:
    assert effective_limits(QuotaLimits(), QuotaOverrides(), ()) == EffectiveLimits(
        25, 0.5, 5.0, 2, 20.0, 10.0
    )


def test_server_overrides_then_the_most_generous_role() -> None:
    guild = QuotaOverrides(user_daily_images=10, cooldown_seconds=8, guild_monthly_usd=5)
    roles = [
        RoleQuota(1, user_daily_images=30, cooldown_seconds=3),
        RoleQuota(2, user_daily_images=50, cooldown_seconds=6),
        RoleQuota(3, max_concurrent=1),  # the only role setting it: it applies, even lower
    ]
    assert effective_limits(QuotaLimits(), guild, roles) == EffectiveLimits(
        user_daily_images=50,
        user_daily_usd=0.5,
        cooldown_seconds=3,
        max_concurrent=1,
        guild_monthly_usd=5,
        global_daily_usd=10.0,
    )


def test_an_exempt_role_lifts_user_limits_only() -> None:
    guild = QuotaOverrides(user_daily_images=10, guild_monthly_usd=5)
    lim = effective_limits(
        QuotaLimits(), guild, [RoleQuota(1, user_daily_images=3), RoleQuota(2, exempt=True)]
    )
    assert lim == EffectiveLimits(None, None, None, None, 5, 10.0, exempt=True)


@pytest.mark.parametrize(
    ("moment", "day", "month"),
    [
        (NOW, MIDNIGHT, datetime(2030, 2, 1, tzinfo=UTC)),
        (
            datetime(2030, 12, 31, 23, 59, 59, tzinfo=UTC),
            datetime(2031, 1, 1, tzinfo=UTC),
            datetime(2031, 1, 1, tzinfo=UTC),
        ),
        (
            datetime(2030, 3, 1, tzinfo=UTC),  # exactly at a reset: the next one
            datetime(2030, 3, 2, tzinfo=UTC),
            datetime(2030, 4, 1, tzinfo=UTC),
        ),
        (
            datetime(2030, 2, 28, 23, 0, tzinfo=timezone(timedelta(hours=-5))),  # 1 March, UTC
            datetime(2030, 3, 2, tzinfo=UTC),
            datetime(2030, 4, 1, tzinfo=UTC),
        ),
    ],
)
def test_resets_are_utc_midnights(moment: datetime, day: datetime, month: datetime) -> None:
    assert (next_day_start(moment), next_month_start(moment)) == (day, month)


def test_refusal_message_names_the_limit_and_the_reset() -> None:
    error = QuotaExceeded(QuotaRefusal(LimitName.USER_DAILY_IMAGES, 24, 25, 4, MIDNIGHT))
    assert str(error) == (
        "You have used 24 of your 25 images today (this asks for 4)."
        f" Resets <t:{int(MIDNIGHT.timestamp())}:R>."
    )
    assert (error.limit, error.used, error.allowed, error.resets_at) == (
        LimitName.USER_DAILY_IMAGES,
        24,
        25,
        MIDNIGHT,
    )
    money = QuotaExceeded(QuotaRefusal(LimitName.GUILD_MONTHLY_USD, 19.99, 20, 0.004, MIDNIGHT))
    assert "$19.99 of its $20.00 monthly budget (this costs about $0.0040)" in str(money)
    busy = QuotaExceeded(QuotaRefusal(LimitName.CONCURRENT, 2, 2, 1, None))
    assert str(busy) == "You already have 2 of 2 generations running; try again when one finishes."
    for name in LimitName:
        assert str(QuotaExceeded(QuotaRefusal(name, 1, 1, 1, MIDNIGHT)))


def test_discord_timestamp() -> None:
    assert discord_timestamp(MIDNIGHT) == "<t:1894752000:R>"
    assert discord_timestamp(MIDNIGHT, "F") == "<t:1894752000:F>"


# --- charging -------------------------------------------------------------------------------


async def test_reserve_refuses_before_the_provider_with_the_limit(quotas: QuotaService) -> None:
    await quotas.reserve(1, GUILD, [], images=24, est_usd=0.24)
    with pytest.raises(QuotaExceeded) as caught:
        await quotas.reserve(1, GUILD, [], images=2, est_usd=0.02)
    assert (caught.value.limit, caught.value.used, caught.value.allowed) == (
        LimitName.USER_DAILY_IMAGES,
        24,
        25,
    )
    assert caught.value.resets_at == MIDNIGHT
    assert len(await quotas.export(NOW.date())) == 1


async def test_the_default_cooldown_applies(store: Store) -> None:
    quotas = QuotaService(store, clock=lambda: NOW)
    await quotas.reserve(1, GUILD, [], 1, 0.01)
    with pytest.raises(QuotaExceeded) as caught:
        await quotas.reserve(1, GUILD, [], 1, 0.01)
    assert (caught.value.limit, caught.value.resets_at) == (
        LimitName.COOLDOWN,
        NOW + timedelta(seconds=5),
    )
    await quotas.reserve(1, GUILD, [], 1, 0.01, now=NOW + timedelta(seconds=5))


async def test_server_and_role_overrides_apply(quotas: QuotaService) -> None:
    await quotas.update_guild_overrides(GUILD, updated_by=9, user_daily_images=2)
    await quotas.set_role_override(GUILD, RoleQuota(VIP, user_daily_images=5), updated_by=9)
    await quotas.set_role_override(11, RoleQuota(MODS, exempt=True), updated_by=9)

    await quotas.reserve(1, GUILD, [MODS], 2, 0.02)  # MODS is another server's role
    with pytest.raises(QuotaExceeded):
        await quotas.reserve(1, GUILD, [MODS], 1, 0.01)
    await quotas.reserve(2, GUILD, [VIP, 999], 5, 0.05)
    with pytest.raises(QuotaExceeded) as caught:
        await quotas.reserve(2, GUILD, [VIP], 1, 0.01)
    assert (caught.value.used, caught.value.allowed) == (5, 5)
    await quotas.reserve(3, None, [VIP], 3, 0.03)  # DMs: the bot's defaults


async def test_an_exempt_role_still_meets_the_server_budget(quotas: QuotaService) -> None:
    await quotas.update_guild_overrides(GUILD, updated_by=9, guild_monthly_usd=1.0)
    await quotas.set_role_override(GUILD, RoleQuota(MODS, exempt=True), updated_by=9)
    for _ in range(3):  # past the images, dollars and concurrency a user gets
        await quotas.reserve(1, GUILD, [MODS], 10, 0.30)
    with pytest.raises(QuotaExceeded) as caught:
        await quotas.reserve(1, GUILD, [MODS], 10, 0.30)
    assert caught.value.limit == LimitName.GUILD_MONTHLY_USD
    assert caught.value.resets_at == datetime(2030, 2, 1, tzinfo=UTC)


async def test_commit_and_release(quotas: QuotaService) -> None:
    a = await quotas.reserve(1, GUILD, [], 4, 0.20)
    assert await quotas.commit(a.id, 0.05, images=3)
    assert not await quotas.commit(a.id, 0.05)
    b = await quotas.reserve(1, GUILD, [], 1, 0.10)
    assert await quotas.release(b.id, "blocked")
    assert not await quotas.release(b.id, "blocked")
    usage = await quotas.usage(1, GUILD)
    assert (usage.images_today.used, usage.usd_today.used, usage.in_flight) == (3, 0.05, 0)


async def _status(store: Store, reservation: Reservation) -> tuple[str, str | None]:
    current = await store.get_reservation(reservation.id)
    assert current is not None
    return current.status, current.release_reason


async def test_hold_commits_or_releases(quotas: QuotaService, store: Store) -> None:
    async with quotas.hold(1, GUILD, [], 2, 0.02) as hold:
        assert await hold.commit(0.015)
    assert await _status(store, hold.reservation) == (ReservationStatus.COMMITTED, None)

    with pytest.raises(RuntimeError):
        async with quotas.hold(1, GUILD, [], 2, 0.02) as failing:
            raise RuntimeError("provider down")
    assert await _status(store, failing.reservation) == (ReservationStatus.RELEASED, "failed")

    async with quotas.hold(1, GUILD, [], 2, 0.02) as blocked:
        assert await blocked.release("blocked")
    assert await _status(store, blocked.reservation) == (ReservationStatus.RELEASED, "blocked")

    async with quotas.hold(1, GUILD, [], 2, 0.02) as unused:
        pass
    assert await _status(store, unused.reservation) == (ReservationStatus.RELEASED, "unused")


async def test_hold_releases_when_cancelled(quotas: QuotaService, store: Store) -> None:
    inside = asyncio.Event()
    holds = []

    async def generate() -> None:
        async with quotas.hold(1, GUILD, [], 2, 0.02) as hold:
            holds.append(hold)
            inside.set()
            await asyncio.Event().wait()  # the provider call, cancelled by the user

    task = asyncio.create_task(generate())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await _status(store, holds[0].reservation) == (ReservationStatus.RELEASED, "cancelled")


async def test_refused_hold_runs_nothing(quotas: QuotaService) -> None:
    ran = False
    with pytest.raises(QuotaExceeded):
        async with quotas.hold(1, GUILD, [], 26, 0.26):
            ran = True
    assert not ran


async def test_negative_requests_are_a_programming_error(quotas: QuotaService) -> None:
    with pytest.raises(ValueError, match="negative"):
        await quotas.reserve(1, GUILD, [], 1, -0.01)


# --- reading and administration -------------------------------------------------------------


async def test_usage_for_quota(quotas: QuotaService) -> None:
    await quotas.update_guild_overrides(GUILD, updated_by=9, guild_monthly_usd=2.0)
    done = await quotas.reserve(1, GUILD, [], 3, 0.03)
    await quotas.commit(done.id, 0.03)
    await quotas.reserve(1, GUILD, [], 2, 0.02)
    await quotas.reserve(2, GUILD, [], 1, 0.40)
    yesterday = await quotas.reserve(1, GUILD, [], 5, 0.05, now=NOW - timedelta(days=1))
    await quotas.commit(yesterday.id, 0.05)

    usage = await quotas.usage(1, GUILD, [])
    assert (usage.images_today.used, usage.images_today.limit, usage.images_today.left) == (
        5,
        25,
        20,
    )
    assert (usage.usd_today.used, usage.usd_today.left) == (0.05, 0.45)
    assert (usage.images_month, round(usage.usd_month, 6), usage.in_flight) == (10, 0.1, 1)
    assert usage.guild_month is not None
    assert (round(usage.guild_month.used, 6), usage.guild_month.limit) == (0.5, 2.0)
    assert usage.global_today.used == 0.45
    assert (usage.day_resets_at, usage.month_resets_at) == (
        MIDNIGHT,
        datetime(2030, 2, 1, tzinfo=UTC),
    )
    assert usage.images_today.resets_at == MIDNIGHT
    assert usage.cooldown_until is None

    dm = await quotas.usage(1, None)
    assert (dm.guild_month, dm.images_today.used, dm.in_flight) == (None, 0, 1)


async def test_usage_shows_the_cooldown_and_exemption(store: Store) -> None:
    quotas = QuotaService(store, clock=lambda: NOW)
    await quotas.set_role_override(GUILD, RoleQuota(MODS, exempt=True), updated_by=9)
    await quotas.reserve(1, GUILD, [], 1, 0.01)
    assert (await quotas.usage(1, GUILD)).cooldown_until == NOW + timedelta(seconds=5)
    exempt = await quotas.usage(1, GUILD, [MODS])
    assert exempt.limits.exempt
    assert (exempt.images_today.limit, exempt.images_today.left, exempt.cooldown_until) == (
        None,
        None,
        None,
    )


async def test_stats_cover_the_last_days(quotas: QuotaService) -> None:
    for days_ago in (0, 29, 30):
        r = await quotas.reserve(1, GUILD, [], 1, 0.01, now=NOW - timedelta(days=days_ago))
        await quotas.commit(r.id, 0.01)
    stats = await quotas.stats(GUILD)
    assert stats.since == date(2029, 12, 17)
    assert [d.day for d in stats.days] == [date(2029, 12, 17), date(2030, 1, 15)]
    assert (await quotas.stats(GUILD, since=date(2029, 12, 1))).images == 3


async def test_guild_overrides_change_field_by_field(quotas: QuotaService) -> None:
    assert await quotas.guild_overrides(GUILD) == QuotaOverrides()
    await quotas.update_guild_overrides(GUILD, updated_by=9, user_daily_images=50)
    await quotas.update_guild_overrides(GUILD, updated_by=9, user_daily_usd=2.0)
    assert await quotas.guild_overrides(GUILD) == QuotaOverrides(
        user_daily_images=50, user_daily_usd=2.0
    )
    await quotas.update_guild_overrides(GUILD, updated_by=9, user_daily_images=None)
    assert await quotas.guild_overrides(GUILD) == QuotaOverrides(user_daily_usd=2.0)
    with pytest.raises(ValueError, match="must not be negative"):
        await quotas.update_guild_overrides(GUILD, updated_by=9, cooldown_seconds=-1)
    with pytest.raises(TypeError):
        await quotas.update_guild_overrides(GUILD, updated_by=9, global_daily_usd=99)
    await quotas.clear_guild_overrides(GUILD, updated_by=9)
    assert await quotas.guild_overrides(GUILD) == QuotaOverrides()


async def test_role_overrides(quotas: QuotaService) -> None:
    await quotas.set_role_override(GUILD, RoleQuota(VIP, user_daily_images=50), updated_by=9)
    assert await quotas.role_overrides(GUILD) == [RoleQuota(VIP, user_daily_images=50)]
    with pytest.raises(ValueError, match="must not be negative"):
        await quotas.set_role_override(GUILD, RoleQuota(VIP, max_concurrent=-1), updated_by=9)
    assert await quotas.remove_role_override(GUILD, VIP)
    assert await quotas.role_overrides(GUILD) == []


async def test_export_writes_csv(quotas: QuotaService) -> None:
    done = await quotas.reserve(1, GUILD, [], 2, 0.02)
    await quotas.commit(done.id, 0.015)
    await quotas.reserve(2, None, [], 1, 0.01)
    out = io.StringIO()
    assert write_usage_csv(await quotas.export(NOW.date()), out) == 2
    header, first, second = list(csv.reader(io.StringIO(out.getvalue())))
    assert tuple(header) == USAGE_CSV_COLUMNS
    row = dict(zip(header, first, strict=True))
    assert (row["reservation_id"], row["created_at"], row["day"]) == (
        str(done.id),
        "2030-01-15T12:00:00+00:00",
        "2030-01-15",
    )
    assert (row["status"], row["images"], row["est_usd"], row["actual_usd"]) == (
        "committed",
        "2",
        "0.02",
        "0.015",
    )
    assert (row["provider"], row["release_reason"]) == ("", "")
    assert dict(zip(header, second, strict=True))["guild_id"] == ""


async def test_reset_user_day(quotas: QuotaService) -> None:
    await quotas.reserve(1, GUILD, [], 25, 0.25)
    with pytest.raises(QuotaExceeded):
        await quotas.reserve(1, GUILD, [], 1, 0.01)
    reset = await quotas.reset_user_day(GUILD, 1, reset_by=9)
    assert (reset.images, reset.usd, reset.reset_by, reset.created_at) == (25, 0.25, 9, NOW)
    await quotas.reserve(1, GUILD, [], 1, 0.01)


async def test_release_stale_expires_what_a_crash_left(store: Store) -> None:
    quotas = QuotaService(
        store, QuotaLimits(cooldown_seconds=0), reservation_ttl=timedelta(minutes=2)
    )
    left = await quotas.reserve(1, GUILD, [], 1, 0.01, now=NOW)
    assert left.expires_at == NOW + timedelta(minutes=2)
    assert await quotas.release_stale(now=NOW + timedelta(minutes=1)) == 0
    assert await quotas.release_stale(now=NOW + timedelta(minutes=2)) == 1
    assert await _status(store, left) == (ReservationStatus.EXPIRED, "expired")


# --- layering -------------------------------------------------------------------------------


def _modules() -> Iterator[Path]:
    root = Path(__file__).resolve().parents[3] / "bot"
    yield from (root / "services").glob("*.py")
    yield from (root / "storage").glob("*.py")


@pytest.mark.parametrize("path", list(_modules()), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_services_and_storage_never_import_discord_or_cogs(path: Path) -> None:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        for name in names:
            assert name.split(".")[0] != "discord", f"{path.name} imports {name}"
            assert not name.startswith(("bot.cogs", "bot.ui")), f"{path.name} imports {name}"
            if path.parent.name == "storage":
                assert not name.startswith("bot.services"), f"{path.name} imports {name}"


async def test_server_overrides_are_reused_and_an_admin_change_applies_at_once(
    store: Store,
) -> None:
    quotas = QuotaService(store, QuotaLimits(user_daily_images=5))
    reads: list[int] = []
    original = store.get_guild_quota

    async def counting(guild_id: int) -> QuotaOverrides:
        reads.append(guild_id)
        return await original(guild_id)

    store.get_guild_quota = counting  # type: ignore[method-assign]
    assert (await quotas.limits_for(7, ())).user_daily_images == 5
    assert (await quotas.limits_for(7, ())).user_daily_images == 5
    assert reads == [7]  # the second request did not ask the store
    await quotas.update_guild_overrides(7, updated_by=1, user_daily_images=9)
    assert (await quotas.limits_for(7, ())).user_daily_images == 9
