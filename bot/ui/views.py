"""Buttons under results. Each is a dynamic item whose custom_id carries the generation id, so
they work for any member and keep working after a restart; the state comes from the database.
The handlers live on the bot (`bot.result_actions`), which keeps ui free of cogs."""

from __future__ import annotations

import re
from typing import Any, Protocol

import discord

__all__ = ["RESULT_ACTIONS", "ResultActions", "ResultButton", "result_view"]


class ResultActions(Protocol):
    async def accepting(self, interaction: discord.Interaction[Any]) -> bool: ...

    async def on_result_button(
        self, interaction: discord.Interaction[Any], action: str, generation_id: int
    ) -> None: ...


# action → (label, emoji, style); the order is the order under each result, five to a row.
RESULT_ACTIONS: dict[str, tuple[str, str, discord.ButtonStyle]] = {
    "vary": ("Vary", "\N{GAME DIE}", discord.ButtonStyle.primary),
    "reseed": ("Reseed", "\N{SEEDLING}", discord.ButtonStyle.secondary),
    "edit": ("Edit prompt", "\N{PENCIL}", discord.ButtonStyle.secondary),
    "info": ("Info", "\N{INFORMATION SOURCE}", discord.ButtonStyle.secondary),
    "delete": ("Delete", "\N{WASTEBASKET}", discord.ButtonStyle.danger),
    "report": ("Report", "\N{TRIANGULAR FLAG ON POST}", discord.ButtonStyle.secondary),
}
BUTTONS_PER_ROW = 5  # Discord's limit


class ResultButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"canvasbot:(?P<action>[a-z]{1,10}):(?P<id>[0-9]{1,20})",
):
    def __init__(self, action: str, generation_id: int, *, row: int | None = None) -> None:
        label, emoji, style = RESULT_ACTIONS[action]
        super().__init__(
            discord.ui.Button(
                label=label,
                emoji=emoji,
                style=style,
                custom_id=f"canvasbot:{action}:{generation_id}",
            ),
            row=row,
        )
        self.action = action
        self.generation_id = generation_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> ResultButton:
        if match["action"] not in RESULT_ACTIONS:
            raise ValueError(f"unknown result action {match['action']!r}")
        return cls(match["action"], int(match["id"]))

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        actions: ResultActions = interaction.client.result_actions  # type: ignore[attr-defined]
        return await actions.accepting(interaction)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        actions: ResultActions = interaction.client.result_actions  # type: ignore[attr-defined]
        await actions.on_result_button(interaction, self.action, self.generation_id)


def result_view(generation_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for index, action in enumerate(RESULT_ACTIONS):
        view.add_item(ResultButton(action, generation_id, row=index // BUTTONS_PER_ROW))
    return view
