"""A clock that moves only when the code under test sleeps: polling loops get an injected
`sleep` and `clock`, so tests cover intervals and deadlines without waiting for real time."""

from __future__ import annotations

import asyncio

__all__ = ["ManualClock"]


class ManualClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)  # still a suspension point, as a real sleep is
