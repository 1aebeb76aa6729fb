"""The discord.py client: loads the cogs, registers the persistent buttons, syncs commands."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import discord
import yarl
from discord import app_commands
from discord.ext import commands

from bot.app import App
from bot.cogs.delivery import NO_MENTIONS, RESTARTING, Delivery, send_error, tell_unexpected
from bot.cogs.generate import GenerationCog
from bot.cogs.modlog import ModLog
from bot.cogs.quota import QuotaCog
from bot.cogs.results import ResultsCog
from bot.cogs.safety import SafetyCog
from bot.services.staging import ImageStaging
from bot.settings import Settings
from bot.ui.history import HistoryPageButton
from bot.ui.views import ResultButton

__all__ = ["CanvasBot", "point_discord_at"]

log = logging.getLogger(__name__)


def point_discord_at(settings: Settings) -> None:
    """Use DISCORD_API_BASE_URL / DISCORD_GATEWAY_URL when set (REST proxies, loopback tests)."""
    if settings.discord_api_base_url:
        discord.http.Route.BASE = settings.discord_api_base_url.rstrip("/")
    if settings.discord_gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)


class CanvasTree(app_commands.CommandTree["CanvasBot"]):  # type: ignore[type-var]
    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        """While shutting down, new commands get a kind word instead of a half-done job."""
        if self.client.delivery.accepting:
            return True
        await send_error(interaction, RESTARTING)
        return False


class CanvasBot(commands.AutoShardedBot):
    """Auto-sharded: one process runs every shard, or the CANVASBOT_SHARD_IDS it is given."""

    def __init__(self, app: App, **options: Any) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        super().__init__(
            tree_cls=CanvasTree,
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            allowed_mentions=NO_MENTIONS,
            **options,
        )
        self.app = app
        self.commands_synced = False
        self._recovered = False
        self._started_at = datetime.now(UTC)

    async def setup_hook(self) -> None:
        settings = self.app.settings
        modlog = ModLog(self, self.app.safety)
        self.delivery = delivery = Delivery(
            self.app.generation,
            ImageStaging(self.app.image_memory),
            progress_every_s=settings.progress_interval_seconds,
            token_window_s=settings.interaction_token_seconds,
            on_blocked=modlog.blocked,
        )
        await self.add_cog(GenerationCog(self.app.generation, self.app.catalog, delivery))
        if self.app.quotas is not None:
            await self.add_cog(QuotaCog(self, self.app.quotas, delivery))
        results = ResultsCog(self, self.app.generation, delivery, modlog)
        await self.add_cog(results)
        await self.add_cog(SafetyCog(self, self.app.safety, modlog))
        self.result_actions = results
        self.add_dynamic_items(ResultButton, HistoryPageButton)
        self.tree.on_error = self.on_app_command_error
        await self.sync_commands()

    async def sync_commands(self) -> None:
        guild_id = self.app.settings.dev_guild_id
        if guild_id:
            guild = discord.Object(id=guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d commands to the dev guild %s", len(synced), guild_id)
        else:
            synced = await self.tree.sync()
            log.info("synced %d global commands (they may take a while to appear)", len(synced))
        self.commands_synced = True

    async def shutdown(self, grace_s: float) -> int:
        """Stop taking commands, drain running generations, close the gateway connection."""
        cancelled = await self.delivery.drain(grace_s)
        await self.close()
        return cancelled

    async def on_ready(self) -> None:
        log.info("ready as %s in %d servers", self.user, len(self.guilds))
        if not self._recovered:
            self._recovered = True
            await self.recover_interrupted()

    def owns_guild(self, guild_id: int | None) -> bool:
        """Whether this process runs the shard of `guild_id` (DMs go to shard 0)."""
        count = self.shard_count or 1
        shard = 0 if guild_id is None else (guild_id >> 22) % count
        return self.shard_ids is None or shard in self.shard_ids

    async def recover_interrupted(self) -> None:
        """Generations a previous run of this process left in flight: marked interrupted,
        refunded, and their requesters told in the channel (pinging nobody)."""
        records = await self.app.generation.recover_interrupted(
            self.owns_guild, started_before=self._started_at
        )
        for record in records:
            if record.channel_id is None:
                continue
            try:
                channel = self.get_channel(record.channel_id) or await self.fetch_channel(
                    record.channel_id
                )
                await channel.send(  # type: ignore[union-attr]
                    f"<@{record.user_id}>, your image #{record.id} was interrupted by a "
                    "restart. Nothing was charged; please try again.",
                    allowed_mentions=NO_MENTIONS,
                )
            except discord.HTTPException:
                log.warning("could not tell %s about interrupted #%s", record.user_id, record.id)

    async def on_app_command_error(
        self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError
    ) -> None:
        """The one place unexpected command errors end: logged, and a kind word to the user."""
        if not isinstance(error, app_commands.TransformerError | app_commands.CheckFailure):
            await tell_unexpected(interaction, error)
            return
        try:
            await send_error(interaction, str(error) or "Those options could not be used.")
        except discord.HTTPException:
            log.warning("could not tell the user about the error", exc_info=True)

    async def on_error(self, event_method: str, /, *args: Any, **kwargs: Any) -> None:
        log.exception("unhandled error in %s", event_method)
