"""Quotas and budgets: reserve before a provider is called, then commit the actual cost or release.

    quotas = QuotaService(store, QuotaLimits.from_env(os.environ))
    await quotas.release_stale()                     # at start-up: give back what a crash left
    async with quotas.hold(user, guild, roles, images=4, est_usd=price * 4) as hold:
        result = await provider.generate(...)        # raises → released ("failed")
        await hold.commit(result.cost_usd)           # cancelled → released ("cancelled")

`reserve` raises `QuotaExceeded` (a user-facing error: the limit, what is used, when it resets)
before any provider is called. The check and the insert are one atomic step in the database
(see bot/storage/postgres.py and sqlite.py), so limits hold across any number of processes.

Effective limits for a request: the bot's defaults (`QuotaLimits`, from the environment), replaced
field by field by the server's overrides, then — for each user limit that any of the member's
roles sets — the most generous value among those roles (more images, dollars or concurrency, a
shorter cooldown). A role may therefore give more, or less when it is the only role setting that
limit. An exempt role lifts every user limit; the server's monthly and the bot's daily budgets
still apply. All days and months are UTC.

Scopes: daily images and dollars count the user's use in the server asking (DMs are a scope of
their own), which is what that server's admins set and reset; concurrency and cooldown count the
user across the whole bot. This module never imports discord.
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TextIO

from pydantic import BaseModel, ConfigDict, Field

from bot.storage.base import Store
from bot.storage.ledger import DEFAULT_RESERVATION_TTL, as_utc, next_day_start, next_month_start
from bot.storage.models import (
    EffectiveLimits,
    GuildStats,
    LimitName,
    QuotaOverrides,
    QuotaRefusal,
    QuotaReset,
    Reservation,
    ReservationRequest,
    RoleQuota,
    UsageRow,
)

__all__ = [
    "ENV_NAMES",
    "USAGE_CSV_COLUMNS",
    "Allowance",
    "GuildStats",
    "Hold",
    "QuotaExceeded",
    "QuotaLimits",
    "QuotaOverrides",
    "QuotaService",
    "QuotaUsage",
    "RoleQuota",
    "UsageRow",
    "discord_timestamp",
    "effective_limits",
    "write_usage_csv",
]

log = logging.getLogger(__name__)

SETTINGS_TTL = 30.0  # seconds a server's quota overrides are reused without asking the store

# QuotaLimits field → the environment variable the settings module reads it from.
ENV_NAMES: Mapping[str, str] = {
    "user_daily_images": "CANVASBOT_USER_DAILY_IMAGES",
    "user_daily_usd": "CANVASBOT_USER_DAILY_USD",
    "cooldown_seconds": "CANVASBOT_COOLDOWN_SECONDS",
    "max_concurrent_per_user": "CANVASBOT_MAX_CONCURRENT_PER_USER",
    "guild_monthly_usd": "CANVASBOT_GUILD_MONTHLY_USD",
    "global_daily_usd": "CANVASBOT_GLOBAL_DAILY_USD",
}


class QuotaLimits(BaseModel):
    """The bot's default limits (see ENV_NAMES for the variable behind each field)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user_daily_images: int = Field(25, ge=0)
    user_daily_usd: float = Field(0.50, ge=0)
    cooldown_seconds: float = Field(5.0, ge=0)
    max_concurrent_per_user: int = Field(2, ge=0)
    guild_monthly_usd: float = Field(20.0, ge=0)
    global_daily_usd: float = Field(10.0, ge=0)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> QuotaLimits:
        """Read the CANVASBOT_* variables that are set; the rest keep their defaults."""
        return cls.model_validate(
            {field: environ[name] for field, name in ENV_NAMES.items() if environ.get(name)}
        )


def effective_limits(
    defaults: QuotaLimits,
    guild: QuotaOverrides,
    member_roles: Collection[RoleQuota],
) -> EffectiveLimits:
    """Defaults, replaced by the server's overrides, then by the member's most generous roles."""
    global_daily = defaults.global_daily_usd
    guild_monthly = _pick(guild.guild_monthly_usd, defaults.guild_monthly_usd)
    if any(role.exempt for role in member_roles):
        return EffectiveLimits(None, None, None, None, guild_monthly, global_daily, exempt=True)

    def generous(field: str, base: float, best: Callable[..., Any]) -> Any:
        values = [getattr(r, field) for r in member_roles if getattr(r, field) is not None]
        return best(values) if values else base

    return EffectiveLimits(
        user_daily_images=generous(
            "user_daily_images", _pick(guild.user_daily_images, defaults.user_daily_images), max
        ),
        user_daily_usd=generous(
            "user_daily_usd", _pick(guild.user_daily_usd, defaults.user_daily_usd), max
        ),
        cooldown_seconds=generous(
            "cooldown_seconds", _pick(guild.cooldown_seconds, defaults.cooldown_seconds), min
        ),
        max_concurrent=generous(
            "max_concurrent", _pick(guild.max_concurrent, defaults.max_concurrent_per_user), max
        ),
        guild_monthly_usd=guild_monthly,
        global_daily_usd=global_daily,
    )


