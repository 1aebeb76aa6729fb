"""Numbered migrations: applied once, in order, even when several processes start together."""

from __future__ import annotations

import asyncio
import sys

import pytest

from bot.storage import NewGeneration, Store, StoreError, open_store
from bot.storage.migrations import load_migrations
from bot.storage.sqlite import SQLiteStore

# Numbers taken by branches not merged yet: a gap there is expected until they land. None now:
# every number up to the latest must have its migration in both engines.
RESERVED_ELSEWHERE: set[int] = set()


def test_both_engines_have_the_same_numbered_migrations() -> None:
    sqlite = [(m.version, m.name) for m in load_migrations("sqlite")]
    postgres = [(m.version, m.name) for m in load_migrations("postgres")]
    assert sqlite == postgres
    versions = [v for v, _ in sqlite]
    assert versions == sorted(set(versions))
    assert set(range(1, versions[-1] + 1)) - set(versions) <= RESERVED_ELSEWHERE


async def test_all_applied_in_order(store: Store) -> None:
    assert await store.applied_migrations() == [m.version for m in load_migrations(store.engine)]


async def test_reconnecting_applies_nothing_twice(store_url: str) -> None:
    async with open_store(store_url) as first:
        applied = await first.applied_migrations()
        created = await first.create_generation(
            NewGeneration(1, None, None, "kept", None, "1:1", 1, None, "flux-schnell")
        )
    async with open_store(store_url) as again:
        assert await again.applied_migrations() == applied
        kept = await again.get_generation(created.id)
        assert kept is not None
        assert kept.prompt == "kept"


async def test_simultaneous_starts_apply_each_migration_once(store_url: str) -> None:
    stores = [open_store(store_url) for _ in range(4)]
    try:
        await asyncio.gather(*(s.connect() for s in stores))
        expected = [m.version for m in load_migrations(stores[0].engine)]
        for s in stores:
            assert await s.applied_migrations() == expected
    finally:
        await asyncio.gather(*(s.close() for s in stores))


def test_open_store_picks_the_engine_by_url() -> None:
    assert isinstance(open_store("sqlite:///:memory:"), SQLiteStore)
    pytest.importorskip("asyncpg")
    from bot.storage.postgres import PostgresStore

    assert isinstance(open_store("postgresql://u@h/db"), PostgresStore)
    assert isinstance(open_store("postgres://u@h/db"), PostgresStore)
    with pytest.raises(StoreError, match="unsupported database URL scheme"):
        open_store("mysql://u@h/db")


async def test_unreachable_postgres_is_a_store_error() -> None:
    pytest.importorskip("asyncpg")
    from bot.storage.postgres import PostgresStore

    store = PostgresStore("postgresql://nobody@127.0.0.1:1/none")
    where = r"could not open the PostgreSQL database at 127\.0\.0\.1:1/none"
    with pytest.raises(StoreError, match=where):
        await store.connect()


def test_missing_postgres_extra_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "asyncpg", None)  # as if it were not installed
    monkeypatch.delitem(sys.modules, "bot.storage.postgres", raising=False)
    with pytest.raises(StoreError, match=r"canvasbot\[postgres\]"):
        open_store("postgresql://u@h/db")
