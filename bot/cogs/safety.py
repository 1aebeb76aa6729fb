"""`/settings safety …`: a server's content safety (Manage Server). Parse → service → reply.

    /settings safety show
    /settings safety level level:<strict|standard|relaxed|default>
    /settings safety people policy:<allow_adults|no_people|default>
    /settings safety blocklist action:<add|remove|list> [term]
    /settings safety modlog [channel]        (no channel: turn the mod-log off)

Discord allows one level of subgroups under a command, so the block list is one subcommand with
an action rather than a group of its own. Every answer is ephemeral: settings are for the admins.
"""

from __future__ import annotations

from typing import Any, Literal

import discord
from discord import app_commands
from discord.app_commands import Choice, Range
from discord.ext import commands

from bot.cogs.delivery import NO_MENTIONS, acknowledge, send_error
from bot.cogs.modlog import ModLog
from bot.cogs.settings_group import SettingsSubgroup, attach_settings, detach_settings
from bot.services.display import for_display
from bot.services.errors import UserFacingError
from bot.services.moderation import MAX_TERM_CHARS, PEOPLE_CHOICES, SafetyService
from bot.ui.moderation import LEVEL_NOTES, PEOPLE_LABELS, SETTINGS_COLOUR, render_safety
from bot.ui.text import truncate

__all__ = ["SafetyCog", "SafetySettings"]

DEFAULT_CHOICE = "default"  # back to CANVASBOT_SAFETY_LEVEL / CANVASBOT_SAFETY_PEOPLE

CONTENT_LIMIT = 2000


