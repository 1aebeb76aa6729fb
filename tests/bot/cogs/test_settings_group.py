"""The shared `/settings` group: areas from several cogs, one group per tree, Manage Server."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import discord
import pytest
from discord import app_commands

from bot.cogs.settings_group import (
    NOT_A_MANAGER,
    SettingsSubgroup,
    attach_settings,
    detach_settings,
    settings_group,
)


class Quota(SettingsSubgroup, name="quota", description="Limits"):
    @app_commands.command(name="show", description="Show the limits")
    async def show(self, interaction: discord.Interaction[Any]) -> None: ...


class Safety(SettingsSubgroup, name="safety", description="Safety"):
    @app_commands.command(name="show", description="Show the safety settings")
    async def show(self, interaction: discord.Interaction[Any]) -> None: ...


def tree() -> app_commands.CommandTree[Any]:
    return app_commands.CommandTree(discord.Client(intents=discord.Intents.none()))


def test_areas_from_several_cogs_share_one_guild_only_manager_group() -> None:
    commands = tree()
    attach_settings(commands, Safety())
    attach_settings(commands, Quota())
    group = commands.get_command("settings")
    assert isinstance(group, app_commands.Group)
    assert sorted(c.name for c in group.commands) == ["quota", "safety"]
    assert group.guild_only
    assert group.default_permissions == discord.Permissions(manage_guild=True)
    payload = group.to_dict(commands)
    assert [o["name"] for o in payload["options"]] == ["safety", "quota"]

    detach_settings(commands, Safety())
    assert [c.name for c in group.commands] == ["quota"]
    detach_settings(commands, Quota())
    assert commands.get_command("settings") is None


def test_each_tree_gets_its_own_group() -> None:
    first, second = tree(), tree()
    attach_settings(first, Safety())
    attach_settings(second, Safety())  # a second bot in the same process
    assert settings_group(first) is not settings_group(second)
    with pytest.raises(app_commands.CommandAlreadyRegistered):
        attach_settings(first, Safety())


def interaction(guild_id: int | None, **permissions: bool) -> Any:
    return SimpleNamespace(guild_id=guild_id, permissions=discord.Permissions(**permissions))


async def test_every_area_checks_manage_server_itself() -> None:
    area = Safety()
    assert await area.interaction_check(interaction(1, manage_guild=True))
    with pytest.raises(app_commands.MissingPermissions) as refused:
        await area.interaction_check(interaction(1, administrator=False, send_messages=True))
    assert str(refused.value) == NOT_A_MANAGER
    with pytest.raises(app_commands.NoPrivateMessage):
        await area.interaction_check(interaction(None, manage_guild=True))
