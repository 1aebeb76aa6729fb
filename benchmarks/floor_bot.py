"""The floor: the least any discord.py bot can do for /generate, to measure Canvasbot against.

It acknowledges (defer), waits the provider's latency, and replaces the loading message with one
image, exactly as Canvasbot does, and nothing else: no database, no embeds, no buttons. Started
by the benchmark in its own process, like Canvasbot, and configured by the environment:

    DISCORD_TOKEN, DISCORD_API_BASE_URL, DISCORD_GATEWAY_URL, CANVASBOT_DEV_GUILD_ID
    FLOOR_LATENCY_MS      the simulated provider latency (default 1000)
    FLOOR_IMAGE_PATH      the image to post (a copy per request, as if each were downloaded)

It imports nothing from Canvasbot. It prints "floor ready" on stderr once connected.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import signal
import sys
from pathlib import Path
from typing import Any

import discord
import yarl
from discord import app_commands


class FloorBot(discord.Client):
    def __init__(self, guild_id: int, latency_s: float, image: bytes) -> None:
        super().__init__(intents=discord.Intents(guilds=True))
        self.tree = app_commands.CommandTree(self)
        self.guild = discord.Object(id=guild_id)
        self.latency_s = latency_s
        self.image = image

        @self.tree.command(name="generate", description="Turn a prompt into an image.")
        async def generate(
            interaction: discord.Interaction[Any], prompt: str, seed: int | None = None
        ) -> None:
            await interaction.response.defer(thinking=True)
            await asyncio.sleep(self.latency_s)
            data = self.image[:1] + self.image[1:]  # a fresh copy, as a download would be
            await interaction.edit_original_response(
                attachments=[discord.File(io.BytesIO(data), filename="floor.jpg")],
                allowed_mentions=discord.AllowedMentions.none(),
            )

    async def setup_hook(self) -> None:
        self.tree.copy_global_to(guild=self.guild)
        await self.tree.sync(guild=self.guild)

    async def on_ready(self) -> None:
        print("floor ready", file=sys.stderr, flush=True)


async def serve(image: bytes) -> None:
    env = os.environ
    discord.http.Route.BASE = env["DISCORD_API_BASE_URL"].rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(env["DISCORD_GATEWAY_URL"])
    latency_s = float(env.get("FLOOR_LATENCY_MS", "1000")) / 1000
    bot = FloorBot(int(env["CANVASBOT_DEV_GUILD_ID"]), latency_s, image)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with bot:
        runner = asyncio.create_task(bot.start(env["DISCORD_TOKEN"]))
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
        await bot.close()
        stopper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner


def main() -> None:
    asyncio.run(serve(Path(os.environ["FLOOR_IMAGE_PATH"]).read_bytes()))


if __name__ == "__main__":
    main()
