"""The generation pipeline, free of Discord: validate → record → route → record the outcome.

Every entry point (slash commands, buttons, the CLI) calls this service, so a generation behaves
the same wherever it was asked for.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime

from bot.metrics import Metrics
from bot.services.display import for_display
from bot.services.errors import (
    GenerationFailed,
    ImagesWithheld,
    InvalidOptions,
    NothingToVary,
    PromptBlocked,
    QuotaRefused,
    UserFacingError,
    explain_provider_error,
)
from bot.services.moderation import SafetyService, Screening, withhold_flagged
from bot.services.quotas import Hold, QuotaExceeded, QuotaService
from bot.storage import GenerationRecord, GenerationStatus, NewGeneration, Store
from bot.storage.models import LimitName
from providers.base import (
    MAX_SEED,
    PROMPT_MAX_CHARS,
    PROMPT_MIN_CHARS,
    Aspect,
    GenerationRequest,
    ProviderResult,
)
from providers.catalog import Catalog, ModelSpec, UnknownModel
from providers.errors import ContentBlocked, ProviderError
from providers.router import Attempt, RoutedResult, Router

__all__ = [
    "GenerationOptions",
    "GenerationRecord",
    "GenerationService",
    "Outcome",
    "Prepared",
    "Requester",
    "parse_message_ref",
]

log = logging.getLogger(__name__)

MAX_COUNT = 4
_MESSAGE_LINK = re.compile(r"channels/(?:@me|\d+)/\d+/(\d+)")


def parse_message_ref(ref: str | int) -> int:
    """A message id from an id or a message link (https://discord.com/channels/g/c/m)."""
    text = str(ref).strip()
    match = _MESSAGE_LINK.search(text)
    if match:
        return int(match.group(1))
    if text.isdigit() and len(text) <= 20:
        return int(text)
    raise InvalidOptions("Give a message link (Copy Message Link) or a message id.")


@dataclass(frozen=True, slots=True)
class Requester:
    """Who asked, and where (ids only: the service knows nothing of Discord objects)."""

    user_id: int
    guild_id: int | None = None
    channel_id: int | None = None
    interaction_id: int | None = None
    role_ids: tuple[int, ...] = ()
    channel_age_restricted: bool = False  # Discord's NSFW flag: where `relaxed` may apply
    message_id: int | None = None  # the loading message the result will fill, when known


@dataclass(frozen=True, slots=True)
class GenerationOptions:
    prompt: str
    negative_prompt: str | None = None
    aspect: str = Aspect.SQUARE.value
    count: int = 1
    seed: int | None = None
    model: str | None = None
    private: bool = False


@dataclass(frozen=True, slots=True)
class Prepared:
    """Validated options, ready to run."""

    options: GenerationOptions
    request: GenerationRequest
    model: ModelSpec
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Outcome:
    record: GenerationRecord
    result: ProviderResult
    model: ModelSpec
    total_ms: float
    attempts: tuple[Attempt, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)


class GenerationService:
    def __init__(
        self,
        *,
        store: Store,
        router: Router,
        catalog: Catalog,
        default_model: str,
        metrics: Metrics | None = None,
        quotas: QuotaService | None = None,
        safety: SafetyService | None = None,
    ) -> None:
        self.metrics = metrics
        self.quotas = quotas
        self.safety = safety
        self.store = store
        self.router = router
        self.catalog = catalog
        self.default_model = catalog.get(default_model).key  # fail at start-up, not per request

    # -- validation (pure and cheap: runs before anything is spent) --------------------------

    def prepare(self, options: GenerationOptions) -> Prepared:
        prompt = options.prompt or ""
        visible = len(prompt.strip())
        if visible < PROMPT_MIN_CHARS:
            raise InvalidOptions("Your prompt needs at least two characters. Describe the image.")
        if len(prompt) > PROMPT_MAX_CHARS:
            raise InvalidOptions(
                f"Your prompt is {len(prompt)} characters long; the limit is {PROMPT_MAX_CHARS}. "
                "Please shorten it and try again."
            )
        negative = options.negative_prompt
        if negative and len(negative) > PROMPT_MAX_CHARS:
            raise InvalidOptions(
                f"The negative prompt is {len(negative)} characters long; the limit is "
                f"{PROMPT_MAX_CHARS}."
            )
        if options.seed is not None and not 0 <= options.seed <= MAX_SEED:
            raise InvalidOptions(f"A seed is a whole number from 0 to {MAX_SEED}.")
        if not 1 <= options.count <= MAX_COUNT:
            raise InvalidOptions(f"You can ask for 1 to {MAX_COUNT} images at a time.")
        try:
            aspect = Aspect(options.aspect)
        except ValueError:
            choices = ", ".join(a.value for a in Aspect)
            raise InvalidOptions(f"The aspect ratio must be one of {choices}.") from None
        model, notes = self._model_for(options.model)
        if options.count > model.max_images:
            raise InvalidOptions(f"{model.label} makes at most {model.max_images} images at once.")
        request = GenerationRequest(
            prompt=prompt,
            negative_prompt=negative,
            aspect=aspect,
            count=options.count,
            seed=options.seed,
            model=model.key,
        )
        return Prepared(replace(options, model=model.key), request, model, notes)

    def _model_for(self, key: str | None) -> tuple[ModelSpec, tuple[str, ...]]:
        if not key:
            return self.catalog.get(self.default_model), ()
        try:
            return self.catalog.get(key), ()
        except UnknownModel as exc:
            raise InvalidOptions(
                f"There is no model called “{for_display(key, 60, single_line=True)}”. "
                f"Available: {', '.join(exc.known)}."
            ) from None

    def options_from(self, record: GenerationRecord, **changes: object) -> GenerationOptions:
        """The options a past generation ran with, for /vary and /reseed."""
        options = GenerationOptions(
            prompt=record.prompt,
            negative_prompt=record.negative_prompt,
            aspect=record.aspect,
            count=record.count,
            seed=None,
            model=record.model,
            private=record.private,
        )
        return replace(options, **changes)  # type: ignore[arg-type]

    def prepare_from(self, record: GenerationRecord, **changes: object) -> Prepared:
        """Like `prepare`, but a model retired since the original falls back, with a note."""
        options = self.options_from(record, **changes)
        if options.model and options.model not in self.catalog:
            retired = options.model
            fallback = self.catalog.get(self.default_model)
            prepared = self.prepare(replace(options, model=fallback.key))
            note = f"`{retired}` is no longer offered, so {fallback.label} was used."
            return replace(prepared, notes=(*prepared.notes, note))
        return self.prepare(options)

    # -- running -----------------------------------------------------------------------------

    async def source_for(
        self, requester: Requester, message_ref: str | int | None = None
    ) -> GenerationRecord:
        """The generation to work from: a result message (link or id), else the latest."""
        if message_ref is None or message_ref == "":
            return await self.latest(requester.user_id)
        message_id = parse_message_ref(message_ref)
        record = await self.store.generation_by_message(message_id)
        if record is None:
            raise InvalidOptions("That message is not a Canvasbot result I know of.")
        self.check_access(record, requester.user_id)
        return record

    async def by_id(self, generation_id: int, requester: Requester) -> GenerationRecord:
        record = await self.store.get_generation(generation_id)
        if record is None:
            raise UserFacingError("That image is no longer in the history. Try `/generate`.")
        self.check_access(record, requester.user_id)
        return record

    @staticmethod
    def check_access(record: GenerationRecord, user_id: int) -> None:
        if record.private and record.user_id != user_id:
            raise UserFacingError("That generation is private to the person who made it.")

    async def latest(self, user_id: int) -> GenerationRecord:
        record = await self.store.latest_generation(user_id)
        if record is None:
            raise NothingToVary()
        return record

    async def run(
        self,
        requester: Requester,
        prepared: Prepared,
        *,
        kind: str = "generate",
        parent_id: int | None = None,
        on_provider: Callable[[str], None] | None = None,
    ) -> Outcome:
        started = time.perf_counter()
        screening = await self._screen(requester, prepared)
        if screening is not None:
            prepared = replace(
                prepared, request=prepared.request.model_copy(update={"safety": screening.options})
            )
        record = await self.store.create_generation(
            self._new_generation(requester, prepared, kind, parent_id)
        )
        if screening is not None and screening.verdict.blocked:
            await self._refuse(requester, record, screening)  # before any provider call
        try:
            async with self._hold(requester, prepared, record) as hold:
                routed = await self._route(record, prepared, started, on_provider)
                routed = await self._withhold_flagged(record, prepared, routed, hold)
                result = routed.result
                if hold is not None:
                    await hold.commit(result.cost_usd, images=len(result.images))
        except QuotaExceeded as exc:
            # Only reserving raises this: nothing was sent to a provider, nothing is charged.
            await self.store.fail_generation(
                record.id, status=GenerationStatus.REFUSED, error=f"quota: {exc.limit}"
            )
            raise QuotaRefused(exc.message, exc) from exc
        total_ms = (time.perf_counter() - started) * 1000
        finished = await self._finish(record, routed, total_ms)
        self._observe(requester, finished, routed)
        return Outcome(
            finished,
            result,
            routed.model or prepared.model,
            total_ms,
            routed.attempts,
            (*prepared.notes, *routed.notes),
        )

    # -- content safety (bot/services/moderation.py) -----------------------------------------

    async def _screen(self, requester: Requester, prepared: Prepared) -> Screening | None:
        """The server's verdict on the prompt and the provider knobs for this channel."""
        if self.safety is None:
            return None
        request = prepared.request
        return await self.safety.screen(
            requester.guild_id,
            requester.channel_age_restricted,
            request.prompt,
            request.negative_prompt,
        )

    async def _refuse(
        self, requester: Requester, record: GenerationRecord, screening: Screening
    ) -> None:
        verdict = screening.verdict
        await self.store.fail_generation(
            record.id, status=GenerationStatus.BLOCKED, error=f"safety: {verdict.moderator_detail}"
        )
        tell_moderators = await self._start_cooldown(requester, record)
        log.info(
            "generation %s blocked by the safety check: %s",
            record.id,
            verdict.category,
            extra={"generation_id": record.id, "outcome": "blocked"},
        )
        if self.metrics:
            self.metrics.generations.labels("none", record.model, "blocked").inc()
        raise PromptBlocked(
            verdict,
            replace(record, status=GenerationStatus.BLOCKED),
            modlog_channel_id=screening.server.modlog_channel_id if tell_moderators else None,
        )

    async def _start_cooldown(self, requester: Requester, record: GenerationRecord) -> bool:
        """A blocked request starts the member's cooldown like any other (an empty reservation,
        released at once: nothing is charged). Returns False when it came within the cooldown:
        the member is refused again, but the mod-log heard of them moments ago and is not
        flooded by someone pressing Enter on the same prompt."""
        if self.quotas is None:
            return True
        try:
            reservation = await self.quotas.reserve(
                requester.user_id,
                requester.guild_id,
                requester.role_ids,
                0,
                0.0,
                generation_id=record.id,
            )
        except QuotaExceeded as exc:
            return exc.limit is not LimitName.COOLDOWN
        await self.quotas.release(reservation.id, "blocked")
        return True

    async def _withhold_flagged(
        self,
        record: GenerationRecord,
        prepared: Prepared,
        routed: RoutedResult,
        hold: Hold | None,
    ) -> RoutedResult:
        """Images the provider flagged leave the result unless relaxed is in effect; they are not
        charged to the user (see `withhold_flagged`). When none is left: recorded as blocked."""
        withheld = withhold_flagged(routed.result, prepared.request.safety.level)
        if withheld is None:
            return routed
        provider = routed.result.provider
        log.warning(
            "generation %s: %s flagged %d image(s); withheld, provider cost $%.4f not charged",
            record.id,
            provider,
            withheld.count,
            withheld.cost_usd,
            extra={"generation_id": record.id, "withheld": withheld.count},
        )
        if self.metrics:
            self.metrics.spend_usd.labels(provider).inc(withheld.cost_usd)
        if not withheld.result.images:
            if hold is not None:
                await hold.release("withheld")
            await self.store.fail_generation(
                record.id,
                status=GenerationStatus.BLOCKED,
                error=f"withheld: {provider} flagged all {withheld.count} image(s); "
                f"provider cost ${withheld.cost_usd:.4f}, not charged",
                provider=provider,
            )
            raise ImagesWithheld(withheld.count)
        return replace(routed, result=withheld.result, notes=(*routed.notes, withheld.note))

    def _hold(
        self, requester: Requester, prepared: Prepared, record: GenerationRecord
    ) -> AbstractAsyncContextManager[Hold | None]:
        """Reserve the estimate (catalog price × images) against every limit before any
        provider is called; released on exit unless committed at the actual cost."""
        if self.quotas is None:
            return nullcontext()
        images = prepared.request.count
        return self.quotas.hold(
            requester.user_id,
            requester.guild_id,
            requester.role_ids,
            images,
            round(prepared.model.price_usd * images, 6),
            generation_id=record.id,
        )

    async def _route(
        self,
        record: GenerationRecord,
        prepared: Prepared,
        started: float,
        on_provider: Callable[[str], None] | None,
    ) -> RoutedResult:
        metrics = self.metrics
        if metrics:
            metrics.in_flight.inc()
        try:
            return await self.router.generate(prepared.request, prepared.model, on_provider)
        except ProviderError as exc:
            status = (
                GenerationStatus.BLOCKED
                if isinstance(exc, ContentBlocked)
                else GenerationStatus.FAILED
            )
            await self.store.fail_generation(
                record.id,
                status=status,
                error=str(exc)[:500],
                provider=exc.provider or None,
                total_latency_ms=(time.perf_counter() - started) * 1000,
                attempts=[asdict(a) for a in getattr(exc, "attempts", ())],
            )
            log.info(
                "generation %s %s: %s",
                record.id,
                status.value,
                exc,
                extra={"generation_id": record.id, "outcome": status.value},
            )
            if metrics:
                metrics.generations.labels(
                    exc.provider or "none", prepared.model.key, status.value
                ).inc()
            raise GenerationFailed(explain_provider_error(exc, prepared.model.label), exc) from exc
        except BaseException:
            # Cancelled or crashed mid-flight: record it so the row never stays pending.
            await asyncio.shield(
                self.store.fail_generation(
                    record.id, status=GenerationStatus.INTERRUPTED, error="interrupted"
                )
            )
            raise
        finally:
            if metrics:
                metrics.in_flight.dec()

    def _new_generation(
        self, requester: Requester, prepared: Prepared, kind: str, parent_id: int | None
    ) -> NewGeneration:
        request = prepared.request
        return NewGeneration(
            user_id=requester.user_id,
            guild_id=requester.guild_id,
            channel_id=requester.channel_id,
            interaction_id=requester.interaction_id,
            message_id=requester.message_id,
            prompt=request.prompt,
            negative_prompt=request.negative_prompt,
            aspect=request.aspect.value,
            count=request.count,
            requested_seed=request.seed,
            model=prepared.model.key,
            private=prepared.options.private,
            kind=kind,
            parent_id=parent_id,
        )

    async def _finish(
        self, record: GenerationRecord, routed: RoutedResult, total_ms: float
    ) -> GenerationRecord:
        result = routed.result
        seeds = tuple(image.seed for image in result.images)
        attempts = tuple(asdict(attempt) for attempt in routed.attempts)
        await self.store.complete_generation(
            record.id,
            provider=result.provider,
            model_id=result.model_id,
            seeds=seeds,
            cost_usd=result.cost_usd,
            cost_source=result.cost_source,
            provider_latency_ms=result.latency_ms,
            total_latency_ms=total_ms,
            hedge_cost_usd=routed.hedge_cost_usd,
            attempts=attempts,
        )
        return replace(
            record,
            status=GenerationStatus.SUCCEEDED,
            provider=result.provider,
            model_id=result.model_id,
            seeds=seeds,
            cost_usd=result.cost_usd,
            cost_source=result.cost_source,
            provider_latency_ms=result.latency_ms,
            total_latency_ms=total_ms,
            hedge_cost_usd=routed.hedge_cost_usd,
            attempts=attempts,
        )

    def _observe(
        self, requester: Requester, record: GenerationRecord, routed: RoutedResult
    ) -> None:
        """One log line per generation (structured in JSON logs) and the metrics."""
        result = routed.result
        fields = {
            "generation_id": record.id,
            "user_id": requester.user_id,
            "guild_id": requester.guild_id,
            "provider": result.provider,
            "model": result.model_id,
            "seeds": list(record.seeds),
            "cost_usd": result.cost_usd,
            "provider_ms": round(result.latency_ms, 1),
            "total_ms": round(record.total_latency_ms or 0.0, 1),
            "outcome": "succeeded",
        }
        log.info(
            "generation %(generation_id)s ok user=%(user_id)s guild=%(guild_id)s "
            "provider=%(provider)s model=%(model)s seeds=%(seeds)s cost=%(cost_usd).4f "
            "provider_ms=%(provider_ms).0f total_ms=%(total_ms).0f",
            fields,
            extra=fields,
        )
        metrics = self.metrics
        if metrics is None:
            return
        metrics.generations.labels(result.provider, result.model_key, "succeeded").inc()
        metrics.generation_seconds.labels(result.provider).observe(
            (record.total_latency_ms or 0.0) / 1000
        )
        metrics.provider_seconds.labels(result.provider).observe(result.latency_ms / 1000)
        metrics.spend_usd.labels(result.provider).inc(result.cost_usd)
        for attempt in routed.attempts:
            if attempt.outcome == "cancelled" and attempt.cost_usd:
                metrics.hedge_spend_usd.labels(attempt.provider).inc(attempt.cost_usd)

    async def generate(self, requester: Requester, options: GenerationOptions) -> Outcome:
        return await self.run(requester, self.prepare(options))

    async def vary(
        self,
        requester: Requester,
        *,
        source: GenerationRecord | None = None,
        count: int | None = None,
        private: bool | None = None,
        on_provider: Callable[[str], None] | None = None,
    ) -> Outcome:
        """The same prompt and settings with new seeds."""
        source = source or await self.latest(requester.user_id)
        changes: dict[str, object] = {}
        if count is not None:
            changes["count"] = count
        if private is not None:
            changes["private"] = private
        prepared = self.prepare_from(source, **changes)
        return await self.run(
            requester, prepared, kind="vary", parent_id=source.id, on_provider=on_provider
        )

    async def reseed(
        self,
        requester: Requester,
        seed: int,
        *,
        source: GenerationRecord | None = None,
        prompt: str | None = None,
        private: bool | None = None,
        on_provider: Callable[[str], None] | None = None,
    ) -> Outcome:
        """The same generation with exactly this seed (optionally a changed prompt)."""
        source = source or await self.latest(requester.user_id)
        changes: dict[str, object] = {"seed": seed, "count": 1}
        if prompt:
            changes["prompt"] = prompt
        if private is not None:
            changes["private"] = private
        prepared = self.prepare_from(source, **changes)
        return await self.run(
            requester, prepared, kind="reseed", parent_id=source.id, on_provider=on_provider
        )

    async def edit_prompt(
        self,
        requester: Requester,
        source: GenerationRecord,
        prompt: str,
        on_provider: Callable[[str], None] | None = None,
    ) -> Outcome:
        """A new prompt, keeping the seed and every other option."""
        seed = source.first_seed
        prepared = self.prepare_from(source, prompt=prompt, seed=seed)  # private stays private
        return await self.run(
            requester, prepared, kind="edit", parent_id=source.id, on_provider=on_provider
        )

    async def recover_interrupted(
        self, owns_guild: Callable[[int | None], bool], *, started_before: datetime | None = None
    ) -> list[GenerationRecord]:
        """After a restart: generations that were in flight (in the servers this process
        serves) are marked interrupted and their reservations released. Returns the ones this
        call interrupted, so their requesters can be told nothing was charged."""
        now = datetime.now(UTC)
        interrupted = []
        for record in await self.store.pending_generations(started_before or now):
            if not owns_guild(record.guild_id):
                continue  # another shard process owns it, and may still be running it
            if await self.store.interrupt_generation(record.id, now=now):
                await self.store.release_reservations_for(record.id, "interrupted", now=now)
                interrupted.append(record)
        if interrupted:
            log.warning(
                "%d generation(s) were interrupted by a restart; nothing was charged",
                len(interrupted),
            )
        return interrupted

    async def history(self, user_id: int, *, page: int, per_page: int) -> list[GenerationRecord]:
        return await self.store.recent_generations(
            user_id, limit=per_page + 1, offset=page * per_page
        )

    async def record_message(self, generation_id: int, message_id: int) -> None:
        await self.store.set_message(generation_id, message_id)

    async def undelivered(self, record: GenerationRecord, reason: str) -> None:
        """The result was made but could not be posted: the member gets back what was charged
        (they have nothing to show for it), and the record says why."""
        refunded = await self.store.release_reservations_for(
            record.id, "undelivered", now=datetime.now(UTC), charged_too=True
        )
        await self.store.fail_generation(
            record.id,
            status=GenerationStatus.FAILED,
            error=f"undelivered: {reason}",
            total_latency_ms=record.total_latency_ms,
        )
        log.warning(
            "generation %s could not be posted (%s); %d reservation(s) refunded",
            record.id,
            reason,
            refunded,
            extra={"generation_id": record.id, "outcome": "undelivered"},
        )
