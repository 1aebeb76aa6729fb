"""End to end: the real bot (real discord.py client, real services, a real SQLite file)
against the loopback Discord, with the offline provider or a provider's loopback fake."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest

from bot.app import App, open_app
from bot.client import CanvasBot
from bot.settings import Settings
from tests.fakes.discord import FakeDiscord, running_bot

BotFactory = Callable[..., AbstractAsyncContextManager[tuple[CanvasBot, App]]]


def bot_settings(fake: FakeDiscord, tmp_path: Path, **env: object) -> Settings:
    values: dict[str, object] = {
        "DISCORD_TOKEN": fake.token,
        "CANVASBOT_DEV_GUILD_ID": fake.guild.id if hasattr(fake, "guild") else "",
        "CANVASBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'canvasbot.sqlite3'}",
        "CANVASBOT_PROVIDERS": "local",
        # The ledger is on; tests that are not about limits should not meet them.
        "CANVASBOT_COOLDOWN_SECONDS": 0,
        "CANVASBOT_MAX_CONCURRENT_PER_USER": 20,
        "CANVASBOT_USER_DAILY_IMAGES": 500,
    }
    values.update(env)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as fake:
        yield fake


@pytest.fixture
def canvasbot(fake: FakeDiscord, tmp_path: Path) -> BotFactory:
    """`async with canvasbot(**settings) as (bot, app):` runs the bot until the block ends."""

    @asynccontextmanager
    async def start(**env: object) -> AsyncIterator[tuple[CanvasBot, App]]:
        async with open_app(bot_settings(fake, tmp_path, **env)) as app:
            # A short guild_ready_timeout: the fake sends every guild at once.
            bot = CanvasBot(app, guild_ready_timeout=0.05)
            async with running_bot(bot, fake, sync=fake.guild):
                yield bot, app

    return start
