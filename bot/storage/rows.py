"""Database rows → the plain records of models.py, one mapper per record for both engines.

The engines store the same columns under the same names but hand them back as different Python
types: asyncpg already returns datetimes, dates, booleans and decoded JSON, while SQLite returns
epoch seconds, ISO text, 0/1 integers and JSON text. So each mapper takes the conversions it
needs from its caller (`same` where the driver's value is already right), and the field-for-field
mapping lives here once. `when`, `day` and `month` are only ever given a value that is not NULL;
a nullable column is passed through `None` as is.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any, TypeVar

from bot.storage.models import (
    GenerationRecord,
    GenerationStatus,
    QuotaOverrides,
    Reservation,
    ReservationStatus,
    RoleQuota,
    UsageRow,
    UsageSnapshot,
    micros_to_usd,
    optional_usd,
)

__all__ = [
    "generation_record",
    "guild_quota",
    "reservation",
    "role_quota",
    "same",
    "usage_row",
    "usage_snapshot",
]

T = TypeVar("T")

# A row read by name or position: sqlite3.Row and asyncpg.Record both are.
Row = Any


def same(value: Any) -> Any:
    """The driver's value as it is (asyncpg's conversions)."""
    return value


def _nullable(convert: Callable[[Any], T], value: Any) -> T | None:
    return None if value is None else convert(value)


def generation_record(
    row: Row,
    *,
    when: Callable[[Any], datetime],
    flag: Callable[[Any], bool],
    decode_json: Callable[[Any], Any],
) -> GenerationRecord:
    attempts = row["attempts"]
    return GenerationRecord(
        id=row["id"],
        user_id=row["user_id"],
        guild_id=row["guild_id"],
        channel_id=row["channel_id"],
        interaction_id=row["interaction_id"],
        kind=row["kind"],
        parent_id=row["parent_id"],
        prompt=row["prompt"],
        negative_prompt=row["negative_prompt"],
        aspect=row["aspect"],
        count=row["count"],
        requested_seed=row["requested_seed"],
        model=row["model"],
        private=flag(row["private"]),
        status=GenerationStatus(row["status"]),
        provider=row["provider"],
        model_id=row["model_id"],
        seeds=tuple(decode_json(row["seeds"])),
        cost_usd=row["cost_usd"],
        cost_source=row["cost_source"],
        error=row["error"],
        provider_latency_ms=row["provider_latency_ms"],
        total_latency_ms=row["total_latency_ms"],
        created_at=when(row["created_at"]),
        finished_at=_nullable(when, row["finished_at"]),
        message_id=row["message_id"],
        hedge_cost_usd=row["hedge_cost_usd"],
        attempts=tuple(decode_json(attempts) if attempts else ()),
    )


def reservation(
    row: Row,
    *,
    when: Callable[[Any], datetime],
    day: Callable[[Any], date],
    month: Callable[[Any], date],
) -> Reservation:
    return Reservation(
        id=row["id"],
        user_id=row["user_id"],
        guild_id=row["guild_id"],
        generation_id=row["generation_id"],
        images=row["images"],
        est_usd=micros_to_usd(row["est_usd_micros"]),
        status=ReservationStatus(row["status"]),
        created_at=when(row["created_at"]),
        expires_at=when(row["expires_at"]),
        day=day(row["day"]),
        month=month(row["month"]),
        actual_images=row["actual_images"],
        actual_usd=optional_usd(row["actual_usd_micros"]),
        settled_at=_nullable(when, row["settled_at"]),
        release_reason=row["release_reason"],
        reset_id=row["reset_id"],
    )


def usage_row(row: Row, *, when: Callable[[Any], datetime], day: Callable[[Any], date]) -> UsageRow:
    """A reservation joined with its generation's provider and model (`export_usage`)."""
    return UsageRow(
        reservation_id=row["id"],
        created_at=when(row["created_at"]),
        day=day(row["day"]),
        guild_id=row["guild_id"],
        user_id=row["user_id"],
        generation_id=row["generation_id"],
        provider=row["provider"],
        model=row["model"],
        status=ReservationStatus(row["status"]),
        images=row["images"],
        est_usd=micros_to_usd(row["est_usd_micros"]),
        actual_images=row["actual_images"],
        actual_usd=optional_usd(row["actual_usd_micros"]),
        release_reason=row["release_reason"],
        reset_id=row["reset_id"],
    )


def usage_snapshot(row: Row, now: datetime, *, when: Callable[[Any], datetime]) -> UsageSnapshot:
    """The one row of either engine's `_SNAPSHOT` query, whose columns come in this order."""
    return UsageSnapshot(
        now=now,
        user_images_today=row[0],
        user_usd_micros_today=row[1],
        user_images_month=row[2],
        user_usd_micros_month=row[3],
        user_in_flight=row[4],
        user_last_request_at=_nullable(when, row[5]),
        guild_usd_micros_month=row[6],
        global_usd_micros_today=row[7],
    )


def guild_quota(row: Row) -> QuotaOverrides:
    return QuotaOverrides(
        user_daily_images=row["user_daily_images"],
        user_daily_usd=optional_usd(row["user_daily_usd_micros"]),
        cooldown_seconds=row["cooldown_seconds"],
        max_concurrent=row["max_concurrent"],
        guild_monthly_usd=optional_usd(row["guild_monthly_usd_micros"]),
    )


def role_quota(row: Row, *, flag: Callable[[Any], bool]) -> RoleQuota:
    return RoleQuota(
        role_id=row["role_id"],
        exempt=flag(row["exempt"]),
        user_daily_images=row["user_daily_images"],
        user_daily_usd=optional_usd(row["user_daily_usd_micros"]),
        cooldown_seconds=row["cooldown_seconds"],
        max_concurrent=row["max_concurrent"],
    )