class SafetySettings(SettingsSubgroup, name="safety", description="Content safety for this server"):
    def __init__(self, safety: SafetyService, modlog: ModLog) -> None:
        super().__init__()
        self.safety = safety
        self.modlog = modlog

    async def _answer(self, interaction: discord.Interaction[Any], content: str) -> None:
        await interaction.edit_original_response(
            content=truncate(content, CONTENT_LIMIT), allowed_mentions=NO_MENTIONS
        )

    @app_commands.command(name="show", description="This server's content safety settings")
    async def show(self, interaction: discord.Interaction[Any]) -> None:
        await acknowledge(interaction, ephemeral=True)
        server = await self.safety.server(interaction.guild_id)
        embed = render_safety(
            server,
            default_level=self.safety.default_level,
            operator_terms=len(self.safety.operator_terms),
        )
        await interaction.edit_original_response(embed=embed, allowed_mentions=NO_MENTIONS)

    @app_commands.command(name="level", description="How careful Canvasbot is in this server")
    @app_commands.describe(
        level="strict, standard (the usual), relaxed (age-restricted only), or the bot's default"
    )
    async def level(
        self,
        interaction: discord.Interaction[Any],
        level: Literal["strict", "standard", "relaxed", "default"],
    ) -> None:
        await acknowledge(interaction, ephemeral=True)
        assert interaction.guild_id is not None  # SettingsSubgroup checked
        chosen = None if level == DEFAULT_CHOICE else level
        server = await self.safety.set_level(interaction.guild_id, chosen, by=interaction.user.id)
        how = "follows the bot's default," if server.level_is_default else "set to"
        await self._answer(
            interaction,
            f"Safety level {how} **{server.level}**: {LEVEL_NOTES[server.level]}.",
        )

    @app_commands.command(name="people", description="Whether images may show people")
    @app_commands.describe(
        policy="allow_adults, no_people (for providers that support it), or the bot's default"
    )
    async def people(
        self,
        interaction: discord.Interaction[Any],
        policy: Literal["allow_adults", "no_people", "default"],
    ) -> None:
        await acknowledge(interaction, ephemeral=True)
        assert interaction.guild_id is not None
        chosen = None if policy == DEFAULT_CHOICE else PEOPLE_CHOICES[policy]
        server = await self.safety.set_people(interaction.guild_id, chosen, by=interaction.user.id)
        default = " (the bot's default)" if server.people_is_default else ""
        await self._answer(
            interaction, f"People in images: **{PEOPLE_LABELS[server.people]}**{default}."
        )

    @app_commands.command(name="blocklist", description="This server's own blocked terms")
    @app_commands.describe(action="add, remove or list", term="The word or phrase to block")
    async def blocklist(
        self,
        interaction: discord.Interaction[Any],
        action: Literal["add", "remove", "list"],
        term: Range[str, 1, MAX_TERM_CHARS] | None = None,
    ) -> None:
        await acknowledge(interaction, ephemeral=True)
        guild_id = interaction.guild_id
        assert guild_id is not None
        try:
            if action == "list":
                await self._answer(interaction, await self._list(guild_id))
                return
            if not term:
                raise UserFacingError(f"Give the `term` to {action}.")
            if action == "add":
                change = await self.safety.add_term(guild_id, term, by=interaction.user.id)
                shown = for_display(change.term, 200, single_line=True)
                reply = (
                    f"Added “{shown}” to this server's block list: prompts with it, however "
                    "it is disguised, are now refused here."
                    if change.changed
                    else f"“{shown}” is already on this server's block list."
                )
            else:
                change = await self.safety.remove_term(guild_id, term)
                shown = for_display(change.term, 200, single_line=True)
                reply = (
                    f"Removed “{shown}” from this server's block list."
                    if change.changed
                    else f"“{shown}” is not on this server's block list."
                )
        except UserFacingError as exc:
            await send_error(interaction, exc.message)
            return
        await self._answer(interaction, reply)

    async def _list(self, guild_id: int) -> str:
        terms = (await self.safety.server(guild_id)).terms
        if not terms:
            return (
                "This server has no terms of its own; the shipped list and the operator's "
                "terms still apply. Add one with `/settings safety blocklist action:add`."
            )
        shown = ", ".join(for_display(term, 120, single_line=True) for term in terms)
        return f"This server's own blocked terms ({len(terms)}): {shown}"

    @blocklist.autocomplete("term")
    async def _term_autocomplete(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[Choice[str]]:
        # Autocomplete skips interaction_check: the list is for managers only here too.
        if (
            interaction.guild_id is None
            or not interaction.permissions.manage_guild
            or interaction.namespace.action != "remove"
        ):
            return []
        needle = current.lower()
        terms = (await self.safety.server(interaction.guild_id)).terms
        return [Choice(name=term[:100], value=term) for term in terms if needle in term][:25]

    @app_commands.command(
        name="modlog", description="Where blocked requests and reports go (none: turn it off)"
    )
    @app_commands.describe(channel="A channel for moderators; leave it out to turn the log off")
    async def modlog_channel(
        self,
        interaction: discord.Interaction[Any],
        channel: discord.TextChannel | None = None,
    ) -> None:
        await acknowledge(interaction, ephemeral=True)
        guild_id = interaction.guild_id
        assert guild_id is not None
        if channel is None:
            await self.safety.set_modlog(guild_id, None, by=interaction.user.id)
            await self._answer(
                interaction,
                "The mod-log is off: blocked requests and reports are no longer posted.",
            )
            return
        # A first post proves the bot may write there before anything relies on it.
        hello = discord.Embed(
            title="Canvasbot mod-log",
            description="Blocked requests and reported images in this server will be posted "
            f"here. Set by <@{interaction.user.id}>.",
            colour=SETTINGS_COLOUR,
        )
        if not await self.modlog.post(guild_id, channel.id, hello):
            await send_error(
                interaction,
                f"I can't post in <#{channel.id}>. Give me **View Channel**, **Send Messages** "
                "and **Embed Links** there, then try again.",
            )
            return
        await self.safety.set_modlog(guild_id, channel.id, by=interaction.user.id)
        await self._answer(
            interaction, f"Blocked requests and reported images will be posted in <#{channel.id}>."
        )


class SafetyCog(commands.Cog, name="Safety"):
    """Owns `/settings safety` (attached to the shared `/settings` group)."""

    def __init__(self, bot: commands.Bot, safety: SafetyService, modlog: ModLog) -> None:
        self.bot = bot
        self.group = SafetySettings(safety, modlog)

    async def cog_load(self) -> None:
        attach_settings(self.bot.tree, self.group)

    async def cog_unload(self) -> None:
        detach_settings(self.bot.tree, self.group)
