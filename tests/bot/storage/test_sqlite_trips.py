"""The SQLite store's trips to aiosqlite's thread: what waits together goes together, and each
piece of work keeps its own outcome."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.storage import GenerationStatus
from bot.storage.sqlite import SQLiteStore
from tests.bot.storage.test_generations import new


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "trips.db")
    await store.connect()
    yield store
    await store.close()


def count_trips(store: SQLiteStore, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many functions each trip to the connection's thread carried."""
    trips: list[int] = []
    real = store.db._execute

    async def counted(fn: Any, *args: Any, **kwargs: Any) -> Any:
        trips.append(len(args[1]) if len(args) > 1 else 1)
        return await real(fn, *args, **kwargs)

    monkeypatch.setattr(store.db, "_execute", counted)
    return trips


async def test_concurrent_writes_share_trips(
    sqlite_store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    trips = count_trips(sqlite_store, monkeypatch)
    created = await asyncio.gather(*(sqlite_store.create_generation(new(u)) for u in range(100)))
    assert sorted(r.user_id for r in created) == list(range(100))
    assert len({r.id for r in created}) == 100
    assert sum(trips) == 100
    assert len(trips) <= 3, trips  # the first alone, then the rest together


async def test_one_failure_stays_its_own(sqlite_store: SQLiteStore) -> None:
    first = await sqlite_store.create_generation(new(1))
    outcomes = await asyncio.gather(
        sqlite_store.create_generation(new(2)),
        sqlite_store._execute("UPDATE no_such_table SET x = 1"),
        sqlite_store.fail_generation(first.id, status=GenerationStatus.FAILED, error="boom"),
        sqlite_store.create_generation(new(3)),
        return_exceptions=True,
    )
    assert isinstance(outcomes[1], sqlite3.OperationalError)
    assert outcomes[0].user_id == 2
    assert outcomes[3].user_id == 3
    failed = await sqlite_store.get_generation(first.id)
    assert failed is not None
    assert failed.status == GenerationStatus.FAILED


async def test_a_failed_transaction_leaves_the_next_one_whole(sqlite_store: SQLiteStore) -> None:
    def half_done(conn: sqlite3.Connection) -> None:
        # No rollback of its own: the store must not let the next work run inside it.
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("DELETE FROM generations")
        raise RuntimeError("gave up half way")

    kept = await sqlite_store.create_generation(new(1))
    outcomes = await asyncio.gather(
        sqlite_store._run(half_done), sqlite_store.get_generation(kept.id), return_exceptions=True
    )
    assert isinstance(outcomes[0], RuntimeError)
    assert outcomes[1] == kept


async def test_work_asked_for_before_close_still_lands(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "close.db")
    await store.connect()
    # gather starts them in order: the writes are queued before close begins.
    *created, _ = await asyncio.gather(
        *(store.create_generation(new(u)) for u in range(20)), store.close()
    )
    assert len({record.id for record in created}) == 20
    reopened = SQLiteStore(tmp_path / "close.db")
    await reopened.connect()
    try:
        assert len(await reopened.recent_generations(5, limit=10, offset=0)) == 1
    finally:
        await reopened.close()
