"""How a result looks: one embed per image, each with the image, prompt, seed, cost and timing."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import BinaryIO

import discord

from bot.services.errors import provider_label
from bot.services.generation import GenerationRecord, Outcome
from bot.ui.text import display, truncate

__all__ = ["EMBED_TOTAL_LIMIT", "format_usd", "render_info", "render_result"]

EMBED_TOTAL_LIMIT = 6000
DESCRIPTION_LIMIT = 4096
COLOUR = discord.Colour(0x5865F2)
PREVIEW_COLOUR = discord.Colour(0x99AAB5)


def format_usd(amount: float | None) -> str:
    """Four decimals for real prices (`$0.0200`); free is plainly `$0.00`."""
    if amount is None:
        return "—"
    return "$0.00" if amount == 0 else f"${amount:.4f}"


def _seconds(ms: float | None) -> str:
    return "—" if ms is None else f"{ms / 1000:.1f} s"


def render_result(
    outcome: Outcome, *, requester_name: str, sources: Sequence[BinaryIO] | None = None
) -> tuple[list[discord.Embed], list[discord.File]]:
    """Embeds and files for a finished generation, within Discord's limits for any prompt.
    `sources`: where to read each image from (staged for the upload); else its bytes."""
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
        source = sources[index] if sources is not None else io.BytesIO(image.data)
        files.append(discord.File(source, filename=filename, spoiler=spoiler))
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


def render_info(record: GenerationRecord, model_label: str) -> discord.Embed:
    """Everything about one generation, for the requester's eyes (ephemeral)."""
    embed = discord.Embed(title=f"Generation #{record.id}", colour=COLOUR)
    embed.description = display(record.prompt, DESCRIPTION_LIMIT)
    if record.negative_prompt:
        embed.add_field(
            name="Negative prompt", value=display(record.negative_prompt, 1024), inline=False
        )
    seeds = ", ".join("—" if s is None else str(s) for s in record.seeds) or "—"
    requested = "random" if record.requested_seed is None else str(record.requested_seed)
    embed.add_field(name="Seeds", value=truncate(seeds, 1024), inline=True)
    embed.add_field(name="Requested seed", value=requested, inline=True)
    embed.add_field(
        name="Options",
        value=f"aspect {record.aspect} · {record.count} image(s)"
        f"{' · private' if record.private else ''}",
        inline=True,
    )
    embed.add_field(
        name="Model", value=truncate(f"{model_label} ({record.model_id or '—'})", 1024), inline=True
    )
    embed.add_field(name="Provider", value=provider_label(record.provider), inline=True)
    cost_note = {"reported": " (reported)", "catalog": " (catalog price)"}.get(
        record.cost_source or "", ""
    )
    embed.add_field(name="Cost", value=format_usd(record.cost_usd) + cost_note, inline=True)
    embed.add_field(
        name="Timings",
        value=f"provider {_seconds(record.provider_latency_ms)} · "
        f"total {_seconds(record.total_latency_ms)}",
        inline=True,
    )
    embed.add_field(name="Made", value=discord.utils.format_dt(record.created_at, "R"), inline=True)
    embed.add_field(name="Status", value=record.status.value, inline=True)
    return embed
