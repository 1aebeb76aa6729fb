"""Serve one of the app-style fakes (Gemini, fal, Replicate) on 127.0.0.1 for a block.

    async with served(FalFake()) as fal:
        FalProvider(http, fal.api_key, base_url=fal.base_url)

The fake's `base_url` is set once the server listens; its gates are opened before the server
stops, so a request a test left held never keeps the shutdown waiting.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol, TypeVar

from aiohttp import web

from tests.fakes.loopback import LoopbackServer

__all__ = ["served"]


class _AppFake(Protocol):
    base_url: str

    def app(self) -> web.Application: ...


F = TypeVar("F", bound=_AppFake)


@asynccontextmanager
async def served(fake: F) -> AsyncIterator[F]:
    server = LoopbackServer(fake.app())
    await server.start()
    fake.base_url = server.base_url
    try:
        yield fake
    finally:
        if hasattr(fake, "open_all"):
            fake.open_all()
        if hasattr(fake, "gate"):
            fake.gate.open()
        await server.stop()