def _pick(override: Any, default: Any) -> Any:
    return default if override is None else override


def discord_timestamp(moment: datetime, style: str = "R") -> str:
    """`<t:…:R>`: Discord renders it in the reader's time zone ("in 3 hours")."""
    return f"<t:{int(moment.timestamp())}:{style}>"


def _usd(value: float) -> str:
    return f"${value:.4f}" if 0 < value < 0.01 else f"${value:.2f}"


class QuotaExceeded(Exception):
    """A request does not fit a limit (user-facing: `str()` is the reply to show).

    Carries which limit refused, what is used of it, its value, what the request asked for, and
    when it resets (None for the concurrency limit: it frees up when a generation finishes).
    """

    def __init__(self, refusal: QuotaRefusal) -> None:
        self.refusal = refusal
        self.limit: LimitName = refusal.limit
        self.used = refusal.used
        self.allowed = refusal.allowed
        self.requested = refusal.requested
        self.resets_at: datetime | None = refusal.resets_at
        super().__init__(self.message)

    @property
    def message(self) -> str:
        used, allowed, requested = self.used, self.allowed, self.requested
        reset = f" Resets {discord_timestamp(self.resets_at)}." if self.resets_at else ""
        match self.limit:
            case LimitName.CONCURRENT:
                return (
                    f"You already have {int(used)} of {int(allowed)} generations running;"
                    " try again when one finishes."
                )
            case LimitName.COOLDOWN:
                when = discord_timestamp(self.resets_at) if self.resets_at else "in a moment"
                return f"Please wait {allowed:g} seconds between requests: try again {when}."
            case LimitName.USER_DAILY_IMAGES:
                return (
                    f"You have used {int(used)} of your {int(allowed)} images today"
                    f" (this asks for {int(requested)}).{reset}"
                )
            case LimitName.USER_DAILY_USD:
                return (
                    f"You have used {_usd(used)} of your {_usd(allowed)} daily budget"
                    f" (this costs about {_usd(requested)}).{reset}"
                )
            case LimitName.GUILD_MONTHLY_USD:
                return (
                    f"This server has used {_usd(used)} of its {_usd(allowed)} monthly budget"
                    f" (this costs about {_usd(requested)}).{reset}"
                )
            case LimitName.GLOBAL_DAILY_USD:
                return (
                    f"The bot has used {_usd(used)} of its {_usd(allowed)} budget for today"
                    f" (this costs about {_usd(requested)}).{reset}"
                )
        return f"Limit {self.limit} reached.{reset}"  # pragma: no cover - every name is handled


@dataclass(frozen=True, slots=True)
class Allowance:
    """One limit as /quota shows it."""

    used: float
    limit: float | None  # None: no limit (an exempt role)
    resets_at: datetime

    @property
    def left(self) -> float | None:
        return None if self.limit is None else max(self.limit - self.used, 0)


