"""Plain records the store reads and writes; no database or discord types leak out of storage."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "GUILD_SAFETY_FIELDS",
    "MICROS_PER_USD",
    "DayTotal",
    "EffectiveLimits",
    "GenerationRecord",
    "GenerationStatus",
    "GuildSafety",
    "GuildStats",
    "LimitName",
    "NewGeneration",
    "ProviderStats",
    "ProviderTotal",
    "QuotaOverrides",
    "QuotaRefusal",
    "QuotaReset",
    "Reservation",
    "ReservationRequest",
    "ReservationStatus",
    "RoleQuota",
    "UsageRow",
    "UsageSnapshot",
    "UserTotal",
    "micros_to_usd",
    "optional_micros",
    "optional_usd",
    "usd_to_micros",
]


class GenerationStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    BLOCKED = "blocked"
    REFUSED = "refused"  # a quota or budget said no before any provider was called
    INTERRUPTED = "interrupted"


@dataclass(frozen=True, slots=True)
class NewGeneration:
    """What is known when a request arrives, before any provider is called."""

    user_id: int
    guild_id: int | None
    channel_id: int | None
    prompt: str
    negative_prompt: str | None
    aspect: str
    count: int
    requested_seed: int | None
    model: str
    private: bool = False
    kind: str = "generate"  # generate | vary | reseed
    parent_id: int | None = None
    interaction_id: int | None = None
    message_id: int | None = None  # the loading message the result will fill, when known


@dataclass(frozen=True, slots=True)
class GenerationRecord:
    id: int
    user_id: int
    guild_id: int | None
    channel_id: int | None
    prompt: str
    negative_prompt: str | None
    aspect: str
    count: int
    requested_seed: int | None
    model: str
    private: bool
    kind: str
    parent_id: int | None
    status: GenerationStatus
    created_at: datetime
    interaction_id: int | None = None
    provider: str | None = None
    model_id: str | None = None
    seeds: tuple[int | None, ...] = field(default_factory=tuple)
    cost_usd: float | None = None
    cost_source: str | None = None
    error: str | None = None
    provider_latency_ms: float | None = None
    total_latency_ms: float | None = None
    finished_at: datetime | None = None
    message_id: int | None = None
    # Estimated cost of the hedges cancelled for it (recorded, never charged); None before 0003.
    hedge_cost_usd: float | None = None
    # Every provider attempt: {"provider", "outcome", "detail", "model", "latency_ms",
    # "cost_usd", "error"} (outcome: succeeded | failed | skipped | hedged | cancelled).
    attempts: tuple[dict[str, Any], ...] = ()

    @property
    def first_seed(self) -> int | None:
        """The seed that reproduces the first image: reported, else the one asked for."""
        return next((s for s in self.seeds if s is not None), self.requested_seed)


@dataclass(frozen=True, slots=True)
class ProviderStats:
    """One provider's recent record, from the generations table (what `canvasbot providers` shows).

    `requests` counts calls sent: successes, failures, refusals and cancelled calls. `failures` are
    the provider's own faults (errors, timeouts, rate limits, retired models); `refused` are
    prompts or options it refused (ContentBlocked, InvalidRequest), which say nothing about its
    health and are left out of the error rate. Latencies are of successful calls; `spend_usd` is
    what was charged for its results, `hedge_spend_usd` the estimated cost of its cancelled hedges.
    """

    provider: str
    requests: int = 0
    successes: int = 0
    failures: int = 0
    refused: int = 0
    cancelled: int = 0
    p50_ms: float | None = None
    p90_ms: float | None = None
    spend_usd: float = 0.0
    hedge_spend_usd: float = 0.0

    @property
    def error_rate(self) -> float | None:
        """Failures among the calls that finished with a verdict; None when there were none."""
        judged = self.successes + self.failures
        return self.failures / judged if judged else None


# --- The quota ledger -------------------------------------------------------------------------
#
# Money is carried as float US dollars at this boundary (like the catalog's prices) and stored as
# integer micro-dollars, so sums and comparisons against a limit are exact in both engines.

MICROS_PER_USD = 1_000_000


def usd_to_micros(usd: float) -> int:
    return round(usd * MICROS_PER_USD)


def micros_to_usd(micros: int) -> float:
    return micros / MICROS_PER_USD


def optional_usd(micros: int | None) -> float | None:
    """`micros_to_usd` for a nullable column: NULL (no value, or no limit) stays None."""
    return None if micros is None else micros_to_usd(micros)


def optional_micros(usd: float | None) -> int | None:
    """`usd_to_micros` for a nullable column: None stays NULL."""
    return None if usd is None else usd_to_micros(usd)


class ReservationStatus(StrEnum):
    RESERVED = "reserved"  # held against every limit until committed, released or expired
    COMMITTED = "committed"  # charged at the actual cost
    RELEASED = "released"  # given back by its owner (failed, blocked, cancelled)
    EXPIRED = "expired"  # given back because its owner never settled it (a crash)


class LimitName(StrEnum):
    """Every limit a reservation is checked against, in the order they are checked."""

    CONCURRENT = "concurrent"  # the user's generations in flight, across the whole bot
    COOLDOWN = "cooldown"  # seconds since the user's last request, across the whole bot
    USER_DAILY_IMAGES = "user_daily_images"  # the user's images today, in this server
    USER_DAILY_USD = "user_daily_usd"  # the user's dollars today, in this server
    GUILD_MONTHLY_USD = "guild_monthly_usd"  # the server's dollars this month
    GLOBAL_DAILY_USD = "global_daily_usd"  # the whole bot's dollars today


@dataclass(frozen=True, slots=True)
class EffectiveLimits:
    """The limits one request is checked against; None means no limit of that kind."""

    user_daily_images: int | None
    user_daily_usd: float | None
    cooldown_seconds: float | None
    max_concurrent: int | None
    guild_monthly_usd: float | None
    global_daily_usd: float | None
    exempt: bool = False  # informational: the user limits were lifted by an exempt role


@dataclass(frozen=True, slots=True)
class ReservationRequest:
    user_id: int
    guild_id: int | None  # None in DMs: no server budget applies
    images: int
    est_usd: float
    generation_id: int | None = None


@dataclass(frozen=True, slots=True)
class Reservation:
    id: int
    user_id: int
    guild_id: int | None
    generation_id: int | None
    images: int  # reserved
    est_usd: float
    status: ReservationStatus
    created_at: datetime
    expires_at: datetime
    day: date  # UTC day the reservation is charged to
    month: date  # first day of its UTC month
    actual_images: int | None = None
    actual_usd: float | None = None
    settled_at: datetime | None = None
    release_reason: str | None = None
    reset_id: int | None = None  # set when an admin reset the user's day over this row


@dataclass(frozen=True, slots=True)
class QuotaRefusal:
    """Why a reservation did not fit: the limit, what is used, and when it resets."""

    limit: LimitName
    used: float  # images, dollars, requests in flight or seconds since the last request
    allowed: float  # the limit's value
    requested: float  # what this request asked for (images, dollars, 1, or 0 for the cooldown)
    resets_at: datetime | None  # None: frees up when a generation in flight finishes


@dataclass(frozen=True, slots=True)
class UsageSnapshot:
    """Committed plus open (unexpired) reservations, as seen at one instant."""

    now: datetime
    user_images_today: int  # in this server, since the last reset of the user's day
    user_usd_micros_today: int
    user_images_month: int  # in this server
    user_usd_micros_month: int
    user_in_flight: int  # across the whole bot
    user_last_request_at: datetime | None  # across the whole bot
    guild_usd_micros_month: int  # 0 in DMs
    global_usd_micros_today: int

    @property
    def user_usd_today(self) -> float:
        return micros_to_usd(self.user_usd_micros_today)

    @property
    def user_usd_month(self) -> float:
        return micros_to_usd(self.user_usd_micros_month)

    @property
    def guild_usd_month(self) -> float:
        return micros_to_usd(self.guild_usd_micros_month)

    @property
    def global_usd_today(self) -> float:
        return micros_to_usd(self.global_usd_micros_today)


@dataclass(frozen=True, slots=True)
class QuotaOverrides:
    """A server's own values; None inherits the bot's default."""

    user_daily_images: int | None = None
    user_daily_usd: float | None = None
    cooldown_seconds: float | None = None
    max_concurrent: int | None = None
    guild_monthly_usd: float | None = None


@dataclass(frozen=True, slots=True)
class RoleQuota:
    """A role's values in one server; None leaves that limit to the server's value."""

    role_id: int
    exempt: bool = False  # no user limits at all (the server and bot budgets still apply)
    user_daily_images: int | None = None
    user_daily_usd: float | None = None
    cooldown_seconds: float | None = None
    max_concurrent: int | None = None


@dataclass(frozen=True, slots=True)
class QuotaReset:
    """An admin's reset of a user's day in one server (the audit trail)."""

    id: int
    guild_id: int | None
    user_id: int
    day: date
    reset_by: int | None
    created_at: datetime
    images: int  # what was forgiven: committed at actual, open at the estimate
    usd: float


@dataclass(frozen=True, slots=True)
class DayTotal:
    day: date
    images: int
    usd: float


@dataclass(frozen=True, slots=True)
class UserTotal:
    user_id: int
    images: int
    usd: float


@dataclass(frozen=True, slots=True)
class ProviderTotal:
    provider: str  # "unknown" for charges not linked to a generation
    images: int
    usd: float


@dataclass(frozen=True, slots=True)
class GuildStats:
    """Committed charges in one server since a UTC day (what /stats shows)."""

    guild_id: int
    since: date
    days: tuple[DayTotal, ...]
    top_users: tuple[UserTotal, ...]
    providers: tuple[ProviderTotal, ...]

    @property
    def images(self) -> int:
        return sum(d.images for d in self.days)

    @property
    def usd(self) -> float:
        return sum(d.usd for d in self.days)


@dataclass(frozen=True, slots=True)
class UsageRow:
    """One ledger row as exported (`canvasbot usage --csv`)."""

    reservation_id: int
    created_at: datetime
    day: date
    guild_id: int | None
    user_id: int
    generation_id: int | None
    provider: str | None
    model: str | None
    status: ReservationStatus
    images: int
    est_usd: float
    actual_images: int | None
    actual_usd: float | None
    release_reason: str | None
    reset_id: int | None


# --- Content safety -----------------------------------------------------------------------------

# The columns of `guild_safety` a server can change (what `Store.update_guild_safety` accepts).
GUILD_SAFETY_FIELDS = ("level", "people", "modlog_channel_id")


@dataclass(frozen=True, slots=True)
class GuildSafety:
    """A server's safety choices; None follows the bot's default (or, for the mod-log, none).

    Plain strings here: `level` is a `providers.base.SafetyLevel` value, `people` a
    `PersonPolicy` value; the safety service turns them into those types.
    """

    level: str | None = None
    people: str | None = None
    modlog_channel_id: int | None = None
