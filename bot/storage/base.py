"""The Store interface: everything the services need from a database, and nothing more.

Engines implement it (sqlite.py with aiosqlite, postgres.py with asyncpg); `open_store` picks one
from the URL. Methods are small and intention-named; each is one statement or one transaction.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from types import TracebackType
from typing import Any

from bot.storage.ledger import DEFAULT_RESERVATION_TTL
from bot.storage.models import (
    GUILD_SAFETY_FIELDS,
    EffectiveLimits,
    GenerationRecord,
    GenerationStatus,
    GuildSafety,
    GuildStats,
    NewGeneration,
    ProviderStats,
    QuotaOverrides,
    QuotaRefusal,
    QuotaReset,
    Reservation,
    ReservationRequest,
    RoleQuota,
    UsageRow,
    UsageSnapshot,
)

__all__ = ["Store", "StoreError", "guild_safety_columns"]


class StoreError(RuntimeError):
    """The database could not be opened or used (the message is safe to show an operator)."""


def guild_safety_columns(changes: Mapping[str, object]) -> list[str]:
    """The `guild_safety` columns to set, in a fixed order: only known names reach SQL text."""
    unknown = sorted(set(changes) - set(GUILD_SAFETY_FIELDS))
    if unknown or not changes:
        raise ValueError(f"expected some of {GUILD_SAFETY_FIELDS}, got {sorted(changes)}")
    return [name for name in GUILD_SAFETY_FIELDS if name in changes]


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
        hedge_cost_usd: float = 0.0,
        attempts: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        """Record the result. `hedge_cost_usd` is the estimated cost of hedges cancelled for it
        (never charged to the user); `attempts` how each provider call went (JSON-able dicts)."""

    @abstractmethod
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
        """Record a failure; `attempts`, when given, replaces the recorded ones."""

    @abstractmethod
    async def set_message(self, generation_id: int, message_id: int) -> None: ...

    @abstractmethod
    async def get_generation(self, generation_id: int) -> GenerationRecord | None: ...

    @abstractmethod
    async def latest_generation(self, user_id: int) -> GenerationRecord | None:
        """The user's most recent successful generation (what /vary and /reseed start from)."""

    @abstractmethod
    async def generation_by_message(self, message_id: int) -> GenerationRecord | None: ...

    @abstractmethod
    async def recent_generations(
        self, user_id: int, *, limit: int, offset: int = 0
    ) -> list[GenerationRecord]:
        """The user's generations, newest first (for /history)."""

    @abstractmethod
    async def pending_generations(self, started_before: datetime) -> list[GenerationRecord]:
        """Generations still marked pending that started before the moment (after a crash)."""

    @abstractmethod
    async def interrupt_generation(self, generation_id: int, *, now: datetime) -> bool:
        """Pending → interrupted; False if it had already finished (another process won)."""

    @abstractmethod
    async def release_reservations_for(
        self, generation_id: int, reason: str, *, now: datetime, charged_too: bool = False
    ) -> int:
        """Release the generation's open reservations (with `charged_too`, its committed ones as
        well: a refund); how many."""

    @abstractmethod
    async def provider_stats(self, since: datetime) -> list[ProviderStats]:
        """Per provider, from the generations created at or after `since`: calls, successes,
        failures, refusals, cancelled hedges, p50/p90 latency of successes, spend (see
        bot/storage/stats.py)."""

    # --- the quota ledger (rules in bot/storage/ledger.py) ------------------------------------

    @abstractmethod
    async def reserve(
        self,
        request: ReservationRequest,
        limits: EffectiveLimits,
        *,
        now: datetime,
        ttl: timedelta = DEFAULT_RESERVATION_TTL,
    ) -> Reservation | QuotaRefusal:
        """Check every limit and insert the reservation, atomically across processes.

        Either the request fits every limit (counting committed rows and every open reservation,
        including those other processes hold) and the new `reserved` row is returned, or nothing
        is written and the first refusing limit is returned.
        """

    @abstractmethod
    async def commit_reservation(
        self,
        reservation_id: int,
        actual_usd: float,
        *,
        actual_images: int | None = None,
        now: datetime,
    ) -> bool:
        """Charge the actual cost. True when this call charged it; False when it was already
        committed (never charged twice) or released by its owner. An expired reservation can still
        be committed: the provider was paid, so the spend is recorded, not lost."""

    @abstractmethod
    async def release_reservation(self, reservation_id: int, reason: str, *, now: datetime) -> bool:
        """Give an open reservation back. True when this call released it; False when it was
        already committed, released or expired (so a release is counted once)."""

    @abstractmethod
    async def release_expired(self, now: datetime) -> int:
        """Mark open reservations past their `expires_at` as expired; how many were."""

    @abstractmethod
    async def get_reservation(self, reservation_id: int) -> Reservation | None: ...

    @abstractmethod
    async def usage_for(self, user_id: int, guild_id: int | None, now: datetime) -> UsageSnapshot:
        """The figures `reserve` checks, as of `now` (what /quota shows)."""

    @abstractmethod
    async def guild_stats(self, guild_id: int, since: date, *, top: int = 10) -> GuildStats:
        """Committed images and dollars per UTC day, top users, and per provider, since a day."""

    @abstractmethod
    async def export_usage(self, since: date, guild_id: int | None = None) -> list[UsageRow]:
        """Every ledger row charged to a UTC day on or after `since`, oldest first."""

    @abstractmethod
    async def get_guild_quota(self, guild_id: int) -> QuotaOverrides:
        """The server's overrides (all None when it has none)."""

    @abstractmethod
    async def set_guild_quota(
        self, guild_id: int, overrides: QuotaOverrides, *, updated_by: int | None, now: datetime
    ) -> None:
        """Replace the server's overrides (None fields inherit the bot's defaults)."""

    @abstractmethod
    async def role_quotas(self, guild_id: int) -> list[RoleQuota]: ...

    @abstractmethod
    async def set_role_quota(
        self, guild_id: int, quota: RoleQuota, *, updated_by: int | None, now: datetime
    ) -> None: ...

    @abstractmethod
    async def remove_role_quota(self, guild_id: int, role_id: int) -> bool: ...

    @abstractmethod
    async def reset_user_day(
        self, guild_id: int | None, user_id: int, *, reset_by: int | None, now: datetime
    ) -> QuotaReset:
        """Forgive the user's charges today in this server, for the user's own daily limits only.

        Rows are kept (the server and global budgets still count them) and point at a new
        `quota_resets` row recording who reset what, when, and how much was forgiven.
        """

    # --- content safety (bot/services/moderation.py) -------------------------------------------

    @abstractmethod
    async def get_guild_safety(self, guild_id: int) -> GuildSafety:
        """The server's safety choices (all None when it made none)."""

    @abstractmethod
    async def update_guild_safety(
        self,
        guild_id: int,
        changes: Mapping[str, str | int | None],
        *,
        updated_by: int | None,
        now: datetime,
    ) -> GuildSafety:
        """Set the named fields (keys from GUILD_SAFETY_FIELDS; None resets one to the default),
        leaving the others as they are, in one statement; returns the server's choices after."""

    @abstractmethod
    async def blocked_terms(self, guild_id: int) -> list[str]:
        """The server's own block-list terms, sorted."""

    @abstractmethod
    async def add_blocked_term(
        self, guild_id: int, term: str, *, added_by: int | None, now: datetime
    ) -> bool:
        """Add a (normalized) term; False when the server already had it."""

    @abstractmethod
    async def remove_blocked_term(self, guild_id: int, term: str) -> bool:
        """Remove a term; False when the server did not have it."""

    # --- reports ----------------------------------------------------------------------------

    @abstractmethod
    async def claim_report(
        self, generation_id: int, reporter_id: int, guild_id: int | None, *, now: datetime
    ) -> bool:
        """Note that `reporter_id` reports the result; False when they already had."""

    @abstractmethod
    async def withdraw_report(self, generation_id: int, reporter_id: int) -> None:
        """Forget a claimed report (its post did not reach the mod-log: they may try again)."""

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
