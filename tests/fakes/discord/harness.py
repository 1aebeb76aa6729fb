"""running_bot: start a real discord.py client against a FakeDiscord and stop it cleanly."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Literal

from ._util import BotDied
from .fake import ANY, bot_died_error

if TYPE_CHECKING:
    import discord

    from .fake import FakeDiscord, GuildRef


@contextlib.asynccontextmanager
async def running_bot(
    bot: discord.Client,
    fake: FakeDiscord,
    *,
    token: str | None = None,
    sync: GuildRef | Literal["any", "global"] | bool = ANY,
    timeout: float = 30.0,
) -> AsyncIterator[asyncio.Task[None]]:
    """Run ``bot.start(token)`` against ``fake`` for the body of the ``async with``.

    Waits (on events, no polling) until the bot's IDENTIFY reached the fake, ``on_ready``
    fired, every guild of its shards is in its cache, and a command sync happened
    (``sync``: "any" scope by default, "global", a guild, or False for none). While it
    runs, the fake fails pending waits with BotDied if the start() task ends; on exit the
    bot is closed and BotDied is raised if the task ended on its own. discord.py's
    ``guild_ready_timeout`` (default 2 s) bounds how fast ``on_ready`` comes.
    """
    token = fake.token if token is None else token
    with fake.patch_discord_py():
        syncs_before = 0 if sync is False else _count_syncs(fake, sync)
        identifies_before = fake.gateway.identifies
        task: asyncio.Task[None] = asyncio.create_task(bot.start(token), name="discord-bot-start")
        fake.watch_bot(task)
        died: BotDied | None = None
        body_failed = False
        try:
            await _wait_started(
                bot, fake, task, sync, syncs_before + 1, identifies_before + 1, timeout
            )
            try:
                yield task
            except BaseException:
                body_failed = True
                raise
        finally:
            fake.unwatch_bot(task)
            if task.done():
                died = bot_died_error(task)
            await _stop(bot, task, timeout)
        if died is not None and not body_failed:
            raise died


def _count_syncs(fake: FakeDiscord, sync: Any) -> int:
    return sum(1 for s in fake.syncs if fake._sync_matches(s, sync))


async def _wait_started(
    bot: discord.Client,
    fake: FakeDiscord,
    task: asyncio.Task[None],
    sync: Any,
    sync_count: int,
    identify_count: int,
    timeout: float,
) -> None:
    stage = ["IDENTIFY"]

    async def started() -> None:
        # login() (and setup_hook) ran before the first IDENTIFY, so wait_until_ready works.
        await fake.wait_for_identify(identify_count, timeout=None)
        stage[0] = "on_ready"
        await bot.wait_until_ready()
        stage[0] = "guilds in cache"
        await _all_guilds_cached(bot, fake)
        if sync is not False:
            stage[0] = f"command sync ({sync!r})"
            await fake.wait_for_sync(sync, count=sync_count, timeout=None)

    waiter = asyncio.create_task(started(), name="running_bot-wait")
    try:
        done, _ = await asyncio.wait(
            {waiter, task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
    except BaseException:
        waiter.cancel()
        raise
    if waiter in done:
        waiter.result()
        return
    waiter.cancel()
    with contextlib.suppress(BaseException):
        await waiter
    if task in done:
        raise bot_died_error(task)
    raise TimeoutError(
        f"bot not started after {timeout}s: waiting for {stage[0]} "
        f"(identifies={fake.gateway.identifies}, syncs={len(fake.syncs)}, "
        f"requests={[f'{c.method} {c.path} {c.status}' for c in fake.requests[-5:]]})"
    )


async def _all_guilds_cached(bot: discord.Client, fake: FakeDiscord) -> None:
    """With a tiny guild_ready_timeout, GUILD_CREATEs may land after on_ready: wait for them."""
    # Only this bot's shards: several bots (one per shard set) may share the fake.
    own = getattr(bot, "shard_ids", None)
    expected = {
        gid
        for shard_id, session in fake.gateway.shards.items()
        if own is None or shard_id in own
        for gid in session.guild_ids
    }
    while True:
        missing = [gid for gid in expected if bot.get_guild(gid) is None]
        if not missing:
            return
        waits = [
            asyncio.ensure_future(bot.wait_for("guild_join")),
            asyncio.ensure_future(bot.wait_for("guild_available")),
        ]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()


async def _stop(bot: discord.Client, task: asyncio.Task[None], timeout: float) -> None:
    await bot.close()
    if not task.done():
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(task)
        except TimeoutError:
            task.cancel()
    with contextlib.suppress(BaseException):
        await task
