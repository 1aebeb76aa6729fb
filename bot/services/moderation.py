"""Per-server content safety: each server's choices, its own block list, and the prompt check that
runs before anything is spent. Never imports discord.

    safety = SafetyService(store, default_level="standard", operator_terms=("clowns",))
    screening = await safety.screen(guild_id, channel_age_restricted, prompt, negative)
    if screening.verdict.blocked:
        ...  # refuse: verdict.user_message for the user, verdict.moderator_detail for the mod-log
    request = request.model_copy(update={"safety": screening.options})  # the providers' knobs

A server's settings, with its policy (the shipped lists, the operator's terms and the server's own,
indexed once), are cached. A change made through this service is seen at once by this process;
another process sharing the database sees it within `cache_ttl` seconds.

The level applies as `effective_level` says: `relaxed` only in age-restricted channels, `standard`
elsewhere. Images a provider flags are withheld unless the effective level is `relaxed` (then they
are posted as spoilers): see `withhold_flagged`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from bot.services.display import for_display
from bot.services.errors import UserFacingError
from bot.services.safety import (
    SafetyPolicy,
    Verdict,
    effective_level,
    normalize_term,
    shipped_matcher,
)
from bot.storage import Store
from bot.storage.models import GuildSafety
from providers.base import PersonPolicy, ProviderResult, SafetyLevel, SafetyOptions

__all__ = [
    "MAX_SERVER_TERMS",
    "MAX_TERM_CHARS",
    "PEOPLE_CHOICES",
    "InvalidTerm",
    "SafetyService",
    "Screening",
    "ServerSafety",
    "TermChange",
    "Withheld",
    "withhold_flagged",
]

MAX_SERVER_TERMS = 200
MAX_TERM_CHARS = 100
DEFAULT_CACHE_TTL_S = 60.0


class InvalidTerm(UserFacingError):
    """A block-list term that cannot be added (too short, too long, or the list is full)."""


# The people policy by the names admins and operators use (/settings safety people,
# CANVASBOT_SAFETY_PEOPLE).
PEOPLE_CHOICES = {"allow_adults": PersonPolicy.ALLOW_ADULT, "no_people": PersonPolicy.DONT_ALLOW}


@dataclass(frozen=True, slots=True)
class ServerSafety:
    """One server's settings as they apply (defaults filled in), with its policy."""

    guild_id: int | None
    level: SafetyLevel
    people: PersonPolicy
    modlog_channel_id: int | None
    terms: tuple[str, ...]
    level_is_default: bool  # the server chose no level: it follows CANVASBOT_SAFETY_LEVEL
    people_is_default: bool  # the server chose no policy: it follows CANVASBOT_SAFETY_PEOPLE
    policy: SafetyPolicy = field(repr=False, compare=False)

    def options(self, channel_age_restricted: bool) -> SafetyOptions:
        """What the providers' own filters are asked for, in a channel of this server."""
        return SafetyOptions(
            level=effective_level(self.level, channel_age_restricted), people=self.people
        )


@dataclass(frozen=True, slots=True)
class Screening:
    """The verdict on one prompt, and the provider options for the request if it goes ahead."""

    verdict: Verdict
    options: SafetyOptions
    server: ServerSafety

    @property
    def shows_flagged(self) -> bool:
        """Whether an image the provider flags may be posted (as a spoiler): relaxed only, which
        is only ever in effect in an age-restricted channel."""
        return self.options.level is SafetyLevel.RELAXED


@dataclass(frozen=True, slots=True)
class TermChange:
    term: str  # the canonical form that is matched and stored
    changed: bool  # False: it was already (or was not) on the list


@dataclass(frozen=True, slots=True)
class Withheld:
    """What is left of a result once flagged images are taken out, and what was taken."""

    result: ProviderResult  # the images that may be posted, costed at those images only
    count: int  # images withheld
    cost_usd: float  # what the provider billed for them
    note: str  # for the user, under the images that were posted


