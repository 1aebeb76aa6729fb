"""Two shard processes (here: two bot instances, one shard each) share one ledger."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bot.app import open_app
from bot.client import CanvasBot
from bot.runner import shard_options
from tests.e2e.conftest import bot_settings
from tests.e2e.helpers import next_midnights
from tests.e2e.test_quota import outcome
from tests.fakes.discord import FakeDiscord, running_bot
from tests.fakes.runware_fake import RunwareFake


async def test_each_shard_serves_its_servers_and_the_budget_is_shared(tmp_path: Path) -> None:
    started = datetime.now(UTC)
    async with FakeDiscord(defaults=False) as fake, RunwareFake() as runware:
        first = fake.add_guild("Shard zero club", shard=(0, 2))
        second = fake.add_guild("Shard one club", shard=(1, 2))
        env = {
            "CANVASBOT_DEV_GUILD_ID": "",  # global commands: both servers see them
            "CANVASBOT_PROVIDERS": "runware",
            "RUNWARE_API_KEY": runware.api_key,
            "RUNWARE_BASE_URL": runware.url,
            "CANVASBOT_GLOBAL_DAILY_USD": 0.04,  # two Imagen 4 Fast images, for the whole bot
            "CANVASBOT_SHARD_COUNT": 2,
        }
        zero = bot_settings(fake, tmp_path, CANVASBOT_SHARD_IDS="0", **env)
        one = bot_settings(fake, tmp_path, CANVASBOT_SHARD_IDS="1", **env)
        async with open_app(zero) as app0, open_app(one) as app1:
            bot0 = CanvasBot(app0, guild_ready_timeout=0.05, **shard_options(zero))
            bot1 = CanvasBot(app1, guild_ready_timeout=0.05, **shard_options(one))
            async with (
                running_bot(bot0, fake, sync="global"),
                running_bot(bot1, fake, sync="global"),
            ):
                assert [g.id for g in bot0.guilds] == [first.id]
                assert [g.id for g in bot1.guilds] == [second.id]
                a = await outcome(
                    await fake.slash(
                        "generate",
                        {"prompt": "a lake"},
                        guild=first,
                        channel=first.text_channels[0],
                    )
                )
                b = await outcome(
                    await fake.slash(
                        "generate",
                        {"prompt": "a bell"},
                        guild=second,
                        channel=second.text_channels[0],
                    )
                )
                c = await outcome(
                    await fake.slash(
                        "generate",
                        {"prompt": "a cart"},
                        guild=first,
                        channel=first.text_channels[0],
                    )
                )
    assert [a, b] == ["image", "image"]
    # The shared global budget is spent: two Imagen 4 Fast images at $0.02 fill the $0.04.
    assert c in {
        f"The bot has used $0.04 of its $0.04 budget for today (this costs about $0.02)."
        f" Resets {stamp}."
        for stamp in next_midnights(started)
    }
    assert len(runware.tasks) == 2  # the refused request never reached the provider
    fake.assert_clean()
