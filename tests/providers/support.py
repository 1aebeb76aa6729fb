"""Helpers the provider contract tests share (fixtures live in conftest.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from providers.retry import RetryPolicy

__all__ = ["quick_retry"]


def quick_retry(sleep: Callable[[float], Awaitable[None]], attempts: int = 3) -> RetryPolicy:
    """A retry policy with short backoff whose waits go to `sleep` (a RecordingSleep, usually)."""
    return RetryPolicy(attempts=attempts, base_delay=0.01, max_delay=4.0, sleep=sleep)
