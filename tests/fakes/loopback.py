"""Serve an aiohttp application on 127.0.0.1 on a free port, for the loopback fakes.

async with LoopbackServer(app) as server:
    client.post(server.url("/v1"), ...)
"""

from __future__ import annotations

from types import TracebackType

from aiohttp import web

__all__ = ["LoopbackServer"]


class LoopbackServer:
    def __init__(self, app: web.Application, *, backlog: int = 1024) -> None:
        self.app = app
        self._backlog = backlog
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "") -> str:
        return self.base_url + path

    async def start(self) -> LoopbackServer:
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        # A large backlog: many simultaneous connections would otherwise wait a SYN retry.
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=self._backlog)
        await site.start()
        server = site._server
        assert server is not None
        assert server.sockets
        self.port = server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> LoopbackServer:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