@dataclass(frozen=True, slots=True)
class QuotaUsage:
    """What /quota shows: the caller's use and what is left, and when it resets."""

    user_id: int
    guild_id: int | None
    now: datetime
    limits: EffectiveLimits
    images_today: Allowance
    usd_today: Allowance
    images_month: int  # the user's, in this server
    usd_month: float
    in_flight: int
    cooldown_until: datetime | None  # None: the user may ask now
    guild_month: Allowance | None  # None in DMs
    global_today: Allowance

    @property
    def day_resets_at(self) -> datetime:
        return next_day_start(self.now)

    @property
    def month_resets_at(self) -> datetime:
        return next_month_start(self.now)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class QuotaService:
    def __init__(
        self,
        store: Store,
        defaults: QuotaLimits | None = None,
        *,
        reservation_ttl: timedelta = DEFAULT_RESERVATION_TTL,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.store = store
        self.defaults = defaults or QuotaLimits()
        self.reservation_ttl = reservation_ttl
        self._clock = clock
        self._open: set[int] = set()  # this process's reservations not yet settled (metrics)
        self._settings: dict[int, tuple[float, QuotaOverrides, list[RoleQuota]]] = {}

    @property
    def open_reservations(self) -> int:
        return len(self._open)

    def _now(self, now: datetime | None) -> datetime:
        return as_utc(now if now is not None else self._clock())

    # --- charging -------------------------------------------------------------------------------

    async def limits_for(self, guild_id: int | None, role_ids: Collection[int]) -> EffectiveLimits:
        if guild_id is None:
            return effective_limits(self.defaults, QuotaOverrides(), ())
        overrides, role_quotas = await self._server_settings(guild_id)
        wanted = set(role_ids)
        roles = [r for r in role_quotas if r.role_id in wanted]
        return effective_limits(self.defaults, overrides, roles)

    async def _server_settings(self, guild_id: int) -> tuple[QuotaOverrides, list[RoleQuota]]:
        """A server's overrides, kept for SETTINGS_TTL: they change only when an admin edits
        them, yet every request needs them. Edits here clear the entry at once; another
        process sees them within SETTINGS_TTL."""
        cached = self._settings.get(guild_id)
        moment = time.monotonic()
        if cached is not None and moment - cached[0] < SETTINGS_TTL:
            return cached[1], cached[2]
        overrides = await self.store.get_guild_quota(guild_id)
        roles = await self.store.role_quotas(guild_id)
        self._settings[guild_id] = (moment, overrides, roles)
        return overrides, roles

    async def reserve(
        self,
        user_id: int,
        guild_id: int | None,
        role_ids: Collection[int],
        images: int,
        est_usd: float,
        *,
        generation_id: int | None = None,
        now: datetime | None = None,
    ) -> Reservation:
        """Hold `images` and `est_usd` (price per image × images) against every limit, or raise
        QuotaExceeded naming the first limit that refuses."""
        if images < 0 or est_usd < 0:
            raise ValueError("images and est_usd must not be negative")
        limits = await self.limits_for(guild_id, role_ids)
        outcome = await self.store.reserve(
            ReservationRequest(user_id, guild_id, images, est_usd, generation_id),
            limits,
            now=self._now(now),
            ttl=self.reservation_ttl,
        )
        if isinstance(outcome, QuotaRefusal):
            raise QuotaExceeded(outcome)
        self._open.add(outcome.id)
        return outcome

    async def commit(
        self,
        reservation_id: int,
        actual_usd: float,
        *,
        images: int | None = None,
        now: datetime | None = None,
    ) -> bool:
        """Charge the actual cost (and images delivered, when fewer); False if already settled."""
        self._open.discard(reservation_id)
        return await self.store.commit_reservation(
            reservation_id, actual_usd, actual_images=images, now=self._now(now)
        )

    async def release(
        self, reservation_id: int, reason: str = "failed", *, now: datetime | None = None
    ) -> bool:
        """Give the reservation back (failed, blocked, cancelled); False if already settled."""
        self._open.discard(reservation_id)
        return await self.store.release_reservation(reservation_id, reason, now=self._now(now))

    @asynccontextmanager
    async def hold(
        self,
        user_id: int,
        guild_id: int | None,
        role_ids: Collection[int],
        images: int,
        est_usd: float,
        *,
        generation_id: int | None = None,
    ) -> AsyncIterator[Hold]:
        """Reserve for the block; released on exit unless `hold.commit` was called."""
        reservation = await self.reserve(
            user_id, guild_id, role_ids, images, est_usd, generation_id=generation_id
        )
        hold = Hold(self, reservation)
        try:
            yield hold
        except asyncio.CancelledError:
            await hold._settle_on_exit("cancelled")
            raise
        except BaseException:
            await hold._settle_on_exit("failed")
            raise
        else:
            await hold._settle_on_exit("unused")

    async def release_stale(self, now: datetime | None = None) -> int:
        """Expire reservations whose owner never settled them (call at start-up)."""
        count = await self.store.release_expired(self._now(now))
        if count:
            log.warning("released %d reservation(s) left open past their expiry", count)
        return count

    async def sweep_forever(self, interval: float = 60.0) -> None:
        """Run `release_stale` every `interval` seconds (a background task for the bot)."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.release_stale()
            except Exception:
                log.exception("releasing stale reservations failed; retrying later")

    # --- reading --------------------------------------------------------------------------------

    async def usage(
        self,
        user_id: int,
        guild_id: int | None,
        role_ids: Collection[int] = (),
        *,
        now: datetime | None = None,
    ) -> QuotaUsage:
        moment = self._now(now)
        limits = await self.limits_for(guild_id, role_ids)
        snap = await self.store.usage_for(user_id, guild_id, moment)
        day_reset, month_reset = next_day_start(moment), next_month_start(moment)
        cooldown_until = None
        if limits.cooldown_seconds and snap.user_last_request_at is not None:
            ready = snap.user_last_request_at + timedelta(seconds=limits.cooldown_seconds)
            cooldown_until = ready if ready > moment else None
        return QuotaUsage(
            user_id=user_id,
            guild_id=guild_id,
            now=moment,
            limits=limits,
            images_today=Allowance(snap.user_images_today, limits.user_daily_images, day_reset),
            usd_today=Allowance(snap.user_usd_today, limits.user_daily_usd, day_reset),
            images_month=snap.user_images_month,
            usd_month=snap.user_usd_month,
            in_flight=snap.user_in_flight,
            cooldown_until=cooldown_until,
            guild_month=(
                None
                if guild_id is None
                else Allowance(snap.guild_usd_month, limits.guild_monthly_usd, month_reset)
            ),
            global_today=Allowance(snap.global_usd_today, limits.global_daily_usd, day_reset),
        )

    async def stats(
        self,
        guild_id: int,
        *,
        days: int = 30,
        since: date | None = None,
        top: int = 10,
        now: datetime | None = None,
    ) -> GuildStats:
        """Committed images and spend per UTC day, top users and providers (for /stats)."""
        if since is None:
            since = self._now(now).date() - timedelta(days=max(days, 1) - 1)
        return await self.store.guild_stats(guild_id, since, top=top)

    async def export(self, since: date, guild_id: int | None = None) -> list[UsageRow]:
        """The ledger rows for `canvasbot usage --since DATE [--guild ID] --csv`."""
        return await self.store.export_usage(since, guild_id)

    # --- administration (/settings quota …) --------------------------------------------------

    async def guild_overrides(self, guild_id: int) -> QuotaOverrides:
        return await self.store.get_guild_quota(guild_id)

    async def update_guild_overrides(
        self, guild_id: int, *, updated_by: int | None, **changes: float | None
    ) -> QuotaOverrides:
        """Change some of the server's values (a None value goes back to the bot's default)."""
        _check_values(changes)
        current = await self.store.get_guild_quota(guild_id)
        updated = dataclasses.replace(current, **changes)  # type: ignore[arg-type]
        self._settings.pop(guild_id, None)
        await self.store.set_guild_quota(
            guild_id, updated, updated_by=updated_by, now=self._now(None)
        )
        return updated

    async def clear_guild_overrides(self, guild_id: int, *, updated_by: int | None) -> None:
        self._settings.pop(guild_id, None)
        await self.store.set_guild_quota(
            guild_id, QuotaOverrides(), updated_by=updated_by, now=self._now(None)
        )

    async def role_overrides(self, guild_id: int) -> list[RoleQuota]:
        return await self.store.role_quotas(guild_id)

    async def set_role_override(
        self, guild_id: int, quota: RoleQuota, *, updated_by: int | None
    ) -> None:
        _check_values({f.name: getattr(quota, f.name) for f in dataclasses.fields(quota)})
        self._settings.pop(guild_id, None)
        await self.store.set_role_quota(guild_id, quota, updated_by=updated_by, now=self._now(None))

    async def remove_role_override(self, guild_id: int, role_id: int) -> bool:
        self._settings.pop(guild_id, None)
        return await self.store.remove_role_quota(guild_id, role_id)

    async def reset_user_day(
        self,
        guild_id: int | None,
        user_id: int,
        *,
        reset_by: int | None,
        now: datetime | None = None,
    ) -> QuotaReset:
        """Forgive the user's images and dollars today in this server (recorded, not deleted)."""
        return await self.store.reset_user_day(
            guild_id, user_id, reset_by=reset_by, now=self._now(now)
        )


