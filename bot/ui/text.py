"""Showing user text safely in Discord: no pings, no markdown surprises, within the limits."""

from __future__ import annotations

import re
import unicodedata

import discord

__all__ = ["display", "truncate"]

# Control characters, zero-width and bidi controls: invisible, so they only ever hide things.
_INVISIBLE = re.compile(
    "[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064"
    "\u2066-\u206f\ufeff\ufe00-\ufe0f]"
)


def truncate(text: str, limit: int) -> str:
    """At most `limit` characters, ending with '…' when cut, never inside an escape."""
    if len(text) <= limit:
        return text
    cut = text[: max(0, limit - 1)]
    # Do not leave a dangling backslash (half an escape) or split a combining sequence.
    while cut and (cut[-1] == "\\" or unicodedata.combining(cut[-1])):
        cut = cut[:-1]
    return cut + "…"


def display(text: str, limit: int) -> str:
    """User text as it may appear in an embed or message: visible, escaped, within `limit`."""
    cleaned = _INVISIBLE.sub("", text).replace("\r", "")
    cleaned = re.sub(r"\n{3,}", "\n\n", cleaned)
    escaped = discord.utils.escape_mentions(discord.utils.escape_markdown(cleaned))
    return truncate(escaped, limit)
