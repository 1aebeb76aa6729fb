"""How a result looks: one embed per image, each with the image, prompt, seed, cost and timing."""

from __future__ import annotations

import io

import discord

from bot.services.errors import provider_label
from bot.services.generation import Outcome
from bot.ui.text import display, truncate

__all__ = ["EMBED_TOTAL_LIMIT", "format_usd", "render_result"]

EMBED_TOTAL_LIMIT = 6000
DESCRIPTION_LIMIT = 4096
COLOUR = discord.Colour(0x5865F2)
PREVIEW_COLOUR = discord.Colour(0x99AAB5)


def format_usd(amount: float | None) -> str:
    return "—" if amount is None else f"${amount:.4f}"


def _seconds(ms: float | None) -> str:
    return "—" if ms is None else f"{ms / 1000:.1f} s"


def render_result(
    outcome: Outcome, *, requester_name: str
) -> tuple[list[discord.Embed], list[discord.File]]:
    """Embeds and files for a finished generation, within Discord's limits for any prompt."""
    result, record = outcome.result, outcome.record
    count = len(result.images)
    per_image = result.cost_usd / count if count else 0.0
    cost_note = "reported by provider" if result.cost_source == "reported" else "catalog price"
    model_name = outcome.model.label
    provider = provider_label(result.provider)
    embeds: list[discord.Embed] = []
    files: list[discord.File] = []
    for index, image in enumerate(result.images):
        filename = f"canvasbot-{record.id}-{index + 1}.{image.extension}"
        spoiler = image.flagged_nsfw
        files.append(discord.File(io.BytesIO(image.data), filename=filename, spoiler=spoiler))
        shown_name = f"SPOILER_{filename}" if spoiler else filename
        embed = discord.Embed(colour=PREVIEW_COLOUR if result.offline_preview else COLOUR)
        if result.offline_preview:
            embed.set_author(name="Offline preview: not an AI model")
        if count > 1:
            embed.title = f"Image {index + 1} of {count}"
        embed.add_field(
            name="Seed",
            value=str(image.seed) if image.seed is not None else "not reported",
            inline=True,
        )
        embed.add_field(
            name="Cost",
            value=format_usd(image.cost_usd if image.cost_usd is not None else per_image),
            inline=True,
        )
        embed.add_field(name="Model", value=truncate(model_name, 100), inline=True)
        embed.add_field(name="Provider", value=provider, inline=True)
        embed.add_field(name="Time", value=_seconds(outcome.total_ms), inline=True)
        if index == 0 and record.negative_prompt:
            embed.add_field(
                name="Negative prompt", value=display(record.negative_prompt, 300), inline=False
            )
        footer = f"#{record.id} · {truncate(requester_name, 64)}"
        if count > 1:
            footer += f" · total {format_usd(result.cost_usd)}"
        embed.set_footer(text=f"{footer} ({cost_note})")
        embed.set_image(url=f"attachment://{shown_name}")
        embeds.append(embed)
    # The prompt goes in every embed, cut so that all embeds together stay within 6000.
    budget = (EMBED_TOTAL_LIMIT - sum(len(e) for e in embeds) - 8) // max(1, count)
    description = display(record.prompt, min(DESCRIPTION_LIMIT, max(16, budget)))
    for embed in embeds:
        embed.description = description
    return embeds, files