def _check_values(values: Mapping[str, Any]) -> None:
    for name, value in values.items():
        if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
            raise ValueError(f"{name} must not be negative")


USAGE_CSV_COLUMNS = tuple(f.name for f in dataclasses.fields(UsageRow))


def write_usage_csv(rows: Iterable[UsageRow], out: TextIO) -> int:
    """Write the ledger rows as CSV (a header, then one line per row); how many rows.

    Times are ISO 8601 in UTC, money is US dollars, an empty cell is no value.
    """
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(USAGE_CSV_COLUMNS)
    count = 0
    for row in rows:
        writer.writerow([_csv_cell(getattr(row, column)) for column in USAGE_CSV_COLUMNS])
        count += 1
    return count


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


class Hold:
    """An open reservation inside `QuotaService.hold`: commit it, or let the block release it."""

    def __init__(self, service: QuotaService, reservation: Reservation) -> None:
        self.service = service
        self.reservation = reservation
        self.settled = False

    async def commit(self, actual_usd: float, *, images: int | None = None) -> bool:
        self.settled = True
        return await self.service.commit(self.reservation.id, actual_usd, images=images)

    async def release(self, reason: str) -> bool:
        """Release early with a reason (e.g. "blocked" by the safety check)."""
        self.settled = True
        return await self.service.release(self.reservation.id, reason)

    async def _settle_on_exit(self, reason: str) -> None:
        if not self.settled:
            # Shielded: a second cancellation must not leave the reservation to expire.
            await asyncio.shield(self.release(reason))
