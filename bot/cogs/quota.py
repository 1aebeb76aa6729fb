"""/quota, /stats and /settings quota …: parse → QuotaService → render."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs.delivery import NO_MENTIONS, Delivery
from bot.cogs.settings_group import SettingsSubgroup, attach_settings, detach_settings
from bot.services.quotas import QuotaService, RoleQuota
from bot.ui.quota import render_overrides, render_stats, render_usage

__all__ = ["QuotaCog", "QuotaSettings"]

manage_server = app_commands.checks.has_permissions(manage_guild=True)


def role_ids_of(user: discord.abc.User) -> tuple[int, ...]:
    return tuple(role.id for role in getattr(user, "roles", ()))


async def _reply(
    interaction: discord.Interaction[Any],
    embed: discord.Embed | None = None,
    content: str | None = None,
) -> None:
    await interaction.edit_original_response(
        content=content, embed=embed, allowed_mentions=NO_MENTIONS
    )


class QuotaCog(commands.Cog, name="Quota"):
    def __init__(self, bot: commands.Bot, quotas: QuotaService, delivery: Delivery) -> None:
        self.bot = bot
        self.quotas = quotas
        self.delivery = delivery
        self.settings = QuotaSettings(quotas)

    async def cog_load(self) -> None:
        attach_settings(self.bot.tree, self.settings)

    async def cog_unload(self) -> None:
        detach_settings(self.bot.tree, self.settings)

    @app_commands.command(name="quota", description="Your use, what is left, and when it resets.")
    async def quota(self, interaction: discord.Interaction[Any]) -> None:
        await self.delivery.acknowledge(interaction, ephemeral=True)
        usage = await self.quotas.usage(
            interaction.user.id, interaction.guild_id, role_ids_of(interaction.user)
        )
        await _reply(interaction, render_usage(usage))

    @app_commands.command(name="stats", description="Images and spend in this server.")
    @app_commands.describe(days="How many days back (default 30)")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @manage_server
    async def stats(
        self, interaction: discord.Interaction[Any], days: app_commands.Range[int, 1, 365] = 30
    ) -> None:
        await self.delivery.acknowledge(interaction, ephemeral=True)
        assert interaction.guild is not None
        stats = await self.quotas.stats(interaction.guild.id, days=days)
        await _reply(interaction, render_stats(stats, interaction.guild.name))


class QuotaSettings(SettingsSubgroup, name="quota", description="Limits and budgets here"):
    """/settings quota …: every subcommand needs Manage Server (checked by SettingsSubgroup)."""

    def __init__(self, quotas: QuotaService) -> None:
        super().__init__()
        self.quotas = quotas

    @app_commands.command(name="show", description="This server's limits and role overrides.")
    async def quota_show(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        quotas, guild_id = self.quotas, interaction.guild_id or 0
        embed = render_overrides(
            await quotas.guild_overrides(guild_id), await quotas.role_overrides(guild_id)
        )
        await _reply(interaction, embed)

    @app_commands.command(name="set", description="Change this server's limits (empty: keep).")
    @app_commands.describe(
        user_daily_images="Images per member per day",
        user_daily_usd="Dollars per member per day",
        cooldown_seconds="Seconds between one member's requests",
        max_concurrent="Generations one member may run at once",
        guild_monthly_usd="Dollars per month for the whole server",
    )
    async def quota_set(
        self,
        interaction: discord.Interaction[Any],
        user_daily_images: app_commands.Range[int, 0, 10_000] | None = None,
        user_daily_usd: app_commands.Range[float, 0, 10_000] | None = None,
        cooldown_seconds: app_commands.Range[float, 0, 86_400] | None = None,
        max_concurrent: app_commands.Range[int, 0, 100] | None = None,
        guild_monthly_usd: app_commands.Range[float, 0, 1_000_000] | None = None,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        changes = {
            k: v
            for k, v in {
                "user_daily_images": user_daily_images,
                "user_daily_usd": user_daily_usd,
                "cooldown_seconds": cooldown_seconds,
                "max_concurrent": max_concurrent,
                "guild_monthly_usd": guild_monthly_usd,
            }.items()
            if v is not None
        }
        quotas, guild_id = self.quotas, interaction.guild_id or 0
        if changes:
            await quotas.update_guild_overrides(guild_id, updated_by=interaction.user.id, **changes)
        embed = render_overrides(
            await quotas.guild_overrides(guild_id), await quotas.role_overrides(guild_id)
        )
        await _reply(interaction, embed, "Saved." if changes else "Nothing to change.")

    @app_commands.command(name="clear", description="Back to the bot's default limits.")
    async def quota_clear(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self.quotas.clear_guild_overrides(
            interaction.guild_id or 0, updated_by=interaction.user.id
        )
        await _reply(interaction, content="This server uses the bot's default limits again.")

    @app_commands.command(name="role", description="Give a role its own limits, or exempt it.")
    @app_commands.describe(
        role="The role",
        exempt="No personal limits for its members",
        user_daily_images="Images per member per day",
        user_daily_usd="Dollars per member per day",
    )
    async def quota_role(
        self,
        interaction: discord.Interaction[Any],
        role: discord.Role,
        exempt: bool = False,
        user_daily_images: app_commands.Range[int, 0, 10_000] | None = None,
        user_daily_usd: app_commands.Range[float, 0, 10_000] | None = None,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        quotas = self.quotas
        await quotas.set_role_override(
            interaction.guild_id or 0,
            RoleQuota(
                role_id=role.id,
                exempt=exempt,
                user_daily_images=user_daily_images,
                user_daily_usd=user_daily_usd,
            ),
            updated_by=interaction.user.id,
        )
        await _reply(interaction, content=f"Saved the limits for {role.mention}.")

    @app_commands.command(name="role-remove", description="Remove a role's own limits.")
    async def quota_role_remove(
        self, interaction: discord.Interaction[Any], role: discord.Role
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        removed = await self.quotas.remove_role_override(interaction.guild_id or 0, role.id)
        text = (
            f"{role.mention} follows the server's limits again."
            if removed
            else f"{role.mention} had no limits of its own."
        )
        await _reply(interaction, content=text)

    @app_commands.command(name="reset", description="Forgive a member's use today.")
    async def quota_reset(
        self, interaction: discord.Interaction[Any], member: discord.Member
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        reset = await self.quotas.reset_user_day(
            interaction.guild_id, member.id, reset_by=interaction.user.id
        )
        await _reply(
            interaction,
            content=(
                f"Reset {member.mention}'s day: {reset.images} image(s) and "
                f"${reset.usd:.4f} forgiven (recorded in the ledger)."
            ),
        )
