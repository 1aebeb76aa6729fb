"""What moderators and admins see: mod-log posts (blocked requests, reported images) and a server's
safety settings. User text goes through `for_display` (no pings, no markdown, nothing invisible,
within Discord's limits); mentions in embeds never ping, and the bot sends with none allowed."""

from __future__ import annotations

import discord

from bot.services.display import for_display
from bot.services.generation import GenerationRecord
from bot.services.moderation import ServerSafety
from bot.services.safety import Verdict
from bot.ui.text import truncate
from providers.base import PersonPolicy, SafetyLevel

__all__ = [
    "LEVEL_NOTES",
    "PEOPLE_LABELS",
    "render_blocked",
    "render_report",
    "render_safety",
]

FIELD_LIMIT = 1024
BLOCKED_COLOUR = discord.Colour(0xED4245)
REPORT_COLOUR = discord.Colour(0xF0B232)
SETTINGS_COLOUR = discord.Colour(0x5865F2)

LEVEL_NOTES: dict[SafetyLevel, str] = {
    SafetyLevel.STRICT: "mild violence, suggestive and disturbing prompts are refused too; "
    "providers filter as strictly as they can",
    SafetyLevel.STANDARD: "explicit sexual content and extreme gore are refused; flagged "
    "images are withheld",
    SafetyLevel.RELAXED: "in age-restricted channels, explicit prompts are allowed and flagged "
    "images are posted as spoilers; every other channel gets standard",
}
PEOPLE_LABELS: dict[PersonPolicy, str] = {
    PersonPolicy.ALLOW_ADULT: "adults allowed",
    PersonPolicy.DONT_ALLOW: "no people (where the provider supports it)",
}
KIND_LABELS = {
    "generate": "/generate",
    "vary": "Vary",
    "reseed": "Reseed",
    "edit": "Edit prompt",
}


def _shown(text: str | None, limit: int = FIELD_LIMIT) -> str:
    return for_display(text or "", limit) or "—"


def _where(channel_id: int | None) -> str:
    return f"<#{channel_id}>" if channel_id else "a direct message"


def render_blocked(
    verdict: Verdict, record: GenerationRecord | None, user_id: int
) -> discord.Embed:
    """A blocked request for the mod-log: who, where, what was found, and the prompt."""
    embed = discord.Embed(title="Blocked request", colour=BLOCKED_COLOUR)
    embed.description = truncate(verdict.moderator_detail, 4096)
    embed.add_field(name="Who", value=f"<@{user_id}> ({user_id})", inline=True)
    if record is not None:
        embed.add_field(name="Where", value=_where(record.channel_id), inline=True)
        embed.add_field(name="How", value=KIND_LABELS.get(record.kind, record.kind), inline=True)
        embed.add_field(name="Prompt", value=_shown(record.prompt), inline=False)
        if record.negative_prompt:
            embed.add_field(
                name="Negative prompt", value=_shown(record.negative_prompt), inline=False
            )
        embed.set_footer(text=f"#{record.id} · no provider was called; nothing was charged")
    embed.timestamp = discord.utils.utcnow()
    return embed


def render_report(
    record: GenerationRecord | None,
    *,
    generation_id: int,
    reporter_id: int,
    jump_url: str | None,
    image_urls: list[str],
) -> discord.Embed:
    """A reported result for the mod-log: who reported it, whose it is, where, and the image."""
    embed = discord.Embed(title="Reported image", colour=REPORT_COLOUR)
    embed.add_field(name="Reported by", value=f"<@{reporter_id}> ({reporter_id})", inline=True)
    if record is not None:
        embed.add_field(
            name="Made by", value=f"<@{record.user_id}> ({record.user_id})", inline=True
        )
        embed.add_field(name="Where", value=_where(record.channel_id), inline=True)
        embed.add_field(name="Prompt", value=_shown(record.prompt), inline=False)
        if record.negative_prompt:
            embed.add_field(
                name="Negative prompt", value=_shown(record.negative_prompt), inline=False
            )
    links = [f"[message]({jump_url})"] if jump_url else []
    links += [f"[image {i}]({url})" for i, url in enumerate(image_urls, start=1)]
    if links:
        embed.add_field(name="Links", value=truncate(" · ".join(links), FIELD_LIMIT), inline=False)
    if image_urls:
        embed.set_image(url=image_urls[0])
    embed.set_footer(text=f"#{generation_id}")
    embed.timestamp = discord.utils.utcnow()
    return embed


def render_safety(
    server: ServerSafety, *, default_level: SafetyLevel, operator_terms: int
) -> discord.Embed:
    """`/settings safety show`: the settings as they apply, for the server's admins."""
    embed = discord.Embed(title="Content safety in this server", colour=SETTINGS_COLOUR)
    level = f"**{server.level}**"
    if server.level_is_default:
        level += " (the bot's default)"
    embed.add_field(name="Level", value=f"{level}: {LEVEL_NOTES[server.level]}", inline=False)
    people = PEOPLE_LABELS[server.people]
    if server.people_is_default:
        people += " (the bot's default)"
    embed.add_field(name="People", value=people, inline=True)
    embed.add_field(
        name="Mod-log",
        value=f"<#{server.modlog_channel_id}>" if server.modlog_channel_id else "not set",
        inline=True,
    )
    terms = len(server.terms)
    embed.add_field(
        name="Block list",
        value=f"the shipped list, {operator_terms} term(s) from the bot's operator, and "
        f"{terms} of this server's own (`/settings safety blocklist action:list`)",
        inline=False,
    )
    embed.set_footer(text=f"Servers that choose no level get {default_level}.")
    return embed
