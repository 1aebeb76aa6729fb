"""A gate the fakes' handlers pass through, so a test can hold a response and know it is held.

gate.close()            # the next requests through the gate wait
await gate.reached.wait()  # a request is now held by the fake
gate.open()             # let them all through (fixtures open every gate before teardown)
"""

from __future__ import annotations

import asyncio

__all__ = ["Gate"]


class Gate:
    def __init__(self) -> None:
        self._open = asyncio.Event()
        self._open.set()
        self.reached = asyncio.Event()

    @property
    def is_open(self) -> bool:
        return self._open.is_set()

    def close(self) -> None:
        self._open.clear()
        self.reached.clear()

    def open(self) -> None:
        self._open.set()

    async def through(self) -> None:
        """Called by a handler: signal arrival, then wait while the gate is closed."""
        if not self._open.is_set():
            self.reached.set()
            await self._open.wait()
