"""SQLite store (aiosqlite): the embedded default. WAL mode, so readers never block the writer.

Several processes may share the file. Every ledger transaction starts with BEGIN IMMEDIATE, which
takes SQLite's single write lock before anything is read: writers are serialised across processes
(waiting up to busy_timeout), so a reservation's check and insert see no one else's writes in
between. One aiosqlite connection is shared by the process's coroutines, and a transaction left
open across an `await` would swallow their statements, so every use of the connection is a
function of the connection run whole on aiosqlite's thread (`_run`), never a transaction spread
over several awaits.

Under load, each trip to that thread costs the event loop a wake-up and the thread a GIL hand-off;
so the functions waiting when a trip starts go together, in order, each its own statement or
transaction (its success or failure its own): 100 results finishing together cost a few trips,
not 200.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

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
    ReservationStatus,
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
    usage_row,
    usage_snapshot,
)
from bot.storage.stats import GenerationFacts, provider_stats

T = TypeVar("T")

__all__ = ["SQLiteStore", "sqlite_path_from_url"]


def sqlite_path_from_url(url: str) -> str:
    """`sqlite:///relative.db`, `sqlite:////abs/path.db` or `sqlite:///:memory:` → a path."""
    if not url.startswith("sqlite:///"):
        raise StoreError(f"not a SQLite URL: {url.split('://')[0]}://…")
    return url.removeprefix("sqlite:///") or ":memory:"


def _time(seconds: float) -> datetime:
    """A stored time (UTC epoch seconds) as an aware datetime. Only ever given a value: the
    mappers in rows.py pass the NULL of a nullable column through as None themselves."""
    return datetime.fromtimestamp(seconds, UTC)


class SQLiteStore(Store):
    engine = "sqlite"

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 10_000) -> None:
        self.path = str(path)
        self.busy_timeout_ms = busy_timeout_ms
        self._db: aiosqlite.Connection | None = None
        self._waiting: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]] = []
        self._courier: asyncio.Task[None] | None = None

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StoreError("the store is not connected")
        return self._db

    async def connect(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = await aiosqlite.connect(self.path, isolation_level=None)
            self._db.row_factory = aiosqlite.Row
            # Several processes may share the file: wait for a lock rather than fail at once.
            # First, so that even switching to WAL (which needs the lock) waits its turn.
            await self._db.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
            await self._enable_wal()
            await self._db.execute("PRAGMA synchronous=NORMAL")
            await self._db.execute("PRAGMA foreign_keys=ON")
            await self._migrate()
        except (aiosqlite.Error, OSError) as exc:
            await self.close()
            raise StoreError(f"could not open the SQLite database at {self.path}: {exc}") from exc

    async def _enable_wal(self) -> None:
        """Switch to WAL. SQLite answers "database is locked" at once (without the busy
        handler) when several connections open a new file together, so retry, bounded."""
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        attempt = 0
        while True:
            try:
                await self.db.execute("PRAGMA journal_mode=WAL")
                return
            except aiosqlite.OperationalError as exc:
                attempt += 1
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(min(0.2, 0.01 * attempt))

    async def close(self) -> None:
        if self._courier is not None and not self._courier.done():
            await asyncio.shield(self._courier)  # what was asked before close still runs
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def _migrate(self) -> None:
        migrations = load_migrations(self.engine)

        def migrate(conn: sqlite3.Connection) -> None:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
            )
            for migration in migrations:
                # BEGIN IMMEDIATE: two processes starting together apply each migration once.
                conn.execute("BEGIN IMMEDIATE")
                try:
                    done = conn.execute(
                        "SELECT 1 FROM schema_migrations WHERE version = ?", (migration.version,)
                    ).fetchone()
                    if done is None:
                        for statement in _statements(migration.sql):
                            conn.execute(statement)
                        conn.execute(
                            "INSERT INTO schema_migrations (version, name, applied_at)"
                            " VALUES (?,?,?)",
                            (migration.version, migration.name, time.time()),
                        )
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise

        await self._run(migrate)

    async def applied_migrations(self) -> list[int]:
        rows = await self._fetchall("SELECT version FROM schema_migrations ORDER BY version")
        return [row[0] for row in rows]

    # --- the connection: every use is a function run whole on aiosqlite's thread -------------

    async def _fetchone(self, sql: str, params: Any = ()) -> sqlite3.Row | None:
        """The first row of a statement that yields one (by key, LIMIT 1 or RETURNING)."""
        return await self._run(lambda conn: conn.execute(sql, params).fetchone())

    async def _fetchall(self, sql: str, params: Any = ()) -> list[sqlite3.Row]:
        return await self._run(lambda conn: conn.execute(sql, params).fetchall())

    async def _execute(self, sql: str, params: Any = ()) -> int:
        """One autocommitted statement; how many rows it changed."""
        return await self._run(lambda conn: conn.execute(sql, params).rowcount)

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work(connection)` on aiosqlite's thread, whole (a statement, or a transaction from
        BEGIN to COMMIT), in the order asked; it rides the next trip with whatever else waits."""
        db = self.db
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._waiting.append((work, future))
        if self._courier is None or self._courier.done():
            self._courier = asyncio.create_task(self._carry(db))
        return await future

    async def _carry(self, db: aiosqlite.Connection) -> None:
        # aiosqlite has no public call to run a function on its thread, but its own
        # execute_fetchall and execute_insert are built on `_execute` (pinned: aiosqlite < 0.23).
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                outcomes = await db._execute(_run_all, db._conn, [work for work, _ in batch])
            except Exception as exc:  # the connection is closed
                outcomes = [(False, exc)] * len(batch)
            except BaseException:  # cancelled (the loop is closing): nobody waits forever
                for _, future in (*batch, *self._waiting):
                    future.cancel()
                self._waiting = []
                raise
            self._settle(batch, outcomes)

    @staticmethod
    def _settle(
        batch: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]],
        outcomes: list[tuple[bool, Any]],
    ) -> None:
        for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
            if future.done():  # its caller was cancelled; the work ran anyway
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    async def create_generation(self, new: NewGeneration) -> GenerationRecord:
        row = await self._fetchone(
            "INSERT INTO generations (user_id, guild_id, channel_id, interaction_id, message_id,"
            " kind, parent_id, prompt, negative_prompt, aspect, count, requested_seed, model,"
            " private, status, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING *",
            (
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
                int(new.private),
                GenerationStatus.PENDING,
                time.time(),
            ),
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
        await self._execute(
            "UPDATE generations SET status=?, provider=?, model_id=?, seeds=?, cost_usd=?,"
            " cost_source=?, provider_latency_ms=?, total_latency_ms=?, finished_at=?,"
            " hedge_cost_usd=?, attempts=? WHERE id=?",
            (
                GenerationStatus.SUCCEEDED,
                provider,
                model_id,
                json.dumps(list(seeds)),
                cost_usd,
                cost_source,
                provider_latency_ms,
                total_latency_ms,
                time.time(),
                hedge_cost_usd,
                _attempts_json(attempts),
                generation_id,
            ),
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
        await self._execute(
            "UPDATE generations SET status=?, error=?, provider=COALESCE(?, provider),"
            " total_latency_ms=?, finished_at=?, attempts=COALESCE(?, attempts) WHERE id=?",
            (
                status,
                error,
                provider,
                total_latency_ms,
                time.time(),
                None if attempts is None else _attempts_json(attempts),
                generation_id,
            ),
        )

    async def set_message(self, generation_id: int, message_id: int) -> None:
        await self._execute(
            "UPDATE generations SET message_id=? WHERE id=?", (message_id, generation_id)
        )

    async def get_generation(self, generation_id: int) -> GenerationRecord | None:
        return await self._one("SELECT * FROM generations WHERE id=?", (generation_id,))

    async def latest_generation(self, user_id: int) -> GenerationRecord | None:
        return await self._one(
            "SELECT * FROM generations WHERE user_id=? AND status=? ORDER BY id DESC LIMIT 1",
            (user_id, GenerationStatus.SUCCEEDED),
        )

    async def generation_by_message(self, message_id: int) -> GenerationRecord | None:
        # A generation knows its message from the start; it is a result once it succeeded.
        return await self._one(
            "SELECT * FROM generations WHERE message_id=? AND status=? ORDER BY id DESC LIMIT 1",
            (message_id, GenerationStatus.SUCCEEDED),
        )

    async def recent_generations(
        self, user_id: int, *, limit: int, offset: int = 0
    ) -> list[GenerationRecord]:
        rows = await self._fetchall(
            "SELECT * FROM generations WHERE user_id=? ORDER BY id DESC LIMIT ? OFFSET ?",
            (user_id, limit, offset),
        )
        return [_record(row) for row in rows]

    async def pending_generations(self, started_before: datetime) -> list[GenerationRecord]:
        rows = await self._fetchall(
            "SELECT * FROM generations WHERE status=? AND created_at < ? ORDER BY id",
            (GenerationStatus.PENDING, as_utc(started_before).timestamp()),
        )
        return [_record(row) for row in rows]

    async def interrupt_generation(self, generation_id: int, *, now: datetime) -> bool:
        changed = await self._execute(
            "UPDATE generations SET status=?, error='interrupted by a restart', finished_at=?"
            " WHERE id=? AND status=?",
            (
                GenerationStatus.INTERRUPTED,
                as_utc(now).timestamp(),
                generation_id,
                GenerationStatus.PENDING,
            ),
        )
        return changed == 1

    async def release_reservations_for(
        self, generation_id: int, reason: str, *, now: datetime, charged_too: bool = False
    ) -> int:
        return await self._execute(
            "UPDATE quota_reservations SET status='released', release_reason=?, settled_at=?"
            f" WHERE generation_id=? AND status IN {releasable(charged_too)}",
            (reason, as_utc(now).timestamp(), generation_id),
        )

    async def _one(self, sql: str, params: tuple[Any, ...]) -> GenerationRecord | None:
        row = await self._fetchone(sql, params)
        return _record(row) if row is not None else None

    async def provider_stats(self, since: datetime) -> list[ProviderStats]:
        rows = await self._fetchall(
            "SELECT provider, status, attempts, provider_latency_ms, cost_usd FROM generations"
            " WHERE created_at >= ?",
            (as_utc(since).timestamp(),),
        )
        return provider_stats(
            GenerationFacts(
                provider=row["provider"],
                status=row["status"],
                attempts=json.loads(row["attempts"] or "[]"),
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
        params = _snapshot_params(request.user_id, request.guild_id, now)
        insert = (
            request.user_id,
            request.guild_id,
            request.generation_id,
            request.images,
            est_micros,
            ReservationStatus.RESERVED,
            now.timestamp(),
            (now + ttl).timestamp(),
            _day_key(now),
            _month_key(now),
        )

        def transaction(conn: sqlite3.Connection) -> Reservation | QuotaRefusal:
            # Check and insert under one write lock (BEGIN IMMEDIATE: other processes wait).
            conn.execute("BEGIN IMMEDIATE")
            try:
                usage = _usage(conn.execute(_SNAPSHOT, params).fetchone(), now)
                refusal = first_refusal(
                    usage,
                    limits,
                    images=request.images,
                    est_usd_micros=est_micros,
                    in_guild=request.guild_id is not None,
                )
                if refusal is not None:
                    conn.execute("ROLLBACK")
                    return refusal
                row = conn.execute(_INSERT_RESERVATION, insert).fetchone()
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return _reservation(row)

        return await self._run(transaction)

    async def commit_reservation(
        self,
        reservation_id: int,
        actual_usd: float,
        *,
        actual_images: int | None = None,
        now: datetime,
    ) -> bool:
        return (
            await self._execute(
                "UPDATE quota_reservations SET status='committed', actual_usd_micros=?,"
                " actual_images=COALESCE(?, images), settled_at=?"
                " WHERE id=? AND status IN ('reserved', 'expired')",
                (usd_to_micros(actual_usd), actual_images, as_utc(now).timestamp(), reservation_id),
            )
            == 1
        )

    async def release_reservation(self, reservation_id: int, reason: str, *, now: datetime) -> bool:
        return (
            await self._execute(
                "UPDATE quota_reservations SET status='released', release_reason=?, settled_at=?"
                " WHERE id=? AND status='reserved'",
                (reason, as_utc(now).timestamp(), reservation_id),
            )
            == 1
        )

    async def release_expired(self, now: datetime) -> int:
        moment = as_utc(now).timestamp()
        return await self._execute(
            "UPDATE quota_reservations SET status='expired', release_reason='expired',"
            " settled_at=? WHERE status='reserved' AND expires_at <= ?",
            (moment, moment),
        )

    async def get_reservation(self, reservation_id: int) -> Reservation | None:
        row = await self._fetchone("SELECT * FROM quota_reservations WHERE id=?", (reservation_id,))
        return _reservation(row) if row is not None else None

    async def usage_for(self, user_id: int, guild_id: int | None, now: datetime) -> UsageSnapshot:
        now = as_utc(now)
        row = await self._fetchone(_SNAPSHOT, _snapshot_params(user_id, guild_id, now))
        return _usage(row, now)

    async def guild_stats(self, guild_id: int, since: date, *, top: int = 10) -> GuildStats:
        where = "r.guild_id = ? AND r.day >= ? AND r.status = 'committed'"
        params = (guild_id, since.isoformat())
        totals = "SUM(r.actual_images), SUM(r.actual_usd_micros)"
        days = await self._fetchall(
            f"SELECT r.day, {totals} FROM quota_reservations r WHERE {where}"
            " GROUP BY r.day ORDER BY r.day",
            params,
        )
        users = await self._fetchall(
            f"SELECT r.user_id, {totals} FROM quota_reservations r WHERE {where}"
            " GROUP BY r.user_id ORDER BY 3 DESC, 2 DESC, r.user_id LIMIT ?",
            (*params, top),
        )
        providers = await self._fetchall(
            f"SELECT COALESCE(g.provider, 'unknown'), {totals} FROM quota_reservations r"
            f" LEFT JOIN generations g ON g.id = r.generation_id WHERE {where}"
            " GROUP BY 1 ORDER BY 3 DESC, 2 DESC, 1",
            params,
        )
        return GuildStats(
            guild_id=guild_id,
            since=since,
            days=tuple(DayTotal(date.fromisoformat(d), n, micros_to_usd(m)) for d, n, m in days),
            top_users=tuple(UserTotal(u, n, micros_to_usd(m)) for u, n, m in users),
            providers=tuple(ProviderTotal(p, n, micros_to_usd(m)) for p, n, m in providers),
        )

    async def export_usage(self, since: date, guild_id: int | None = None) -> list[UsageRow]:
        sql = (
            "SELECT r.*, g.provider AS provider, g.model AS model FROM quota_reservations r"
            " LEFT JOIN generations g ON g.id = r.generation_id WHERE r.day >= ?"
        )
        params: tuple[Any, ...] = (since.isoformat(),)
        if guild_id is not None:
            sql += " AND r.guild_id = ?"
            params += (guild_id,)
        rows = await self._fetchall(sql + " ORDER BY r.id", params)
        return [_usage_row(row) for row in rows]

    async def get_guild_quota(self, guild_id: int) -> QuotaOverrides:
        row = await self._fetchone("SELECT * FROM guild_quotas WHERE guild_id=?", (guild_id,))
        return QuotaOverrides() if row is None else guild_quota(row)

    async def set_guild_quota(
        self, guild_id: int, overrides: QuotaOverrides, *, updated_by: int | None, now: datetime
    ) -> None:
        await self._execute(
            "INSERT INTO guild_quotas (guild_id, user_daily_images, user_daily_usd_micros,"
            " cooldown_seconds, max_concurrent, guild_monthly_usd_micros, updated_at, updated_by)"
            " VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (guild_id) DO UPDATE SET"
            " user_daily_images=excluded.user_daily_images,"
            " user_daily_usd_micros=excluded.user_daily_usd_micros,"
            " cooldown_seconds=excluded.cooldown_seconds,"
            " max_concurrent=excluded.max_concurrent,"
            " guild_monthly_usd_micros=excluded.guild_monthly_usd_micros,"
            " updated_at=excluded.updated_at, updated_by=excluded.updated_by",
            (
                guild_id,
                overrides.user_daily_images,
                optional_micros(overrides.user_daily_usd),
                overrides.cooldown_seconds,
                overrides.max_concurrent,
                optional_micros(overrides.guild_monthly_usd),
                as_utc(now).timestamp(),
                updated_by,
            ),
        )

    async def role_quotas(self, guild_id: int) -> list[RoleQuota]:
        rows = await self._fetchall(
            "SELECT * FROM role_quotas WHERE guild_id=? ORDER BY role_id", (guild_id,)
        )
        return [role_quota(row, flag=bool) for row in rows]

    async def set_role_quota(
        self, guild_id: int, quota: RoleQuota, *, updated_by: int | None, now: datetime
    ) -> None:
        await self._execute(
            "INSERT INTO role_quotas (guild_id, role_id, exempt, user_daily_images,"
            " user_daily_usd_micros, cooldown_seconds, max_concurrent, updated_at, updated_by)"
            " VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (guild_id, role_id) DO UPDATE SET"
            " exempt=excluded.exempt, user_daily_images=excluded.user_daily_images,"
            " user_daily_usd_micros=excluded.user_daily_usd_micros,"
            " cooldown_seconds=excluded.cooldown_seconds, max_concurrent=excluded.max_concurrent,"
            " updated_at=excluded.updated_at, updated_by=excluded.updated_by",
            (
                guild_id,
                quota.role_id,
                int(quota.exempt),
                quota.user_daily_images,
                optional_micros(quota.user_daily_usd),
                quota.cooldown_seconds,
                quota.max_concurrent,
                as_utc(now).timestamp(),
                updated_by,
            ),
        )

    async def remove_role_quota(self, guild_id: int, role_id: int) -> bool:
        return (
            await self._execute(
                "DELETE FROM role_quotas WHERE guild_id=? AND role_id=?", (guild_id, role_id)
            )
            == 1
        )

    async def reset_user_day(
        self, guild_id: int | None, user_id: int, *, reset_by: int | None, now: datetime
    ) -> QuotaReset:
        now = as_utc(now)
        day = _day_key(now)

        def transaction(conn: sqlite3.Connection) -> tuple[int, int, int]:
            conn.execute("BEGIN IMMEDIATE")
            try:
                reset_id = conn.execute(
                    "INSERT INTO quota_resets (guild_id, user_id, day, reset_by, created_at,"
                    " images, usd_micros) VALUES (?,?,?,?,?,0,0) RETURNING id",
                    (guild_id, user_id, day, reset_by, now.timestamp()),
                ).fetchone()[0]
                forgiven = conn.execute(
                    "UPDATE quota_reservations SET reset_id = :reset WHERE user_id = :user"
                    f" AND guild_id IS :guild AND day = :day AND reset_id IS NULL AND {_LIVE}"
                    f" RETURNING {_IMAGES}, {_MICROS}",
                    {
                        "reset": reset_id,
                        "user": user_id,
                        "guild": guild_id,
                        "day": day,
                        "now": now.timestamp(),
                    },
                ).fetchall()
                images, micros = sum(r[0] for r in forgiven), sum(r[1] for r in forgiven)
                conn.execute(
                    "UPDATE quota_resets SET images=?, usd_micros=? WHERE id=?",
                    (images, micros, reset_id),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return reset_id, images, micros

        reset_id, images, micros = await self._run(transaction)
        return QuotaReset(
            id=reset_id,
            guild_id=guild_id,
            user_id=user_id,
            day=day_of(now),
            reset_by=reset_by,
            created_at=now,
            images=images,
            usd=micros_to_usd(micros),
        )

    # --- content safety -------------------------------------------------------------------------

    async def get_guild_safety(self, guild_id: int) -> GuildSafety:
        row = await self._fetchone(
            "SELECT level, people, modlog_channel_id FROM guild_safety WHERE guild_id=?",
            (guild_id,),
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
        marks = ",".join("?" * len(columns))
        updates = "".join(f"{column}=excluded.{column}, " for column in columns)
        row = await self._fetchone(
            f"INSERT INTO guild_safety (guild_id, {names}, updated_at, updated_by)"
            f" VALUES (?,{marks},?,?) ON CONFLICT (guild_id) DO UPDATE SET {updates}"
            " updated_at=excluded.updated_at, updated_by=excluded.updated_by"
            " RETURNING level, people, modlog_channel_id",
            (guild_id, *(changes[c] for c in columns), as_utc(now).timestamp(), updated_by),
        )
        assert row is not None
        return GuildSafety(*row)

    async def blocked_terms(self, guild_id: int) -> list[str]:
        rows = await self._fetchall(
            "SELECT term FROM guild_blocked_terms WHERE guild_id=? ORDER BY term", (guild_id,)
        )
        return [row[0] for row in rows]

    async def add_blocked_term(
        self, guild_id: int, term: str, *, added_by: int | None, now: datetime
    ) -> bool:
        added = await self._execute(
            "INSERT INTO guild_blocked_terms (guild_id, term, added_by, added_at)"
            " VALUES (?,?,?,?) ON CONFLICT (guild_id, term) DO NOTHING",
            (guild_id, term, added_by, as_utc(now).timestamp()),
        )
        return added == 1

    async def remove_blocked_term(self, guild_id: int, term: str) -> bool:
        removed = await self._execute(
            "DELETE FROM guild_blocked_terms WHERE guild_id=? AND term=?", (guild_id, term)
        )
        return removed == 1

    async def claim_report(
        self, generation_id: int, reporter_id: int, guild_id: int | None, *, now: datetime
    ) -> bool:
        claimed = await self._execute(
            "INSERT INTO result_reports (generation_id, reporter_id, guild_id, reported_at)"
            " VALUES (?,?,?,?) ON CONFLICT (generation_id, reporter_id) DO NOTHING",
            (generation_id, reporter_id, guild_id, as_utc(now).timestamp()),
        )
        return claimed == 1

    async def withdraw_report(self, generation_id: int, reporter_id: int) -> None:
        await self._execute(
            "DELETE FROM result_reports WHERE generation_id=? AND reporter_id=?",
            (generation_id, reporter_id),
        )


def _statements(sql: str) -> list[str]:
    """Split a migration into statements (migrations hold no semicolons inside literals)."""
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def _record(row: sqlite3.Row) -> GenerationRecord:
    return generation_record(row, when=_time, flag=bool, decode_json=json.loads)


def _attempts_json(attempts: Sequence[Mapping[str, Any]]) -> str:
    return json.dumps([dict(attempt) for attempt in attempts])


# A row counts against the limits when committed (at actual cost) or open and not yet expired.
_LIVE = "(status = 'committed' OR (status = 'reserved' AND expires_at > :now))"
_IMAGES = "CASE status WHEN 'committed' THEN actual_images ELSE images END"
_MICROS = "CASE status WHEN 'committed' THEN actual_usd_micros ELSE est_usd_micros END"
_TOTALS = f"COALESCE(SUM({_IMAGES}), 0) AS images, COALESCE(SUM({_MICROS}), 0) AS micros"
_INSERT_RESERVATION = (
    "INSERT INTO quota_reservations (user_id, guild_id, generation_id, images,"
    " est_usd_micros, status, created_at, expires_at, day, month)"
    " VALUES (?,?,?,?,?,?,?,?,?,?) RETURNING *"
)

_SNAPSHOT = f"""
SELECT ud.images, ud.micros, um.images, um.micros, fl.n, lr.last, gm.micros, gd.micros
FROM (SELECT {_TOTALS} FROM quota_reservations WHERE user_id = :user AND guild_id IS :guild
        AND day = :day AND reset_id IS NULL AND {_LIVE}) AS ud,
     (SELECT {_TOTALS} FROM quota_reservations WHERE user_id = :user AND guild_id IS :guild
        AND month = :month AND {_LIVE}) AS um,
     (SELECT COUNT(*) AS n FROM quota_reservations WHERE user_id = :user
        AND status = 'reserved' AND expires_at > :now) AS fl,
     (SELECT MAX(created_at) AS last FROM quota_reservations WHERE user_id = :user) AS lr,
     (SELECT {_TOTALS} FROM quota_reservations WHERE guild_id = :guild
        AND month = :month AND {_LIVE}) AS gm,
     (SELECT {_TOTALS} FROM quota_reservations WHERE day = :day AND {_LIVE}) AS gd
"""


def _snapshot_params(user_id: int, guild_id: int | None, now: datetime) -> dict[str, Any]:
    return {
        "user": user_id,
        "guild": guild_id,
        "day": _day_key(now),
        "month": _month_key(now),
        "now": now.timestamp(),
    }


def _usage(row: Any, now: datetime) -> UsageSnapshot:
    assert row is not None
    return usage_snapshot(row, now, when=_time)


def _day_key(moment: datetime) -> str:
    return day_of(moment).isoformat()


def _month_key(moment: datetime) -> str:
    return month_of(moment).isoformat()[:7]


def _month(key: str) -> date:
    return date.fromisoformat(f"{key}-01")


def _reservation(row: sqlite3.Row) -> Reservation:
    return reservation(row, when=_time, day=date.fromisoformat, month=_month)


def _usage_row(row: sqlite3.Row) -> UsageRow:
    return usage_row(row, when=_time, day=date.fromisoformat)


def _run_all(
    conn: sqlite3.Connection, works: list[Callable[[sqlite3.Connection], Any]]
) -> list[tuple[bool, Any]]:
    """On aiosqlite's thread: each function in turn, each outcome its own. A function that
    fails inside a transaction it began has that transaction rolled back here, so the next one
    never runs inside it (nor does the write lock stay taken)."""
    outcomes: list[tuple[bool, Any]] = []
    for work in works:
        try:
            outcomes.append((True, work(conn)))
        except Exception as exc:
            if conn.in_transaction:
                conn.rollback()
            outcomes.append((False, exc))
    return outcomes
