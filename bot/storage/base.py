"""The Store interface: everything the services need from a database, and nothing more.

Engines implement it (sqlite.py with aiosqlite, postgres.py with asyncpg); `open_store` picks one
from the URL. Methods are small and intention-named; each is one statement or one transaction.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from types import TracebackType

from bot.storage.models import GenerationRecord, GenerationStatus, NewGeneration

__all__ = ["Store", "StoreError"]


class StoreError(RuntimeError):
    """The database could not be opened or used (the message is safe to show an operator)."""


class Store(ABC):
    engine: str

    @abstractmethod
    async def connect(self) -> None:
        """Open connections and apply pending migrations."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def applied_migrations(self) -> list[int]: ...

    @abstractmethod
    async def create_generation(self, new: NewGeneration) -> GenerationRecord: ...

    @abstractmethod
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
    ) -> None: ...

    @abstractmethod
    async def fail_generation(
        self,
        generation_id: int,
        *,
        status: GenerationStatus,
        error: str,
        provider: str | None = None,
        total_latency_ms: float | None = None,
    ) -> None: ...

    @abstractmethod
    async def set_message(self, generation_id: int, message_id: int) -> None: ...

    @abstractmethod
    async def get_generation(self, generation_id: int) -> GenerationRecord | None: ...

    @abstractmethod
    async def latest_generation(self, user_id: int) -> GenerationRecord | None:
        """The user's most recent successful generation (what /vary and /reseed start from)."""

    @abstractmethod
    async def generation_by_message(self, message_id: int) -> GenerationRecord | None: ...

    async def __aenter__(self) -> Store:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
