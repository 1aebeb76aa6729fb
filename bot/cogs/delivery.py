"""Answering an interaction: acknowledge first, then the result or a kind explanation.

Every message sets allowed_mentions to none: prompts are user text and must never ping anyone.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

import discord

from bot.services.errors import UserFacingError
from bot.services.generation import GenerationService, Outcome, Requester
from bot.ui.embeds import render_result
from bot.ui.text import truncate
from bot.ui.views import result_view

__all__ = ["NO_MENTIONS", "acknowledge", "deliver", "requester_of", "send_error"]

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()
CONTENT_LIMIT = 2000
UNEXPECTED = "Something went wrong on our side. Nothing was charged; please try again in a moment."


def requester_of(interaction: discord.Interaction[Any]) -> Requester:
    return Requester(
        user_id=interaction.user.id,
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id,
        interaction_id=interaction.id,
    )


async def acknowledge(interaction: discord.Interaction[Any], *, ephemeral: bool) -> None:
    """Defer at once (the 3-second clock is running); remember whether it was ephemeral."""
    interaction.extras["ephemeral"] = ephemeral
    await interaction.response.defer(thinking=True, ephemeral=ephemeral)


async def send_error(interaction: discord.Interaction[Any], message: str) -> None:
    """An ephemeral explanation, whether or not the interaction was already deferred."""
    message = truncate(message, CONTENT_LIMIT)
    if not interaction.response.is_done():
        await interaction.response.send_message(
            message, ephemeral=True, allowed_mentions=NO_MENTIONS
        )
        return
    if not interaction.extras.get("ephemeral", False):
        # The loading message is public; replace it with a note only the user sees.
        with suppress(discord.HTTPException):
            await interaction.delete_original_response()
    await interaction.followup.send(message, ephemeral=True, allowed_mentions=NO_MENTIONS)


async def deliver(
    interaction: discord.Interaction[Any],
    service: GenerationService,
    work: Callable[[], Awaitable[Outcome]],
) -> Outcome | None:
    """Run the generation and post it (or the explanation). The caller has acknowledged."""
    try:
        outcome = await work()
    except UserFacingError as exc:
        await send_error(interaction, exc.message)
        return None
    embeds, files = render_result(outcome, requester_name=interaction.user.display_name)
    content = truncate(" ".join(outcome.notes), CONTENT_LIMIT) if outcome.notes else None
    message = await interaction.followup.send(
        content=content,
        embeds=embeds,
        files=files,
        view=result_view(outcome.record.id),
        allowed_mentions=NO_MENTIONS,
        wait=True,
    )
    await service.record_message(outcome.record.id, message.id)
    return outcome
