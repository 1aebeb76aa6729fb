"""Store fixtures: every storage and quota test runs against SQLite and against PostgreSQL.

PostgreSQL is the real server at CANVASBOT_TEST_POSTGRES_URL (default
postgresql://postgres@127.0.0.1:5432/test), shared with other developers and CI: each test
session creates its own database (dropped at the end) and each test its own schema in it, reached
through `?search_path=…` in the URL. Those tests are skipped, saying why, only when no server can
be reached; any other database error fails them.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import pytest

from bot.storage import Store, open_store

T = TypeVar("T")

POSTGRES_URL = os.environ.get(
    "CANVASBOT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
# A fixed instant (midday UTC, mid-month): tests never straddle a midnight by accident.
NOW = datetime(2030, 1, 15, 12, 0, tzinfo=UTC)


def run_blocking(factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion on its own loop in another thread.

    For fixtures that are not async: it never touches the test's event loop.
    """

    async def main() -> T:
        return await factory()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, main()).result()


def with_database(url: str, database: str, **params: str) -> str:
    base = url.split("?", 1)[0].rsplit("/", 1)[0]
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return f"{base}/{database}" + (f"?{query}" if query else "")


async def _admin(url: str, *statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=5)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh database on the shared server for this session; yields its URL."""
    try:
        import asyncpg
    except ImportError:
        pytest.skip("asyncpg is not installed: pip install 'canvasbot[postgres]'")
    name = f"canvasbot_test_{os.getpid()}_{secrets.token_hex(4)}"
    where = POSTGRES_URL.split("@", 1)[-1]
    try:
        run_blocking(lambda: _admin(POSTGRES_URL, f'CREATE DATABASE "{name}" TEMPLATE template0'))
    except (OSError, TimeoutError, asyncpg.CannotConnectNowError) as exc:
        pytest.skip(f"no PostgreSQL server reachable at {where}: {exc!r}")
    try:
        yield with_database(POSTGRES_URL, name)
    finally:
        run_blocking(lambda: _admin(POSTGRES_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def postgres_url(postgres_database: str) -> Iterator[str]:
    """A fresh, empty schema in the session's database; the URL selects it."""
    schema = f"t_{secrets.token_hex(6)}"
    run_blocking(lambda: _admin(postgres_database, f"CREATE SCHEMA {schema}"))
    try:
        yield with_database(
            postgres_database, postgres_database.rsplit("/", 1)[1], search_path=schema
        )
    finally:
        run_blocking(lambda: _admin(postgres_database, f"DROP SCHEMA {schema} CASCADE"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL for an empty database of each engine."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'canvasbot.sqlite3'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    """A connected, migrated store of each engine."""
    async with open_store(store_url) as connected:
        yield connected
