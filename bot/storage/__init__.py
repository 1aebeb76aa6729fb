"""Storage: the Store interface and the engine chosen by CANVASBOT_DATABASE_URL."""

from __future__ import annotations

from bot.storage.base import Store, StoreError
from bot.storage.models import GenerationRecord, GenerationStatus, NewGeneration

__all__ = [
    "GenerationRecord",
    "GenerationStatus",
    "NewGeneration",
    "Store",
    "StoreError",
    "open_store",
]


def open_store(url: str) -> Store:
    """A (not yet connected) store for the URL; `async with open_store(url) as store: ...`."""
    scheme = url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        from bot.storage.sqlite import SQLiteStore, sqlite_path_from_url

        return SQLiteStore(sqlite_path_from_url(url))
    if scheme in {"postgres", "postgresql"}:
        try:
            from bot.storage.postgres import PostgresStore
        except ImportError as exc:
            raise StoreError(
                "PostgreSQL needs the optional extra: pip install 'canvasbot[postgres]'"
            ) from exc
        return PostgresStore(url)
    raise StoreError(f"unsupported database URL scheme {scheme!r}: use sqlite:/// or postgresql://")
