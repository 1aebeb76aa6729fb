"""Per-provider health: recent latencies (for the hedge delay) and a circuit breaker.

Breaker: `threshold` consecutive failures open it; after `cooldown` seconds one probe request is
let through (half-open); its success closes the breaker, its failure opens it again.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["BreakerState", "CircuitBreaker", "ProviderHealth"]


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass
class CircuitBreaker:
    threshold: int = 5
    cooldown: float = 30.0
    clock: Callable[[], float] = time.monotonic
    failures: int = 0
    opened_at: float | None = None
    probing: bool = False

    @property
    def state(self) -> BreakerState:
        if self.opened_at is None:
            return BreakerState.CLOSED
        if self.probing or self.clock() - self.opened_at >= self.cooldown:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def try_acquire(self) -> bool:
        """May a request go to this provider now? Takes the single probe slot when half-open."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self.probing:
            self.probing = True
            return True
        return False

    def record_success(self) -> None:
        self.failures, self.opened_at, self.probing = 0, None, False

    def record_failure(self) -> None:
        self.failures += 1
        if self.probing or self.failures >= self.threshold:
            self.opened_at = self.clock()
        self.probing = False

    def abandon_probe(self) -> None:
        """The probe was cancelled before it told us anything: let a later request probe."""
        self.probing = False


@dataclass
class ProviderHealth:
    breaker: CircuitBreaker
    max_concurrency: int | None = None
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=50))
    successes: int = 0
    failures: int = 0
    _semaphore: asyncio.Semaphore | None = None

    @property
    def semaphore(self) -> asyncio.Semaphore | None:
        # Created lazily, inside the running loop.
        if self.max_concurrency and self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.max_concurrency)
        return self._semaphore

    def p90_ms(self, min_samples: int = 5) -> float | None:
        if len(self.latencies_ms) < min_samples:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, math.ceil(0.9 * len(ordered)) - 1)]
