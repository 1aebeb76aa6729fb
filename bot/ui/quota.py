"""How quota use and server statistics look."""

from __future__ import annotations

import discord

from bot.services.quotas import (
    Allowance,
    GuildStats,
    QuotaOverrides,
    QuotaUsage,
    RoleQuota,
    discord_timestamp,
)
from bot.ui.embeds import COLOUR, format_usd

__all__ = ["render_overrides", "render_stats", "render_usage"]


def _count(allowance: Allowance) -> str:
    if allowance.limit is None:
        return f"{int(allowance.used)} used · no limit"
    return f"{int(allowance.used)} of {int(allowance.limit)} · {int(allowance.left or 0)} left"


def _money(allowance: Allowance) -> str:
    if allowance.limit is None:
        return f"{format_usd(allowance.used)} used · no limit"
    return (
        f"{format_usd(allowance.used)} of {format_usd(allowance.limit)} · "
        f"{format_usd(allowance.left or 0)} left"
    )


def render_usage(usage: QuotaUsage) -> discord.Embed:
    embed = discord.Embed(title="Your Canvasbot quota", colour=COLOUR)
    embed.add_field(name="Images today", value=_count(usage.images_today), inline=True)
    embed.add_field(name="Spend today", value=_money(usage.usd_today), inline=True)
    embed.add_field(
        name="This month",
        value=f"{usage.images_month} images · {format_usd(usage.usd_month)}",
        inline=True,
    )
    if usage.guild_month is not None:
        embed.add_field(
            name="Server budget this month", value=_money(usage.guild_month), inline=False
        )
    running = f"{usage.in_flight} running"
    if usage.limits.max_concurrent is not None:
        running += f" (at most {usage.limits.max_concurrent})"
    embed.add_field(name="Generations", value=running, inline=True)
    if usage.cooldown_until is not None:
        embed.add_field(
            name="Cooldown", value=f"ready {discord_timestamp(usage.cooldown_until)}", inline=True
        )
    embed.add_field(
        name="Resets",
        value=f"daily {discord_timestamp(usage.day_resets_at)} · "
        f"monthly {discord_timestamp(usage.month_resets_at, 'D')}",
        inline=False,
    )
    if usage.limits.exempt:
        embed.set_footer(text="One of your roles lifts your personal limits.")
    return embed


def render_stats(stats: GuildStats, server_name: str) -> discord.Embed:
    embed = discord.Embed(title=f"Canvasbot in {server_name}"[:256], colour=COLOUR)
    embed.description = (
        f"Since {stats.since.isoformat()}: **{stats.images}** images, **{format_usd(stats.usd)}**"
    )
    days = (
        "\n".join(
            f"{d.day.isoformat()}: {d.images} · {format_usd(d.usd)}" for d in stats.days[-14:]
        )
        or "nothing yet"
    )
    embed.add_field(name="Per day", value=days[:1024], inline=False)
    users = (
        "\n".join(f"<@{u.user_id}>: {u.images} · {format_usd(u.usd)}" for u in stats.top_users)
        or "nobody yet"
    )
    embed.add_field(name="Top users", value=users[:1024], inline=True)
    providers = (
        "\n".join(f"{p.provider}: {p.images} · {format_usd(p.usd)}" for p in stats.providers)
        or "none yet"
    )
    embed.add_field(name="Per provider", value=providers[:1024], inline=True)
    return embed


def _limits_line(values: QuotaOverrides | RoleQuota) -> str:
    parts = []
    for name, label, money in (
        ("user_daily_images", "images/day", False),
        ("user_daily_usd", "$/day", True),
        ("cooldown_seconds", "cooldown s", False),
        ("max_concurrent", "at once", False),
        ("guild_monthly_usd", "server $/month", True),
    ):
        value = getattr(values, name, None)
        if value is not None:
            parts.append(f"{label} {format_usd(value) if money else f'{value:g}'}")
    return ", ".join(parts) or "defaults"


def render_overrides(guild: QuotaOverrides, roles: list[RoleQuota]) -> discord.Embed:
    embed = discord.Embed(title="Quota settings for this server", colour=COLOUR)
    embed.add_field(name="Server", value=_limits_line(guild), inline=False)
    lines = [f"<@&{r.role_id}>: {'exempt' if r.exempt else _limits_line(r)}" for r in roles]
    embed.add_field(name="Roles", value="\n".join(lines)[:1024] or "none", inline=False)
    return embed