def withhold_flagged(result: ProviderResult, level: SafetyLevel) -> Withheld | None:
    """Take out the images a provider flagged, unless `level` (the level in effect) is relaxed.

    The fair-charging rule: the user is charged only for images they are shown. The provider
    did bill the withheld ones; the caller logs that spend for the operator. None: nothing
    was flagged, or relaxed lets flagged images through (they are posted as spoilers).
    """
    flagged = [image for image in result.images if image.flagged_nsfw]
    if not flagged or level is SafetyLevel.RELAXED:
        return None
    kept = tuple(image for image in result.images if not image.flagged_nsfw)
    per_image = result.cost_usd / len(result.images)
    kept_cost = round(sum(per_image if i.cost_usd is None else i.cost_usd for i in kept), 6)
    total = len(result.images)
    if len(flagged) == 1:
        note = (
            f"The provider's safety check flagged 1 of the {total} images, so I didn't post it "
            "here; it was not charged."
        )
    else:
        note = (
            f"The provider's safety check flagged {len(flagged)} of the {total} images, so I "
            "didn't post them here; they were not charged."
        )
    return Withheld(
        result=replace(result, images=kept, cost_usd=kept_cost),
        count=len(flagged),
        cost_usd=round(max(0.0, result.cost_usd - kept_cost), 6),
        note=note,
    )


def _utcnow() -> datetime:
    return datetime.now(UTC)


