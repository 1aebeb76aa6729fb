"""The composition root's Discord half: open the app, build the client, run until stopped.

SIGTERM/SIGINT shut down gracefully: stop taking commands, let running generations finish for
up to CANVASBOT_SHUTDOWN_GRACE_SECONDS, cancel (record and refund) the rest, close cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from bot.app import open_app
from bot.client import CanvasBot, point_discord_at
from bot.settings import Settings

__all__ = ["run_bot"]

log = logging.getLogger(__name__)


def shard_options(settings: Settings) -> dict[str, object]:
    """CANVASBOT_SHARD_COUNT / CANVASBOT_SHARD_IDS for discord.py; empty: Discord decides."""
    options: dict[str, object] = {}
    if settings.shard_count:
        options["shard_count"] = settings.shard_count
    ids = settings.shard_id_list()
    if ids is not None:
        options["shard_ids"] = ids
    return options


async def run_bot(settings: Settings) -> None:
    assert settings.discord_token is not None
    point_discord_at(settings)
    async with open_app(settings) as app:
        if settings.metrics_port and app.metrics is not None:
            app.metrics.serve(settings.metrics_port)
            log.info("metrics on :%d/metrics", settings.metrics_port)
        bot = CanvasBot(app, **shard_options(settings))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        async with bot:
            runner = asyncio.create_task(bot.start(settings.discord_token.get_secret_value()))
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if runner.done():
                stopper.cancel()
                runner.result()  # re-raise what ended the bot (bad token, gateway refusal …)
                return
            log.info(
                "shutting down: waiting up to %.0f s for running generations",
                settings.shutdown_grace_seconds,
            )
            cancelled = await bot.shutdown(settings.shutdown_grace_seconds)
            log.info("shut down cleanly (%d generation(s) interrupted and refunded)", cancelled)
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
