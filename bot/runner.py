"""The composition root's Discord half: open the app, build the client, run until stopped."""

from __future__ import annotations

from bot.app import open_app
from bot.client import CanvasBot, point_discord_at
from bot.settings import Settings

__all__ = ["run_bot"]


async def run_bot(settings: Settings) -> None:
    assert settings.discord_token is not None
    point_discord_at(settings)
    async with open_app(settings) as app:
        bot = CanvasBot(app)
        async with bot:
            await bot.start(settings.discord_token.get_secret_value())
