"""Buttons under results. They are dynamic items: the custom_id carries the generation id, so
they keep working after a restart; the handler lives on the bot (`bot.result_actions`)."""

from __future__ import annotations

import re
from typing import Any, Protocol

import discord

__all__ = ["ResultActions", "VaryButton", "result_view"]


class ResultActions(Protocol):
    async def vary_from_button(
        self, interaction: discord.Interaction[Any], generation_id: int
    ) -> None: ...


class VaryButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"canvasbot:vary:(?P<id>[0-9]{1,20})"
):
    def __init__(self, generation_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Vary",
                emoji="\N{GAME DIE}",
                style=discord.ButtonStyle.secondary,
                custom_id=f"canvasbot:vary:{generation_id}",
            )
        )
        self.generation_id = generation_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> VaryButton:
        return cls(int(match["id"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        actions: ResultActions = interaction.client.result_actions  # type: ignore[attr-defined]
        await actions.vary_from_button(interaction, self.generation_id)


def result_view(generation_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(VaryButton(generation_id))
    return view
