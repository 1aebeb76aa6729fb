"""Retry with backoff for transient provider failures (tenacity does the bookkeeping).

Only `TransientError` is retried. A server's Retry-After is honoured; when it asks for longer than
`max_delay` we stop retrying and let the router fail over instead of leaving a user waiting.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from providers.errors import RateLimited, TransientError

__all__ = ["RetryPolicy"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 3
    base_delay: float = 0.25
    max_delay: float = 4.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    def delay_for(self, error: BaseException | None, attempt: int) -> float:
        if isinstance(error, RateLimited) and error.retry_after is not None:
            return max(0.0, error.retry_after)
        backoff = self.base_delay * (2 ** (attempt - 1))
        return min(self.max_delay, backoff * random.uniform(0.8, 1.2))

    def _should_retry(self, error: BaseException) -> bool:
        if not isinstance(error, TransientError):
            return False
        # A Retry-After longer than we are willing to wait: fail over now.
        return not (
            isinstance(error, RateLimited)
            and error.retry_after is not None
            and error.retry_after > self.max_delay
        )

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        return self.delay_for(error, state.attempt_number)

    async def run(self, call: Callable[[], Awaitable[T]]) -> T:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(max(1, self.attempts)),
            wait=self._wait,
            retry=retry_if_exception(self._should_retry),
            sleep=self.sleep,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await call()
        raise AssertionError("unreachable: tenacity reraises the last error")
