"""Ordered providers behind one call: skip, retry (inside each client), fail over, hedge.

- Providers that cannot serve a request (prompt too long, no seeds, model not offered, breaker
  open) are skipped with the reason recorded.
- Faults about the prompt itself (ContentBlocked, InvalidRequest) never fail over: another provider
  would refuse it too — or, worse, accept what the first one refused.
- Hedging: when the provider in flight has not answered after the hedge delay (fixed, or its
  observed p90 latency within bounds), the next one starts too; the first success wins and the
  others are cancelled (clients send the provider's cancel call where the API has one).
- When every provider reports the model unavailable (retired), the model's `fallback` is tried,
  and the result says which model was used and why.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from providers.base import GenerationRequest, ImageProvider, ProviderResult
from providers.catalog import Catalog, ModelSpec, UnknownModel
from providers.errors import (
    BadResponse,
    ContentBlocked,
    InvalidRequest,
    ModelUnavailable,
    ProviderError,
)
from providers.health import BreakerState, CircuitBreaker, ProviderHealth

__all__ = ["Attempt", "HedgePolicy", "NoProviderAvailable", "RoutedResult", "Router"]

log = logging.getLogger(__name__)

NEVER_FAIL_OVER = (ContentBlocked, InvalidRequest)
MAX_IN_FLIGHT = 2


@dataclass(frozen=True, slots=True)
class Attempt:
    provider: str
    outcome: str  # succeeded | skipped | failed | hedged | cancelled
    detail: str = ""
    model: str = ""
    latency_ms: float | None = None
    cost_usd: float | None = None  # what a cancelled hedge may still have cost
    error: str = ""  # the error's class name when it failed (ContentBlocked, RateLimited, …)


class NoProviderAvailable(ProviderError):
    """No configured provider can serve this request; `attempts` says why for each."""

    def __init__(self, message: str, attempts: Sequence[Attempt]) -> None:
        super().__init__(message)
        self.attempts = tuple(attempts)


@dataclass(frozen=True, slots=True)
class RoutedResult:
    result: ProviderResult
    attempts: tuple[Attempt, ...] = ()
    model: ModelSpec | None = None  # the model that produced it (differs after a fallback)
    notes: tuple[str, ...] = ()

    @property
    def hedge_cost_usd(self) -> float:
        """Estimated cost of cancelled hedges (recorded for the operator, never charged)."""
        return round(sum(a.cost_usd or 0.0 for a in self.attempts if a.outcome == "cancelled"), 6)


@dataclass(frozen=True, slots=True)
class HedgePolicy:
    """`after_ms`: a fixed delay; None: the provider's p90 within [min_ms, max_ms]; 0: off."""

    after_ms: float | None = None
    min_ms: float = 500.0
    max_ms: float = 8000.0
    initial_ms: float = 4000.0  # before a provider has enough samples for a p90

    @property
    def enabled(self) -> bool:
        return self.after_ms != 0

    def delay_s(self, health: ProviderHealth) -> float:
        if self.after_ms is not None:
            return self.after_ms / 1000
        p90 = health.p90_ms()
        chosen = self.initial_ms if p90 is None else p90
        return min(self.max_ms, max(self.min_ms, chosen)) / 1000


