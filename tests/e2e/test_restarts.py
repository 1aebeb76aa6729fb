"""The real entry point (`python -m bot`) in its own process against the loopback Discord:
buttons after a restart, a kill -9 mid-generation, a graceful SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bot.storage import GenerationStatus, open_store
from tests.e2e.helpers import provider_progress, result_message
from tests.fakes.discord import FakeDiscord
from tests.support.environment import without_bot_variables

STARTUP_TIMEOUT = 60.0


def bot_env(fake: FakeDiscord, database: Path, **extra: object) -> dict[str, str]:
    env = without_bot_variables(os.environ)
    env.update(
        {
            "DISCORD_TOKEN": fake.token,
            "DISCORD_API_BASE_URL": fake.api_base,  # the settings the bot reads, not a test patch
            "DISCORD_GATEWAY_URL": fake.gateway_url,
            "CANVASBOT_DEV_GUILD_ID": str(fake.guild.id),
            "CANVASBOT_DATABASE_URL": f"sqlite:///{database}",
            "CANVASBOT_PROVIDERS": "local",
            "CANVASBOT_COOLDOWN_SECONDS": "0",
            "CANVASBOT_LOG_LEVEL": "WARNING",
        }
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


@asynccontextmanager
async def bot_process(
    fake: FakeDiscord, database: Path, **extra: object
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`python -m bot` until the block ends; ready once it identified and synced commands."""
    identifies, syncs = fake.gateway.identifies, len(fake.syncs)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        env=bot_env(fake, database, **extra),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await fake.wait_for_identify(identifies + 1, timeout=STARTUP_TIMEOUT)
        await fake.wait_for_sync(fake.guild, count=syncs + 1, timeout=STARTUP_TIMEOUT)
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def test_buttons_work_after_the_bot_process_restarts(tmp_path: Path) -> None:
    database = tmp_path / "canvasbot.sqlite3"
    async with FakeDiscord() as fake:
        async with bot_process(fake, database):
            original = await result_message(
                await fake.slash("generate", {"prompt": "a harbour at dusk", "seed": 4242})
            )
        async with bot_process(fake, database):
            click = await fake.click(original, original.button("Reseed")["custom_id"])
            assert (await click.modal_opened())["title"] == "Reseed this image"
            varied = await result_message(
                await fake.click(original, original.button("Vary")["custom_id"])
            )
        assert varied.embeds[0]["description"] == "a harbour at dusk"
        fake.assert_clean()


async def test_a_generation_killed_mid_flight_is_refunded_and_its_requester_told(
    tmp_path: Path,
) -> None:
    database = tmp_path / "canvasbot.sqlite3"
    async with FakeDiscord() as fake:
        async with bot_process(
            fake,
            database,
            CANVASBOT_LOCAL_LATENCY_MS=60_000,
            CANVASBOT_PROGRESS_INTERVAL_SECONDS=0.2,
        ) as process:
            handle = await fake.slash("generate", {"prompt": "a painting never finished"})
            await handle.acknowledged()
            # Named once the generation is recorded, reserved and at the provider (the first
            # tick of the progress timer may come before any of that).
            progress = await provider_progress(handle)
            assert "Working with offline preview" in progress.payload["content"]
            process.kill()  # kill -9: no chance to clean up
            await process.wait()
        async with bot_process(fake, database):
            notice = await fake.wait_for_message(
                lambda m: "interrupted by a restart" in m.content, timeout=STARTUP_TIMEOUT
            )
        assert f"<@{fake.user.user.id}>" in notice.content
        assert "Nothing was charged" in notice.content
        assert notice.allowed_mentions is not None
        assert notice.allowed_mentions.get("parse") == []
        async with open_store(f"sqlite:///{database}") as store:
            record = await store.get_generation(1)
            reservation = await store.get_reservation(1)
        assert record is not None
        assert record.status is GenerationStatus.INTERRUPTED
        assert reservation is not None
        assert reservation.status == "released"  # refunded, not left to expire
        assert not fake.mention_leaks


async def test_sigterm_lets_a_running_generation_finish_then_exits_cleanly(
    tmp_path: Path,
) -> None:
    database = tmp_path / "canvasbot.sqlite3"
    async with FakeDiscord() as fake:
        async with bot_process(fake, database, CANVASBOT_LOCAL_LATENCY_MS=1500) as process:
            handle = await fake.slash("generate", {"prompt": "a painting almost done"})
            await handle.acknowledged()
            process.send_signal(signal.SIGTERM)
            message = await result_message(handle)
            code = await asyncio.wait_for(process.wait(), timeout=STARTUP_TIMEOUT)
        assert message.attachments
        assert code == 0
        fake.assert_clean()
