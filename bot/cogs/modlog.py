"""Posting to a server's mod-log channel: blocked requests and reported images.

The channel is the one set with `/settings safety modlog`. Posts go out with the bot token (they
are not answers to anyone's interaction), ping nobody, and never fail the user's interaction: a
mod-log that cannot be reached is logged for the operator and reported to the caller as False.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any

import discord

from bot.cogs.delivery import NO_MENTIONS
from bot.services.errors import PromptBlocked
from bot.services.generation import GenerationRecord
from bot.services.moderation import SafetyService
from bot.ui.moderation import render_blocked, render_report

__all__ = ["ModLog", "ReportOutcome"]

log = logging.getLogger(__name__)


class ReportOutcome(StrEnum):
    POSTED = "posted"
    ALREADY = "already"  # this person reported this image before
    NO_MODLOG = "no_modlog"  # the server has none
    UNREACHABLE = "unreachable"  # set, but the bot could not post there


class ModLog:
    def __init__(self, client: discord.Client, safety: SafetyService) -> None:
        self.client = client
        self.safety = safety

    async def channel_id(self, guild_id: int | None) -> int | None:
        if guild_id is None:
            return None
        return (await self.safety.server(guild_id)).modlog_channel_id

    async def blocked(self, interaction: discord.Interaction[Any], error: PromptBlocked) -> bool:
        """Tell the moderators about a refused prompt (who, where, what was found)."""
        if interaction.guild_id is None or error.modlog_channel_id is None:
            return False
        embed = render_blocked(error.verdict, error.record, interaction.user.id)
        return await self.post(interaction.guild_id, error.modlog_channel_id, embed)

    async def report(
        self,
        interaction: discord.Interaction[Any],
        generation_id: int,
        record: GenerationRecord | None,
    ) -> ReportOutcome:
        """Send a reported result to the mod-log, once per person per image (remembered in the
        database: across restarts and shard processes)."""
        channel_id = await self.channel_id(interaction.guild_id)
        if interaction.guild_id is None or channel_id is None:
            return ReportOutcome.NO_MODLOG
        reporter = interaction.user.id
        if not await self.safety.claim_report(generation_id, reporter, interaction.guild_id):
            return ReportOutcome.ALREADY
        message = interaction.message
        embed = render_report(
            record,
            generation_id=generation_id,
            reporter_id=reporter,
            jump_url=message.jump_url if message is not None else None,
            image_urls=[a.url for a in message.attachments] if message is not None else [],
        )
        if not await self.post(interaction.guild_id, channel_id, embed):
            await self.safety.withdraw_report(generation_id, reporter)  # they may try again
            return ReportOutcome.UNREACHABLE
        log.info("result %s reported by %s", generation_id, reporter)
        return ReportOutcome.POSTED

    async def post(self, guild_id: int, channel_id: int, embed: discord.Embed) -> bool:
        """Post to the server's mod-log channel; False when it cannot be reached."""
        try:
            channel = self.client.get_channel(channel_id) or await self.client.fetch_channel(
                channel_id
            )
            # Only ever a channel of the same server: a stale id must not leak across servers.
            if getattr(getattr(channel, "guild", None), "id", None) != guild_id or not isinstance(
                channel, discord.abc.Messageable
            ):
                log.warning("mod-log %s is not a channel of server %s", channel_id, guild_id)
                return False
            await channel.send(embed=embed, allowed_mentions=NO_MENTIONS)
        except (discord.HTTPException, discord.InvalidData) as exc:
            log.warning(
                "could not post to the mod-log %s of server %s: %s", channel_id, guild_id, exc
            )
            return False
        return True
