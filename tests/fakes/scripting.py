"""Building blocks the provider fakes share: recorded requests, scripted replies, stalls, images.

A fake answers from its documented contract by default; a test scripts deviations up front
(`fake.script(Reply(...))`) and the fake plays them in order, one per matching request. A `Stall`
holds a request until the test releases it, so tests never sleep to synchronise: they await
`stall.arrived` to know the request is in flight, and `stall.release` to let it go.
"""

from __future__ import annotations

import asyncio
import io
import json
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from PIL import Image

__all__ = [
    "ParkingSleep",
    "Recorded",
    "RecordingSleep",
    "Reply",
    "Script",
    "Stall",
    "jpeg_bytes",
    "png_bytes",
]


@dataclass(frozen=True, slots=True)
class Recorded:
    """One request as the fake received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON, or None when the body was not JSON
    raw: bytes

    @classmethod
    async def of(cls, request: web.Request) -> Recorded:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        return cls(
            method=request.method,
            path=request.path,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            raw=raw,
        )


@dataclass(frozen=True, slots=True)
class Reply:
    """A scripted answer: JSON (`json`) or raw text (`text`, e.g. malformed JSON)."""

    status: int
    json: Any = None
    text: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    def response(self) -> web.Response:
        body = self.text if self.text is not None else json.dumps(self.json)
        return web.Response(
            status=self.status,
            text=body,
            headers=self.headers,
            content_type=self.content_type,
        )


class Stall:
    """Holds one request until the test sets `release`; then the fake answers normally."""

    def __init__(self) -> None:
        self.arrived = asyncio.Event()
        self.release = asyncio.Event()

    async def hold(self) -> None:
        self.arrived.set()
        await self.release.wait()


class Script:
    """Scripted replies per route, played in order; every stall is released on `release_all`."""

    def __init__(self) -> None:
        self._queues: dict[str, deque[Reply | Stall]] = {}
        self._stalls: list[Stall] = []

    def add(self, route: str, *items: Reply | Stall) -> None:
        for item in items:
            if isinstance(item, Stall):
                self._stalls.append(item)
            self._queues.setdefault(route, deque()).append(item)

    async def play(self, route: str) -> web.Response | None:
        """The scripted response for this request, or None to answer normally."""
        queue = self._queues.get(route)
        if not queue:
            return None
        item = queue.popleft()
        if isinstance(item, Stall):
            await item.hold()
            return None
        return item.response()

    def pending(self, route: str) -> int:
        return len(self._queues.get(route, ()))

    def release_all(self) -> None:
        # A held handler would keep the server's shutdown waiting.
        for stall in self._stalls:
            stall.release.set()


def jpeg_bytes(seed: int, width: int = 16, height: int = 16) -> bytes:
    """A small but real JPEG whose colour depends on `seed` (so tests can tell images apart)."""
    return _picture(seed, width, height, "JPEG")


def png_bytes(seed: int, width: int = 16, height: int = 16) -> bytes:
    """A small but real PNG whose colour depends on `seed`."""
    return _picture(seed, width, height, "PNG")


def _picture(seed: int, width: int, height: int, fmt: str) -> bytes:
    rng = random.Random(seed)
    colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, fmt)
    return buffer.getvalue()


class RecordingSleep:
    """An injectable `sleep` that records what it was asked to wait and returns at once."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        await asyncio.sleep(0)  # still yield, as a real sleep would


class ParkingSleep(RecordingSleep):
    """Records, then waits until cancelled: a poll loop parks after its first poll."""

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        await asyncio.Event().wait()
