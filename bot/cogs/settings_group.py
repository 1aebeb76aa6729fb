"""The `/settings` command group, shared by the cogs that add subgroups to it (quota, safety).

Server admins only: Discord hides it from members without Manage Server (default permissions),
and every subcommand checks the permission again, since default permissions can be changed by
the server.
"""

from __future__ import annotations

import discord
from discord import app_commands

__all__ = ["settings_group"]

settings_group = app_commands.Group(
    name="settings",
    description="Canvasbot's settings for this server (Manage Server)",
    guild_only=True,
    default_permissions=discord.Permissions(manage_guild=True),
)