class SafetyService:
    def __init__(
        self,
        store: Store,
        *,
        default_level: SafetyLevel | str = SafetyLevel.STANDARD,
        default_people: PersonPolicy | str = PersonPolicy.ALLOW_ADULT,
        operator_terms: Iterable[str] = (),
        cache_ttl: float = DEFAULT_CACHE_TTL_S,
        max_terms: int = MAX_SERVER_TERMS,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.store = store
        self.default_level = SafetyLevel(default_level)
        self.default_people = PersonPolicy(default_people)
        self.operator_terms = tuple(operator_terms)
        self.cache_ttl = cache_ttl
        self.max_terms = max_terms
        self._monotonic = monotonic
        self._clock = clock
        self._cache: dict[int, tuple[float, ServerSafety]] = {}
        self._versions: dict[int, int] = {}
        shipped_matcher()  # index the shipped lists now, not on the first prompt
        self._dm = self._build(None, GuildSafety(), ())

    # --- reading ----------------------------------------------------------------------------

    async def server(self, guild_id: int | None) -> ServerSafety:
        """The server's settings (DMs: the operator's defaults), from the cache when fresh."""
        if guild_id is None:
            return self._dm
        cached = self._cache.get(guild_id)
        if cached is not None and self._monotonic() - cached[0] < self.cache_ttl:
            return cached[1]
        version = self._versions.get(guild_id, 0)
        loaded_at = self._monotonic()
        choices = await self.store.get_guild_safety(guild_id)
        terms = await self.store.blocked_terms(guild_id)
        server = self._build(guild_id, choices, terms)
        # A change made while this was loading wins: keep what was read out of the cache.
        if self._versions.get(guild_id, 0) == version:
            self._cache[guild_id] = (loaded_at, server)
        return server

    async def screen(
        self,
        guild_id: int | None,
        channel_age_restricted: bool,
        prompt: str,
        negative_prompt: str | None = None,
    ) -> Screening:
        """Judge a prompt (and negative prompt) where it was asked; no provider is involved."""
        server = await self.server(guild_id)
        options = server.options(channel_age_restricted)
        verdict = server.policy.check(prompt, negative_prompt, level=options.level)
        return Screening(verdict, options, server)

    def forget(self, guild_id: int) -> None:
        """Drop the cached settings (the next prompt reads them again)."""
        self._versions[guild_id] = self._versions.get(guild_id, 0) + 1
        self._cache.pop(guild_id, None)

    def _build(
        self, guild_id: int | None, choices: GuildSafety, terms: Iterable[str]
    ) -> ServerSafety:
        level = SafetyLevel(choices.level) if choices.level else self.default_level
        terms = tuple(terms)
        return ServerSafety(
            guild_id=guild_id,
            level=level,
            people=PersonPolicy(choices.people) if choices.people else self.default_people,
            modlog_channel_id=choices.modlog_channel_id,
            terms=terms,
            level_is_default=choices.level is None,
            people_is_default=choices.people is None,
            policy=SafetyPolicy.from_settings(level, self.operator_terms, terms),
        )

    # --- changing (each change is one statement, then the cache entry is dropped) ----------

    async def set_level(
        self, guild_id: int, level: SafetyLevel | str | None, *, by: int | None
    ) -> ServerSafety:
        """Set the server's level; None follows the operator's default again."""
        value = None if level is None else SafetyLevel(level).value
        return await self._update(guild_id, {"level": value}, by)

    async def set_people(
        self, guild_id: int, people: PersonPolicy | str | None, *, by: int | None
    ) -> ServerSafety:
        value = None if people is None else PersonPolicy(people).value
        return await self._update(guild_id, {"people": value}, by)

    async def claim_report(
        self, generation_id: int, reporter_id: int, guild_id: int | None
    ) -> bool:
        """Note a report of a result; False when this person had reported it already."""
        return await self.store.claim_report(
            generation_id, reporter_id, guild_id, now=self._clock()
        )

    async def withdraw_report(self, generation_id: int, reporter_id: int) -> None:
        """Forget a report that could not be passed on, so the person may try again."""
        await self.store.withdraw_report(generation_id, reporter_id)

    async def set_modlog(
        self, guild_id: int, channel_id: int | None, *, by: int | None
    ) -> ServerSafety:
        """Where blocked requests and reports are posted; None turns the mod-log off."""
        return await self._update(guild_id, {"modlog_channel_id": channel_id}, by)

    async def _update(
        self, guild_id: int, changes: dict[str, str | int | None], by: int | None
    ) -> ServerSafety:
        try:
            await self.store.update_guild_safety(
                guild_id, changes, updated_by=by, now=self._clock()
            )
        finally:
            self.forget(guild_id)
        return await self.server(guild_id)

    async def add_term(self, guild_id: int, raw: str, *, by: int | None) -> TermChange:
        """Add a term to the server's list, in the canonical form it is matched in."""
        term = self._canonical(raw)
        known = await self.store.blocked_terms(guild_id)
        if term in known:
            return TermChange(term, changed=False)
        if len(known) >= self.max_terms:
            raise InvalidTerm(
                f"This server's block list is full ({self.max_terms} terms). "
                "Remove one with `/settings safety blocklist action:remove` first."
            )
        try:
            added = await self.store.add_blocked_term(
                guild_id, term, added_by=by, now=self._clock()
            )
        finally:
            self.forget(guild_id)
        return TermChange(term, changed=added)

    async def remove_term(self, guild_id: int, raw: str) -> TermChange:
        term = normalize_term(raw) or raw.strip()
        try:
            removed = await self.store.remove_blocked_term(guild_id, term)
        finally:
            self.forget(guild_id)
        return TermChange(term, changed=removed)

    @staticmethod
    def _canonical(raw: str) -> str:
        if len(raw) > MAX_TERM_CHARS * 2:
            raise InvalidTerm(f"A block-list term can be at most {MAX_TERM_CHARS} characters.")
        term = normalize_term(raw)
        if term is None:
            shown = for_display(raw, 60, single_line=True) or "that"
            raise InvalidTerm(
                f"“{shown}” can't be used as a term: it needs at least two letters or digits."
            )
        if len(term) > MAX_TERM_CHARS:
            raise InvalidTerm(f"A block-list term can be at most {MAX_TERM_CHARS} characters.")
        return term
