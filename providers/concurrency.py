"""Run a few coroutines together; when one fails, cancel the rest and raise that first error.

`asyncio.gather` leaves the siblings running after a failure (an orphaned download, a queued job
nobody waits for), and `asyncio.TaskGroup` wraps the error in an ExceptionGroup, which would hide
the provider error tree from callers. This keeps the plain exception.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from typing import TypeVar

__all__ = ["gather_or_cancel"]

T = TypeVar("T")


async def gather_or_cancel(awaitables: Iterable[Awaitable[T]]) -> list[T]:
    tasks = [asyncio.ensure_future(awaitable) for awaitable in awaitables]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        # One failed: the siblings are still running. (When the caller cancelled us, gather has
        # already cancelled them and waited for them, so they are done by now.)
        for task in tasks:
            task.cancel()
        # Let every sibling run its cleanup (a cancel request, a closed response) before raising.
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
