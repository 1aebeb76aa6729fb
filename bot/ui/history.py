"""The /history page: a member's recent generations, with seeds, cost and links."""

from __future__ import annotations

import re
from typing import Any

import discord

from bot.services.generation import GenerationRecord
from bot.ui.embeds import COLOUR, format_usd
from bot.ui.text import display

__all__ = ["HISTORY_PER_PAGE", "HistoryPageButton", "history_view", "render_history"]

HISTORY_PER_PAGE = 5


def _link(record: GenerationRecord) -> str | None:
    if not (record.message_id and record.channel_id):
        return None
    where = record.guild_id or "@me"
    return f"https://discord.com/channels/{where}/{record.channel_id}/{record.message_id}"


def render_history(records: list[GenerationRecord], page: int) -> discord.Embed:
    embed = discord.Embed(title="Your recent images", colour=COLOUR)
    if not records:
        embed.description = "Nothing here yet. Try `/generate`."
        return embed
    for record in records[:HISTORY_PER_PAGE]:
        seeds = ", ".join("—" if s is None else str(s) for s in record.seeds) or "—"
        when = discord.utils.format_dt(record.created_at, "R")
        link = _link(record)
        lines = [
            display(record.prompt, 300),
            f"{record.status.value} · {when} · seeds {seeds} · {format_usd(record.cost_usd)}",
        ]
        if link:
            lines.append(f"[open]({link})")
        embed.add_field(
            name=f"#{record.id} · {record.kind}", value="\n".join(lines)[:1024], inline=False
        )
    embed.set_footer(text=f"Page {page + 1}")
    return embed


class HistoryPageButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"canvasbot:history:(?P<user>[0-9]{1,20}):(?P<page>[0-9]{1,4})",
):
    def __init__(self, user_id: int, page: int, label: str) -> None:
        super().__init__(
            discord.ui.Button(
                label=label,
                style=discord.ButtonStyle.secondary,
                custom_id=f"canvasbot:history:{user_id}:{page}",
            )
        )
        self.user_id = user_id
        self.page = page

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> HistoryPageButton:
        return cls(int(match["user"]), int(match["page"]), str(item.label or ""))  # type: ignore[attr-defined]

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        actions = interaction.client.result_actions  # type: ignore[attr-defined]
        await actions.on_history_page(interaction, self.user_id, self.page)


def history_view(user_id: int, page: int, has_more: bool) -> discord.ui.View | None:
    if page == 0 and not has_more:
        return None
    view = discord.ui.View(timeout=None)
    if page > 0:
        view.add_item(HistoryPageButton(user_id, page - 1, "Newer"))
    if has_more:
        view.add_item(HistoryPageButton(user_id, page + 1, "Older"))
    return view
