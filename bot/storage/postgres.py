"""PostgreSQL store (asyncpg, a connection pool): for several processes or hosts sharing one ledger.

Install with the extra: `pip install 'canvasbot[postgres]'`; select it with
CANVASBOT_DATABASE_URL=postgresql://user@host/db. Query parameters asyncpg does not know become
server settings, so `?search_path=canvasbot` keeps the tables in their own schema.

Concurrency, and why one advisory lock:
- Every reservation is checked against the bot-wide daily budget, so any two reservations conflict
  and a correct scheme must order them all at some point. `reserve` therefore takes one
  transaction-scoped advisory lock (`pg_advisory_xact_lock`, keyed by the schema), then reads the
  totals, then inserts. Under READ COMMITTED each statement takes a fresh snapshot, and the lock
  is only granted after the previous holder's commit is visible, so the read sees every earlier
  reservation — from this process or any other — and no other reservation can slip in before the
  insert. Finer per-user or per-guild locks would buy no concurrency while the global budget
  exists, and a counters table with row locks would add a second copy of the totals to keep in
  step with commits, releases, expiry and resets. SERIALIZABLE would also be correct, but near a
  limit nearly every concurrent reservation would abort and retry.
- The lock is held for one short read and one insert (~1 ms), well above the rate a Discord bot
  sees. Commit, release, expiry and resets need no lock: they are single conditional UPDATEs
  (`WHERE status = 'reserved'`), so a row is settled once however many processes race on it, and
  they only ever lower what an in-progress check would count, except a commit above its estimate,
  which is recorded as spent (the provider was paid).
- No per-process lock is involved: several processes (or hosts) share the ledger safely.
- Migrations run in one transaction under another advisory lock, so simultaneous starts apply
  each migration exactly once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg

from bot.storage.base import Store, StoreError, guild_safety_columns
from bot.storage.ledger import (
    DEFAULT_RESERVATION_TTL,
    as_utc,
    day_of,
    first_refusal,
    month_of,
    releasable,
)
from bot.storage.migrations import load_migrations
from bot.storage.models import (
    DayTotal,
    EffectiveLimits,
    GenerationRecord,
    GenerationStatus,
    GuildSafety,
    GuildStats,
    NewGeneration,
    ProviderStats,
    ProviderTotal,
    QuotaOverrides,
    QuotaRefusal,
    QuotaReset,
    Reservation,
    ReservationRequest,
    RoleQuota,
    UsageRow,
    UsageSnapshot,
    UserTotal,
    micros_to_usd,
    optional_micros,
    usd_to_micros,
)
from bot.storage.rows import (
    generation_record,
    guild_quota,
    reservation,
    role_quota,
    same,
    usage_row,
    usage_snapshot,
)
from bot.storage.stats import GenerationFacts, provider_stats

__all__ = ["PostgresStore"]

# Advisory lock keys, scoped to the schema so separate deployments in one database don't contend.
_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended($1 || COALESCE(current_schema(), ''), 0))"
_MIGRATION_LOCK = "canvasbot.migrations:"
_LEDGER_LOCK = "canvasbot.ledger:"

_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


class PostgresStore(Store):
    engine = "postgres"

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10) -> None:
        self.url = url
        self.min_size = min_size
        self.max_size = max_size
        self._pool: asyncpg.Pool | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreError("the store is not connected")
        return self._pool

    def _where(self) -> str:
        """The URL without credentials, for error messages."""
        return self.url.split("@", 1)[-1].split("?", 1)[0]

    async def connect(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self.url,
                min_size=self.min_size,
                max_size=self.max_size,
                init=_init_connection,
                timeout=10,
            )
            await self._migrate()
        except _ERRORS as exc:
            await self.close()
            where = self._where()
            raise StoreError(f"could not open the PostgreSQL database at {where}: {exc}") from exc

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def _migrate(self) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(_LOCK, _MIGRATION_LOCK)
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            applied = {r[0] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            for migration in load_migrations(self.engine):
                if migration.version in applied:
                    continue
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    migration.version,
                    migration.name,
                )

    async def applied_migrations(self) -> list[int]:
        rows = await self.pool.fetch("SELECT version FROM schema_migrations ORDER BY version")
        return [row[0] for row in rows]

    # --- generations ----------------------------------------------------------------------------

    async def create_generation(self, new: NewGeneration) -> GenerationRecord:
        row = await self.pool.fetchrow(
            "INSERT INTO generations (user_id, guild_id, channel_id, interaction_id, message_id,"
            " kind, parent_id, prompt, negative_prompt, aspect, count, requested_seed, model,"
            " private, status, created_at)"
            " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,now()) RETURNING *",
            new.user_id,
            new.guild_id,
            new.channel_id,
            new.interaction_id,
            new.message_id,
            new.kind,
            new.parent_id,
            new.prompt,
            new.negative_prompt,
            new.aspect,
            new.count,
            new.requested_seed,
            new.model,
            new.private,
            GenerationStatus.PENDING.value,
        )
        assert row is not None
        return _record(row)

    async def complete_generation(
        self,
        generation_id: int,
        *,
        provider: str,
        model_id: str,
        seeds: Sequence[int | None],
        cost_usd: float,
        cost_source: str,
        provider_latency_ms: float,
        total_latency_ms: float,
        hedge_cost_usd: float = 0.0,
        attempts: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        await self.pool.execute(
            "UPDATE generations SET status=$1, provider=$2, model_id=$3, seeds=$4, cost_usd=$5,"
            " cost_source=$6, provider_latency_ms=$7, total_latency_ms=$8, finished_at=now(),"
            " hedge_cost_usd=$9, attempts=$10 WHERE id=$11",
            GenerationStatus.SUCCEEDED.value,
            provider,
            model_id,
            list(seeds),
            cost_usd,
            cost_source,
            provider_latency_ms,
            total_latency_ms,
            hedge_cost_usd,
            [dict(attempt) for attempt in attempts],
            generation_id,
        )

    async def fail_generation(
        self,
        generation_id: int,
        *,
        status: GenerationStatus,
        error: str,
        provider: str | None = None,
        total_latency_ms: float | None = None,
        attempts: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        await self.pool.execute(
            "UPDATE generations SET status=$1, error=$2, provider=COALESCE($3, provider),"
            " total_latency_ms=$4, finished_at=now(), attempts=COALESCE($5, attempts)"
            " WHERE id=$6",
            GenerationStatus(status).value,
            error,
            provider,
            total_latency_ms,
            None if attempts is None else [dict(attempt) for attempt in attempts],
            generation_id,
        )

    async def set_message(self, generation_id: int, message_id: int) -> None:
        await self.pool.execute(
            "UPDATE generations SET message_id=$1 WHERE id=$2", message_id, generation_id
        )

    async def get_generation(self, generation_id: int) -> GenerationRecord | None:
        return await self._one("SELECT * FROM generations WHERE id=$1", generation_id)

    async def latest_generation(self, user_id: int) -> GenerationRecord | None:
        return await self._one(
            "SELECT * FROM generations WHERE user_id=$1 AND status=$2 ORDER BY id DESC LIMIT 1",
            user_id,
            GenerationStatus.SUCCEEDED.value,
        )

    async def generation_by_message(self, message_id: int) -> GenerationRecord | None:
        # A generation knows its message from the start; it is a result once it succeeded.
        return await self._one(
            "SELECT * FROM generations WHERE message_id=$1 AND status=$2 ORDER BY id DESC LIMIT 1",
            message_id,
            GenerationStatus.SUCCEEDED.value,
        )

    async def recent_generations(
        self, user_id: int, *, limit: int, offset: int = 0
    ) -> list[GenerationRecord]:
        rows = await self.pool.fetch(
            "SELECT * FROM generations WHERE user_id=$1 ORDER BY id DESC LIMIT $2 OFFSET $3",
            user_id,
            limit,
            offset,
        )
        return [_record(row) for row in rows]

    async def pending_generations(self, started_before: datetime) -> list[GenerationRecord]:
        rows = await self.pool.fetch(
            "SELECT * FROM generations WHERE status=$1 AND created_at < $2 ORDER BY id",
            GenerationStatus.PENDING.value,
            as_utc(started_before),
        )
        return [_record(row) for row in rows]

    async def interrupt_generation(self, generation_id: int, *, now: datetime) -> bool:
        row = await self.pool.fetchrow(
            "UPDATE generations SET status=$1, error='interrupted by a restart', finished_at=$2"
            " WHERE id=$3 AND status=$4 RETURNING id",
            GenerationStatus.INTERRUPTED.value,
            as_utc(now),
            generation_id,
            GenerationStatus.PENDING.value,
        )
        return row is not None

    async def release_reservations_for(
        self, generation_id: int, reason: str, *, now: datetime, charged_too: bool = False
    ) -> int:
        rows = await self.pool.fetch(
            "UPDATE quota_reservations SET status='released', release_reason=$1, settled_at=$2"
            f" WHERE generation_id=$3 AND status IN {releasable(charged_too)} RETURNING id",
            reason,
            as_utc(now),
            generation_id,
        )
        return len(rows)

    async def _one(self, sql: str, *args: Any) -> GenerationRecord | None:
        row = await self.pool.fetchrow(sql, *args)
        return _record(row) if row is not None else None

    async def provider_stats(self, since: datetime) -> list[ProviderStats]:
        rows = await self.pool.fetch(
            "SELECT provider, status, attempts, provider_latency_ms, cost_usd FROM generations"
            " WHERE created_at >= $1",
            as_utc(since),
        )
        return provider_stats(
            GenerationFacts(
                provider=row["provider"],
                status=row["status"],
                attempts=row["attempts"] or [],
                provider_latency_ms=row["provider_latency_ms"],
                cost_usd=row["cost_usd"],
            )
            for row in rows
        )

    # --- the quota ledger -----------------------------------------------------------------------

    async def reserve(
        self,
        request: ReservationRequest,
        limits: EffectiveLimits,
        *,
        now: datetime,
        ttl: timedelta = DEFAULT_RESERVATION_TTL,
    ) -> Reservation | QuotaRefusal:
        now = as_utc(now)
        est_micros = usd_to_micros(request.est_usd)
        async with self.pool.acquire() as conn, conn.transaction():
            # The lock comes first, in its own statement: the totals must be read after it.
            await conn.execute(_LOCK, _LEDGER_LOCK)
            usage = await _snapshot(conn, request.user_id, request.guild_id, now)
            refusal = first_refusal(
                usage,
                limits,
                images=request.images,
                est_usd_micros=est_micros,
                in_guild=request.guild_id is not None,
            )
            if refusal is not None:
                return refusal
            row = await conn.fetchrow(
                "INSERT INTO quota_reservations (user_id, guild_id, generation_id, images,"
                " est_usd_micros, status, created_at, expires_at, day, month)"
                " VALUES ($1,$2,$3,$4,$5,'reserved',$6,$7,$8,$9) RETURNING *",
                request.user_id,
                request.guild_id,
                request.generation_id,
                request.images,
                est_micros,
                now,
                now + ttl,
                day_of(now),
                month_of(now),
            )
        assert row is not None
        return _reservation(row)

    async def commit_reservation(
        self,
        reservation_id: int,
        actual_usd: float,
        *,
        actual_images: int | None = None,
        now: datetime,
    ) -> bool:
        row = await self.pool.fetchrow(
            "UPDATE quota_reservations SET status='committed', actual_usd_micros=$1,"
            " actual_images=COALESCE($2, images), settled_at=$3"
            " WHERE id=$4 AND status IN ('reserved', 'expired') RETURNING id",
            usd_to_micros(actual_usd),
            actual_images,
            as_utc(now),
            reservation_id,
        )
        return row is not None

    async def release_reservation(self, reservation_id: int, reason: str, *, now: datetime) -> bool:
        row = await self.pool.fetchrow(
            "UPDATE quota_reservations SET status='released', release_reason=$1, settled_at=$2"
            " WHERE id=$3 AND status='reserved' RETURNING id",
            reason,
            as_utc(now),
            reservation_id,
        )
        return row is not None

    async def release_expired(self, now: datetime) -> int:
        rows = await self.pool.fetch(
            "UPDATE quota_reservations SET status='expired', release_reason='expired',"
            " settled_at=$1 WHERE status='reserved' AND expires_at <= $1 RETURNING id",
            as_utc(now),
        )
        return len(rows)

    async def get_reservation(self, reservation_id: int) -> Reservation | None:
        row = await self.pool.fetchrow(
            "SELECT * FROM quota_reservations WHERE id=$1", reservation_id
        )
        return _reservation(row) if row is not None else None

    async def usage_for(self, user_id: int, guild_id: int | None, now: datetime) -> UsageSnapshot:
        async with self.pool.acquire() as conn:
            return await _snapshot(conn, user_id, guild_id, as_utc(now))

    async def guild_stats(self, guild_id: int, since: date, *, top: int = 10) -> GuildStats:
        where = "r.guild_id = $1 AND r.day >= $2 AND r.status = 'committed'"
        totals = "SUM(r.actual_images)::bigint, SUM(r.actual_usd_micros)::bigint"
        async with self.pool.acquire() as conn:
            days = await conn.fetch(
                f"SELECT r.day, {totals} FROM quota_reservations r WHERE {where}"
                " GROUP BY r.day ORDER BY r.day",
                guild_id,
                since,
            )
            users = await conn.fetch(
                f"SELECT r.user_id, {totals} FROM quota_reservations r WHERE {where}"
                " GROUP BY r.user_id ORDER BY 3 DESC, 2 DESC, r.user_id LIMIT $3",
                guild_id,
                since,
                top,
            )
            providers = await conn.fetch(
                f"SELECT COALESCE(g.provider, 'unknown'), {totals} FROM quota_reservations r"
                f" LEFT JOIN generations g ON g.id = r.generation_id WHERE {where}"
                " GROUP BY 1 ORDER BY 3 DESC, 2 DESC, 1",
                guild_id,
                since,
            )
        return GuildStats(
            guild_id=guild_id,
            since=since,
            days=tuple(DayTotal(d, n, micros_to_usd(m)) for d, n, m in days),
            top_users=tuple(UserTotal(u, n, micros_to_usd(m)) for u, n, m in users),
            providers=tuple(ProviderTotal(p, n, micros_to_usd(m)) for p, n, m in providers),
        )

    async def export_usage(self, since: date, guild_id: int | None = None) -> list[UsageRow]:
        rows = await self.pool.fetch(
            "SELECT r.*, g.provider AS provider, g.model AS model FROM quota_reservations r"
            " LEFT JOIN generations g ON g.id = r.generation_id"
            " WHERE r.day >= $1 AND ($2::bigint IS NULL OR r.guild_id = $2) ORDER BY r.id",
            since,
            guild_id,
        )
        return [_usage_row(row) for row in rows]

    async def get_guild_quota(self, guild_id: int) -> QuotaOverrides:
        row = await self.pool.fetchrow("SELECT * FROM guild_quotas WHERE guild_id=$1", guild_id)
        return QuotaOverrides() if row is None else guild_quota(row)

    async def set_guild_quota(
        self, guild_id: int, overrides: QuotaOverrides, *, updated_by: int | None, now: datetime
    ) -> None:
        await self.pool.execute(
            "INSERT INTO guild_quotas (guild_id, user_daily_images, user_daily_usd_micros,"
            " cooldown_seconds, max_concurrent, guild_monthly_usd_micros, updated_at, updated_by)"
            " VALUES ($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT (guild_id) DO UPDATE SET"
            " user_daily_images=excluded.user_daily_images,"
            " user_daily_usd_micros=excluded.user_daily_usd_micros,"
            " cooldown_seconds=excluded.cooldown_seconds,"
            " max_concurrent=excluded.max_concurrent,"
            " guild_monthly_usd_micros=excluded.guild_monthly_usd_micros,"
            " updated_at=excluded.updated_at, updated_by=excluded.updated_by",
            guild_id,
            overrides.user_daily_images,
            optional_micros(overrides.user_daily_usd),
            overrides.cooldown_seconds,
            overrides.max_concurrent,
            optional_micros(overrides.guild_monthly_usd),
            as_utc(now),
            updated_by,
        )

    async def role_quotas(self, guild_id: int) -> list[RoleQuota]:
        rows = await self.pool.fetch(
            "SELECT * FROM role_quotas WHERE guild_id=$1 ORDER BY role_id", guild_id
        )
        return [role_quota(row, flag=same) for row in rows]

    async def set_role_quota(
        self, guild_id: int, quota: RoleQuota, *, updated_by: int | None, now: datetime
    ) -> None:
        await self.pool.execute(
            "INSERT INTO role_quotas (guild_id, role_id, exempt, user_daily_images,"
            " user_daily_usd_micros, cooldown_seconds, max_concurrent, updated_at, updated_by)"
            " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) ON CONFLICT (guild_id, role_id) DO UPDATE SET"
            " exempt=excluded.exempt, user_daily_images=excluded.user_daily_images,"
            " user_daily_usd_micros=excluded.user_daily_usd_micros,"
            " cooldown_seconds=excluded.cooldown_seconds, max_concurrent=excluded.max_concurrent,"
            " updated_at=excluded.updated_at, updated_by=excluded.updated_by",
            guild_id,
            quota.role_id,
            quota.exempt,
            quota.user_daily_images,
            optional_micros(quota.user_daily_usd),
            quota.cooldown_seconds,
            quota.max_concurrent,
            as_utc(now),
            updated_by,
        )

    async def remove_role_quota(self, guild_id: int, role_id: int) -> bool:
        row = await self.pool.fetchrow(
            "DELETE FROM role_quotas WHERE guild_id=$1 AND role_id=$2 RETURNING role_id",
            guild_id,
            role_id,
        )
        return row is not None

    async def reset_user_day(
        self, guild_id: int | None, user_id: int, *, reset_by: int | None, now: datetime
    ) -> QuotaReset:
        now = as_utc(now)
        day = day_of(now)
        async with self.pool.acquire() as conn, conn.transaction():
            reset_id = await conn.fetchval(
                "INSERT INTO quota_resets (guild_id, user_id, day, reset_by, created_at, images,"
                " usd_micros) VALUES ($1,$2,$3,$4,$5,0,0) RETURNING id",
                guild_id,
                user_id,
                day,
                reset_by,
                now,
            )
            forgiven = await conn.fetch(
                "UPDATE quota_reservations SET reset_id = $1 WHERE user_id = $2"
                " AND guild_id IS NOT DISTINCT FROM $3 AND day = $4 AND reset_id IS NULL"
                f" AND {_LIVE} RETURNING {_IMAGES}, {_MICROS}",
                reset_id,
                user_id,
                guild_id,
                day,
                now,
            )
            images, micros = sum(r[0] for r in forgiven), sum(r[1] for r in forgiven)
            await conn.execute(
                "UPDATE quota_resets SET images=$1, usd_micros=$2 WHERE id=$3",
                images,
                micros,
                reset_id,
            )
        return QuotaReset(
            id=reset_id,
            guild_id=guild_id,
            user_id=user_id,
            day=day,
            reset_by=reset_by,
            created_at=now,
            images=images,
            usd=micros_to_usd(micros),
        )

    # --- content safety -------------------------------------------------------------------------

    async def get_guild_safety(self, guild_id: int) -> GuildSafety:
        row = await self.pool.fetchrow(
            "SELECT level, people, modlog_channel_id FROM guild_safety WHERE guild_id=$1",
            guild_id,
        )
        return GuildSafety() if row is None else GuildSafety(*row)

    async def update_guild_safety(
        self,
        guild_id: int,
        changes: Mapping[str, str | int | None],
        *,
        updated_by: int | None,
        now: datetime,
    ) -> GuildSafety:
        columns = guild_safety_columns(changes)
        names = ", ".join(columns)
        marks = ",".join(f"${i}" for i in range(2, len(columns) + 2))
        updates = "".join(f"{column}=excluded.{column}, " for column in columns)
        after = len(columns) + 2
        row = await self.pool.fetchrow(
            f"INSERT INTO guild_safety (guild_id, {names}, updated_at, updated_by)"
            f" VALUES ($1,{marks},${after},${after + 1}) ON CONFLICT (guild_id) DO UPDATE SET"
            f" {updates} updated_at=excluded.updated_at, updated_by=excluded.updated_by"
            " RETURNING level, people, modlog_channel_id",
            guild_id,
            *(changes[c] for c in columns),
            as_utc(now),
            updated_by,
        )
        assert row is not None
        return GuildSafety(*row)

    async def blocked_terms(self, guild_id: int) -> list[str]:
        rows = await self.pool.fetch(
            'SELECT term FROM guild_blocked_terms WHERE guild_id=$1 ORDER BY term COLLATE "C"',
            guild_id,
        )
        return [row[0] for row in rows]

    async def add_blocked_term(
        self, guild_id: int, term: str, *, added_by: int | None, now: datetime
    ) -> bool:
        row = await self.pool.fetchrow(
            "INSERT INTO guild_blocked_terms (guild_id, term, added_by, added_at)"
            " VALUES ($1,$2,$3,$4) ON CONFLICT (guild_id, term) DO NOTHING RETURNING term",
            guild_id,
            term,
            added_by,
            as_utc(now),
        )
        return row is not None

    async def remove_blocked_term(self, guild_id: int, term: str) -> bool:
        row = await self.pool.fetchrow(
            "DELETE FROM guild_blocked_terms WHERE guild_id=$1 AND term=$2 RETURNING term",
            guild_id,
            term,
        )
        return row is not None

    async def claim_report(
        self, generation_id: int, reporter_id: int, guild_id: int | None, *, now: datetime
    ) -> bool:
        row = await self.pool.fetchrow(
            "INSERT INTO result_reports (generation_id, reporter_id, guild_id, reported_at)"
            " VALUES ($1,$2,$3,$4) ON CONFLICT (generation_id, reporter_id) DO NOTHING"
            " RETURNING generation_id",
            generation_id,
            reporter_id,
            guild_id,
            as_utc(now),
        )
        return row is not None

    async def withdraw_report(self, generation_id: int, reporter_id: int) -> None:
        await self.pool.execute(
            "DELETE FROM result_reports WHERE generation_id=$1 AND reporter_id=$2",
            generation_id,
            reporter_id,
        )


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog", format="text"
    )


# The same counting rules as sqlite.py (see bot/storage/ledger.py); $5 is `now`.
_LIVE = "(status = 'committed' OR (status = 'reserved' AND expires_at > $5))"
_IMAGES = "CASE status WHEN 'committed' THEN actual_images ELSE images END"
_MICROS = "CASE status WHEN 'committed' THEN actual_usd_micros ELSE est_usd_micros END"
_TOTALS = (
    f"COALESCE(SUM({_IMAGES}), 0)::bigint AS images, COALESCE(SUM({_MICROS}), 0)::bigint AS micros"
)
# $1 user, $2 guild (NULL in DMs), $3 day, $4 month, $5 now
_SNAPSHOT = f"""
SELECT ud.images, ud.micros, um.images, um.micros, fl.n, lr.last, gm.micros, gd.micros
FROM (SELECT {_TOTALS} FROM quota_reservations WHERE user_id = $1
        AND guild_id IS NOT DISTINCT FROM $2 AND day = $3 AND reset_id IS NULL AND {_LIVE}) AS ud,
     (SELECT {_TOTALS} FROM quota_reservations WHERE user_id = $1
        AND guild_id IS NOT DISTINCT FROM $2 AND month = $4 AND {_LIVE}) AS um,
     (SELECT COUNT(*) AS n FROM quota_reservations WHERE user_id = $1
        AND status = 'reserved' AND expires_at > $5) AS fl,
     (SELECT MAX(created_at) AS last FROM quota_reservations WHERE user_id = $1) AS lr,
     (SELECT {_TOTALS} FROM quota_reservations WHERE guild_id = $2
        AND month = $4 AND {_LIVE}) AS gm,
     (SELECT {_TOTALS} FROM quota_reservations WHERE day = $3 AND {_LIVE}) AS gd
"""


async def _snapshot(
    conn: asyncpg.Connection, user_id: int, guild_id: int | None, now: datetime
) -> UsageSnapshot:
    row = await conn.fetchrow(_SNAPSHOT, user_id, guild_id, day_of(now), month_of(now), now)
    assert row is not None
    return usage_snapshot(row, now, when=same)


# asyncpg already returns datetimes, dates and booleans, and decodes jsonb (_init_connection).
def _record(row: asyncpg.Record) -> GenerationRecord:
    return generation_record(row, when=same, flag=same, decode_json=same)


def _reservation(row: asyncpg.Record) -> Reservation:
    return reservation(row, when=same, day=same, month=same)


def _usage_row(row: asyncpg.Record) -> UsageRow:
    return usage_row(row, when=same, day=same)
