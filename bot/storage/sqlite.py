"""SQLite store (aiosqlite): the embedded default. WAL mode, so readers never block the writer."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from bot.storage.base import Store, StoreError
from bot.storage.migrations import load_migrations
from bot.storage.models import GenerationRecord, GenerationStatus, NewGeneration

__all__ = ["SQLiteStore", "sqlite_path_from_url"]


def sqlite_path_from_url(url: str) -> str:
    """`sqlite:///relative.db`, `sqlite:////abs/path.db` or `sqlite:///:memory:` → a path."""
    if not url.startswith("sqlite:///"):
        raise StoreError(f"not a SQLite URL: {url.split('://')[0]}://…")
    return url.removeprefix("sqlite:///") or ":memory:"


def _dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


class SQLiteStore(Store):
    engine = "sqlite"

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._db: aiosqlite.Connection | None = None

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
            await self._db.execute("PRAGMA journal_mode=WAL")
            await self._db.execute("PRAGMA synchronous=NORMAL")
            await self._db.execute("PRAGMA foreign_keys=ON")
            # Several processes may share the file: wait for a lock rather than fail at once.
            await self._db.execute("PRAGMA busy_timeout=10000")
            await self._migrate()
        except (aiosqlite.Error, OSError) as exc:
            await self.close()
            raise StoreError(f"could not open the SQLite database at {self.path}: {exc}") from exc

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def _migrate(self) -> None:
        await self.db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
        )
        applied = set(await self.applied_migrations())
        for migration in load_migrations(self.engine):
            if migration.version in applied:
                continue
            # BEGIN IMMEDIATE: two processes starting together apply each migration once.
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                cursor = await self.db.execute(
                    "SELECT 1 FROM schema_migrations WHERE version = ?", (migration.version,)
                )
                if await cursor.fetchone() is None:
                    for statement in _statements(migration.sql):
                        await self.db.execute(statement)
                    await self.db.execute(
                        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?,?,?)",
                        (migration.version, migration.name, time.time()),
                    )
                await self.db.execute("COMMIT")
            except BaseException:
                await self.db.execute("ROLLBACK")
                raise

    async def applied_migrations(self) -> list[int]:
        cursor = await self.db.execute("SELECT version FROM schema_migrations ORDER BY version")
        return [row[0] for row in await cursor.fetchall()]

    async def create_generation(self, new: NewGeneration) -> GenerationRecord:
        cursor = await self.db.execute(
            "INSERT INTO generations (user_id, guild_id, channel_id, interaction_id, kind,"
            " parent_id, prompt, negative_prompt, aspect, count, requested_seed, model, private,"
            " status, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING *",
            (
                new.user_id,
                new.guild_id,
                new.channel_id,
                new.interaction_id,
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
        row = await cursor.fetchone()
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
    ) -> None:
        await self.db.execute(
            "UPDATE generations SET status=?, provider=?, model_id=?, seeds=?, cost_usd=?,"
            " cost_source=?, provider_latency_ms=?, total_latency_ms=?, finished_at=?"
            " WHERE id=?",
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
    ) -> None:
        await self.db.execute(
            "UPDATE generations SET status=?, error=?, provider=COALESCE(?, provider),"
            " total_latency_ms=?, finished_at=? WHERE id=?",
            (status, error, provider, total_latency_ms, time.time(), generation_id),
        )

    async def set_message(self, generation_id: int, message_id: int) -> None:
        await self.db.execute(
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
        return await self._one(
            "SELECT * FROM generations WHERE message_id=? ORDER BY id DESC LIMIT 1", (message_id,)
        )

    async def _one(self, sql: str, params: tuple[Any, ...]) -> GenerationRecord | None:
        cursor = await self.db.execute(sql, params)
        row = await cursor.fetchone()
        return _record(row) if row is not None else None


def _statements(sql: str) -> list[str]:
    """Split a migration into statements (migrations hold no semicolons inside literals)."""
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def _record(row: aiosqlite.Row) -> GenerationRecord:
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
        private=bool(row["private"]),
        status=GenerationStatus(row["status"]),
        provider=row["provider"],
        model_id=row["model_id"],
        seeds=tuple(json.loads(row["seeds"])),
        cost_usd=row["cost_usd"],
        cost_source=row["cost_source"],
        error=row["error"],
        provider_latency_ms=row["provider_latency_ms"],
        total_latency_ms=row["total_latency_ms"],
        created_at=_dt(row["created_at"]) or datetime.now(UTC),
        finished_at=_dt(row["finished_at"]),
        message_id=row["message_id"],
    )
