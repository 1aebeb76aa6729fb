"""Showing user text safely in Discord: no pings, no markdown surprises, within the limits.

The rules live in `bot.services.display` (pure, tested there); these are the names ui and cogs use.
"""

from __future__ import annotations

from bot.services.display import for_display, truncate

__all__ = ["display", "truncate"]


def display(text: str, limit: int) -> str:
    """User text as it may appear in an embed or message: visible, escaped, within `limit`.

    The one rule for every prompt shown anywhere: control and invisible characters removed,
    mentions neutralized, markdown escaped, floods of one emoji collapsed, cut on a character
    boundary.
    """
    return for_display(text, limit)
