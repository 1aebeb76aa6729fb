"""Small readers for what the bot sent, as a member would see it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from typing import Any

from tests.fakes.discord import Edit, FakeMessage, InteractionHandle

__all__ = [
    "answer",
    "field",
    "kind_reply",
    "next_midnights",
    "provider_progress",
    "result_message",
]


async def answer(handle: InteractionHandle) -> FakeMessage:
    """Whatever the bot finally showed: the filled loading message, or (when it deleted the
    loading message to answer privately) its followup."""
    await handle.acknowledged()
    waits = {
        asyncio.ensure_future(handle.original_message()),
        asyncio.ensure_future(handle.followup(0)),
    }
    done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for wait in pending:
        wait.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return done.pop().result()


async def result_message(handle: InteractionHandle) -> FakeMessage:
    """The finished result: the loading message once it holds the images."""
    await handle.acknowledged()
    message = await handle.original_message()
    assert message.embeds, f"no result: {message.content!r}"
    return message


async def kind_reply(handle: InteractionHandle) -> FakeMessage:
    """The ephemeral explanation a failed command leaves (immediate, or after a defer)."""
    callback = await handle.acknowledged()
    if callback.type == 4 or handle.is_ephemeral:
        message = await handle.original_message()
    else:
        message = await handle.followup(0)
    assert message.is_ephemeral, "errors are shown only to the person who asked"
    assert not message.embeds
    return message


# What a progress edit says before any provider has started on the request.
NO_PROVIDER_YET = "Working with the image provider"


async def provider_progress(handle: InteractionHandle) -> Edit:
    """The first edit of the loading message after a provider has started: progress edits fire
    on a timer whatever has happened, so the first tick may come before the request has been
    recorded, reserved and handed to a provider (it then says "the image provider"). Waits on
    edit events, not time; whatever the edit says is left to the caller to check."""
    n = 0
    while NO_PROVIDER_YET in str((edit := await handle.edit(n)).payload.get("content")):
        n += 1
    return edit


def field(embed: dict[str, Any], name: str) -> str:
    for item in embed.get("fields", []):
        if item["name"] == name:
            return str(item["value"])
    raise AssertionError(f"no field {name!r} in {[f['name'] for f in embed.get('fields', [])]}")


def next_midnights(since: datetime) -> set[str]:
    """The `<t:…:R>` stamp of the next UTC midnight (when daily limits reset) as of `since` and
    as of now: one stamp, or both if the test straddled a midnight."""
    stamps = set()
    for moment in (since, datetime.now(UTC)):
        midnight = datetime.combine(moment.astimezone(UTC).date() + timedelta(days=1), time(), UTC)
        stamps.add(f"<t:{int(midnight.timestamp())}:R>")
    return stamps
