"""Small shared pieces: snowflakes, JSON, the error type the REST layer raises, and waiting.

Waiting is event-driven: a waiter is a future plus a probe; whoever changes state calls
``notify()`` and the probes decide. Timeouts are only upper bounds (``asyncio.timeout``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

DISCORD_EPOCH_MS = 1_420_070_400_000
DEFAULT_TIMEOUT = 10.0


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()


class Snowflakes:
    """Snowflake ids: (ms since the Discord epoch << 22) | increment, strictly increasing."""

    def __init__(self) -> None:
        self._ms = 0
        self._inc = 0

    def next(self, *, shard: tuple[int, int] | None = None) -> int:
        ms = max(int(time.time() * 1000) - DISCORD_EPOCH_MS, self._ms)
        if shard is not None:
            # (id >> 22) is the timestamp part, so the shard a guild id maps to is chosen
            # by nudging the timestamp forward a few milliseconds.
            index, count = shard
            if not 0 <= index < count:
                raise ValueError(f"shard {index} out of range for {count} shards")
            if ms == self._ms:
                ms += 1
            ms += (index - ms) % count
        if ms == self._ms:
            self._inc += 1
            if self._inc >= 4096:
                ms, self._inc = ms + 1, 0
        else:
            self._inc = 0
        self._ms = ms
        return (ms << 22) | self._inc


def shard_for(guild_id: int, shard_count: int) -> int:
    return (guild_id >> 22) % shard_count


class DiscordError(Exception):
    """An error answer of the fake REST API, shaped like Discord's."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        errors: dict[str, Any] | None = None,
        violation: str | None = None,
        interaction: Any = None,
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors
        self.violation = violation
        self.interaction = interaction

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors
        return body


class BotDied(RuntimeError):
    """The bot's start() task ended while a test still needed it."""


class Hub:
    """Every pending wait, so all of them can fail at once when the bot dies or the fake closes."""

    def __init__(self) -> None:
        self.pending: set[asyncio.Future[Any]] = set()
        self.dead: BaseException | None = None

    def fail_all(self, exc: BaseException) -> None:
        self.dead = exc
        for fut in list(self.pending):
            if not fut.done():
                fut.set_exception(exc)


class Signal:
    """Waiters with probes; ``notify(*args)`` resolves every waiter whose probe returns non-None."""

    __slots__ = ("_entries", "_hub")

    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self._entries: list[tuple[Callable[..., Any], asyncio.Future[Any]]] = []

    def notify(self, *args: Any) -> None:
        if not self._entries:
            return
        for probe, fut in list(self._entries):
            if fut.done():
                continue
            try:
                value = probe(*args)
            except Exception as exc:
                fut.set_exception(exc)
                continue
            if value is not None:
                fut.set_result(value)

    async def wait(
        self,
        probe: Callable[..., T | None],
        timeout: float | None,
        what: str | Callable[[], str],
        *,
        now: Callable[[], T | None] | None = None,
    ) -> T:
        """Wait until ``probe(*notify_args)`` returns non-None; ``now()`` is checked first."""
        if self._hub.dead is not None:
            raise self._hub.dead
        if now is not None:
            value = now()
            if value is not None:
                return value
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        entry = (probe, fut)
        self._entries.append(entry)
        self._hub.pending.add(fut)
        try:
            async with asyncio.timeout(timeout):
                return await fut
        except TimeoutError:
            text = what() if callable(what) else what
            raise TimeoutError(f"timed out after {timeout}s waiting for {text}") from None
        finally:
            self._entries.remove(entry)
            self._hub.pending.discard(fut)
