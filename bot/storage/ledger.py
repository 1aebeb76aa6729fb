"""The ledger's rules, shared by both engines: UTC periods and the check a reservation must pass.

An engine takes its cross-process lock, reads a `UsageSnapshot` (committed rows at their actual
cost plus open reservations at their estimate), asks `first_refusal` whether the request fits,
and inserts the reservation only when it does — all inside one transaction.

Counting rules (the same SQL shape in sqlite.py and postgres.py):
- a row counts when it is `committed` (at actual images and dollars) or `reserved` and not yet
  past `expires_at` (at the reserved images and estimate); released and expired rows count nothing;
- the user's daily images and dollars count the user's rows in the server the request comes from
  (DMs form their own scope) since the last admin reset of that day (`reset_id IS NULL`);
- concurrency and cooldown count the user's requests across the whole bot;
- the server budget counts the server's rows in the UTC month, the global budget every row in the
  UTC day. An admin reset of a user's day never refunds the server or global budgets.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from bot.storage.models import (
    EffectiveLimits,
    LimitName,
    QuotaRefusal,
    UsageSnapshot,
    micros_to_usd,
    usd_to_micros,
)

__all__ = [
    "DEFAULT_RESERVATION_TTL",
    "as_utc",
    "day_of",
    "first_refusal",
    "month_of",
    "next_day_start",
    "next_month_start",
    "releasable",
]

# Longer than any generation may take: a reservation still open after this was left by a crash.
DEFAULT_RESERVATION_TTL = timedelta(minutes=10)


def as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("ledger times must be timezone-aware")
    return moment.astimezone(UTC)


def day_of(moment: datetime) -> date:
    return as_utc(moment).date()


def month_of(moment: datetime) -> date:
    return day_of(moment).replace(day=1)


def next_day_start(moment: datetime) -> datetime:
    """The next UTC midnight: when daily limits reset."""
    day = day_of(moment) + timedelta(days=1)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def next_month_start(moment: datetime) -> datetime:
    """Midnight UTC on the first of the next month: when monthly budgets reset."""
    first = month_of(moment)
    year, month = (first.year + 1, 1) if first.month == 12 else (first.year, first.month + 1)
    return datetime(year, month, 1, tzinfo=UTC)


def first_refusal(
    usage: UsageSnapshot,
    limits: EffectiveLimits,
    *,
    images: int,
    est_usd_micros: int,
    in_guild: bool,
) -> QuotaRefusal | None:
    """The first limit the request would exceed, or None when it fits every one."""
    now = usage.now
    if limits.max_concurrent is not None and usage.user_in_flight + 1 > limits.max_concurrent:
        return QuotaRefusal(
            LimitName.CONCURRENT, usage.user_in_flight, limits.max_concurrent, 1, None
        )
    if limits.cooldown_seconds and usage.user_last_request_at is not None:
        elapsed = (now - usage.user_last_request_at).total_seconds()
        if elapsed < limits.cooldown_seconds:
            ready = usage.user_last_request_at + timedelta(seconds=limits.cooldown_seconds)
            return QuotaRefusal(
                LimitName.COOLDOWN, max(elapsed, 0.0), limits.cooldown_seconds, 0, ready
            )
    day_reset = next_day_start(now)
    if (
        limits.user_daily_images is not None
        and usage.user_images_today + images > limits.user_daily_images
    ):
        return QuotaRefusal(
            LimitName.USER_DAILY_IMAGES,
            usage.user_images_today,
            limits.user_daily_images,
            images,
            day_reset,
        )
    checks = [
        (LimitName.USER_DAILY_USD, usage.user_usd_micros_today, limits.user_daily_usd, day_reset),
        (
            LimitName.GUILD_MONTHLY_USD,
            usage.guild_usd_micros_month,
            limits.guild_monthly_usd if in_guild else None,
            next_month_start(now),
        ),
        (
            LimitName.GLOBAL_DAILY_USD,
            usage.global_usd_micros_today,
            limits.global_daily_usd,
            day_reset,
        ),
    ]
    for name, used_micros, limit_usd, resets_at in checks:
        if limit_usd is not None and used_micros + est_usd_micros > usd_to_micros(limit_usd):
            return QuotaRefusal(
                name,
                micros_to_usd(used_micros),
                limit_usd,
                micros_to_usd(est_usd_micros),
                resets_at,
            )
    return None


def releasable(charged_too: bool) -> str:
    """The reservation statuses a release may change, as SQL: open ones, and with `charged_too`
    committed ones as well (a refund, e.g. for a result Discord would not take)."""
    return "('reserved', 'committed')" if charged_too else "('reserved')"
