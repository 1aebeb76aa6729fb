"""`/settings`: one command for every server setting, each area a subgroup owned by its own cog.

Discord allows one level of subgroups (`/settings <area> <command>`), so an area is a subgroup of
`/settings` and its commands are plain subcommands (`/settings safety level`). A cog adds its area
like this (see bot/cogs/safety.py):

    class QuotaSettings(SettingsSubgroup, name="quota", description="Image and spending limits"):
        def __init__(self, quotas: QuotaService) -> None:
            super().__init__()
            self.quotas = quotas

        @app_commands.command(name="show", description="This server's limits")
        async def show(self, interaction: discord.Interaction) -> None: ...

    class QuotaCog(commands.Cog):
        async def cog_load(self) -> None:
            attach_settings(self.bot.tree, self.group)      # self.group = QuotaSettings(...)

        async def cog_unload(self) -> None:
            detach_settings(self.bot.tree, self.group)

The `/settings` group itself is made on first use, one per command tree (so bots in one process,
as in the tests, never share it), guild-only and by default visible to members with Manage
Server. That default is only a default (a server can change who sees a command under Server
Settings → Integrations), so `SettingsSubgroup` also checks Manage Server itself before any
subcommand runs: settings stay with the people who manage the server.
"""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

__all__ = [
    "NOT_A_MANAGER",
    "SETTINGS_NAME",
    "SettingsSubgroup",
    "attach_settings",
    "detach_settings",
    "settings_group",
]

SETTINGS_NAME = "settings"
NOT_A_MANAGER = (
    "Only members with the **Manage Server** permission can change Canvasbot's settings here."
)
ONLY_IN_SERVERS = "Canvasbot's settings belong to a server: use this command in one."


class NotAManager(app_commands.MissingPermissions):
    """Manage Server is missing; the message is the kind sentence the user sees."""

    def __init__(self) -> None:
        self.missing_permissions = ["manage_guild"]
        app_commands.CheckFailure.__init__(self, NOT_A_MANAGER)


class SettingsSubgroup(app_commands.Group):
    """Base for a `/settings` area: every subcommand needs a server and Manage Server."""

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        if interaction.guild_id is None:
            raise app_commands.NoPrivateMessage(ONLY_IN_SERVERS)
        if not interaction.permissions.manage_guild:
            raise NotAManager
        return True


def settings_group(tree: app_commands.CommandTree[Any]) -> app_commands.Group:
    """The tree's `/settings` group, made (and added to the tree) on first use."""
    existing = tree.get_command(SETTINGS_NAME)
    if isinstance(existing, app_commands.Group):
        return existing
    if existing is not None:
        raise TypeError(f"/{SETTINGS_NAME} is already a command, not a group")
    group = app_commands.Group(
        name=SETTINGS_NAME,
        description="Canvasbot's settings for this server (Manage Server)",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )
    tree.add_command(group)
    return group


def attach_settings(tree: app_commands.CommandTree[Any], area: app_commands.Group) -> None:
    """Add an area (`/settings <area> …`); call before the commands are synced."""
    settings_group(tree).add_command(area)


def detach_settings(tree: app_commands.CommandTree[Any], area: app_commands.Group) -> None:
    """Remove an area; `/settings` goes too once it has no areas left."""
    group = tree.get_command(SETTINGS_NAME)
    if not isinstance(group, app_commands.Group):
        return
    group.remove_command(area.name)
    if not group.commands:
        tree.remove_command(SETTINGS_NAME)