class Router:
    def __init__(
        self,
        providers: Sequence[ImageProvider],
        *,
        catalog: Catalog | None = None,
        hedge: HedgePolicy | None = None,
        breaker_threshold: int = 5,
        breaker_cooldown: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not providers:
            raise ValueError("the router needs at least one provider")
        self.providers = tuple(providers)
        self.catalog = catalog
        self.hedge = hedge or HedgePolicy(after_ms=0)
        self.health = {
            p.name: ProviderHealth(
                breaker=CircuitBreaker(breaker_threshold, breaker_cooldown, clock),
                max_concurrency=p.capabilities.max_concurrency,
            )
            for p in self.providers
        }

    @property
    def names(self) -> list[str]:
        return [provider.name for provider in self.providers]

    async def generate(
        self,
        request: GenerationRequest,
        model: ModelSpec,
        on_provider: Callable[[str], None] | None = None,
    ) -> RoutedResult:
        """`on_provider(name)` is called whenever a provider starts working on the request."""
        notes: list[str] = []
        earlier: list[Attempt] = []
        seen = {model.key}
        while True:
            try:
                routed = await self._route(request, model, on_provider)
            except ProviderError as exc:
                fallback = self._fallback_for(model, exc, seen)
                if fallback is None:
                    raise
                notes.append(
                    f"{model.label} is not available from the configured providers "
                    f"(it may have been retired), so {fallback.label} was used."
                )
                earlier.extend(getattr(exc, "attempts", ()))
                model = fallback
                seen.add(model.key)
                request = request.model_copy(update={"model": model.key})
                continue
            return replace(
                routed, attempts=(*earlier, *routed.attempts), model=model, notes=tuple(notes)
            )

    def _fallback_for(
        self, model: ModelSpec, error: ProviderError, seen: set[str]
    ) -> ModelSpec | None:
        attempts = getattr(error, "attempts", ())
        failed = [a for a in attempts if a.outcome == "failed"]
        if not (
            isinstance(error, ModelUnavailable)
            and failed
            and all(a.detail.startswith("model unavailable") for a in failed)
        ):
            return None
        if not model.fallback or model.fallback in seen or self.catalog is None:
            return None
        try:
            return self.catalog.get(model.fallback)
        except UnknownModel:
            return None

    async def _route(
        self,
        request: GenerationRequest,
        model: ModelSpec,
        on_provider: Callable[[str], None] | None = None,
    ) -> RoutedResult:
        attempts: list[Attempt] = []
        queue: list[ImageProvider] = []
        for provider in self.providers:
            reason = provider.unsupported_reason(request, model)
            if reason:
                attempts.append(Attempt(provider.name, "skipped", reason, model.key))
            else:
                queue.append(provider)
        if not queue:
            raise NoProviderAvailable(
                "no configured provider can serve this request: "
                + "; ".join(a.detail for a in attempts),
                attempts,
            )

        running: dict[asyncio.Task[ProviderResult], tuple[ImageProvider, float]] = {}
        errors: list[ProviderError] = []

        def launch_next(outcome: str = "") -> bool:
            while queue:
                provider = queue.pop(0)
                breaker = self.health[provider.name].breaker
                probe = breaker.state is BreakerState.HALF_OPEN
                if not breaker.try_acquire():
                    attempts.append(
                        Attempt(provider.name, "skipped", "circuit breaker open", model.key)
                    )
                    continue
                if outcome:
                    attempts.append(Attempt(provider.name, outcome, "", model.key))
                task = asyncio.create_task(self._call(provider, request, model, probe=probe))
                if on_provider is not None:
                    on_provider(provider.name)
                running[task] = (provider, time.perf_counter())
                return True
            return False

        async def cancel_running() -> None:
            for task, (provider, started) in list(running.items()):
                task.cancel()
                offer = provider.offer_for(model)
                maybe_cost = (offer.price_usd * request.count) if offer else None
                attempts.append(
                    Attempt(
                        provider.name,
                        "cancelled",
                        "another provider answered",
                        model.key,
                        (time.perf_counter() - started) * 1000,
                        maybe_cost,
                    )
                )
            await asyncio.gather(*running, return_exceptions=True)
            running.clear()

        launch_next()
        try:
            while running:
                timeout = self._hedge_timeout(running) if queue else None
                done, _ = await asyncio.wait(
                    running, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
                if not done:
                    launch_next("hedged")
                    continue
                for task in done:
                    provider, started = running.pop(task)
                    latency = (time.perf_counter() - started) * 1000
                    error = task.exception()
                    if error is None:
                        attempts.append(Attempt(provider.name, "succeeded", "", model.key, latency))
                        await cancel_running()
                        return RoutedResult(task.result(), tuple(attempts), model)
                    if not isinstance(error, ProviderError):
                        log.error("provider %s raised unexpectedly", provider.name, exc_info=error)
                        error = BadResponse(
                            f"unexpected {type(error).__name__}", provider=provider.name
                        )
                    detail = (
                        "model unavailable: " if isinstance(error, ModelUnavailable) else ""
                    ) + str(error)
                    attempts.append(
                        Attempt(
                            provider.name,
                            "failed",
                            detail,
                            model.key,
                            latency,
                            error=type(error).__name__,
                        )
                    )
                    if isinstance(error, NEVER_FAIL_OVER):
                        await cancel_running()
                        error.attempts = tuple(attempts)  # type: ignore[attr-defined]
                        raise error
                    errors.append(error)
                if not running:
                    launch_next()
        finally:
            if running:  # we were cancelled ourselves: take the providers down with us
                await cancel_running()
        first = (
            errors[0]
            if errors
            else NoProviderAvailable("every provider's circuit breaker is open", attempts)
        )
        first.attempts = tuple(attempts)  # type: ignore[attr-defined]
        raise first

    def _hedge_timeout(
        self, running: dict[asyncio.Task[ProviderResult], tuple[ImageProvider, float]]
    ) -> float | None:
        if not self.hedge.enabled or len(running) >= MAX_IN_FLIGHT:
            return None
        provider, started = max(running.values(), key=lambda item: item[1])
        waited = time.perf_counter() - started
        return max(0.0, self.hedge.delay_s(self.health[provider.name]) - waited)

    async def _call(
        self, provider: ImageProvider, request: GenerationRequest, model: ModelSpec, *, probe: bool
    ) -> ProviderResult:
        health = self.health[provider.name]
        try:
            semaphore = health.semaphore
            if semaphore is None:
                result = await provider.generate(request, model)
            else:
                async with semaphore:
                    result = await provider.generate(request, model)
        except (ContentBlocked, InvalidRequest, ModelUnavailable):
            # About the prompt or the model, not the provider's health: no verdict.
            if probe:
                health.breaker.abandon_probe()
            raise
        except ProviderError:
            health.failures += 1
            health.breaker.record_failure()
            raise
        except BaseException:
            # Cancelled (a hedge that lost, or the user went away): no verdict either.
            if probe:
                health.breaker.abandon_probe()
            raise
        health.successes += 1
        health.latencies_ms.append(result.latency_ms)
        health.breaker.record_success()
        return result
