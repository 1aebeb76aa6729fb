"""Answering an interaction: acknowledge first, then the result or a kind explanation.

- The acknowledgement (defer) happens before any I/O: Discord allows 3 seconds.
- While the provider works, the loading message says which provider and for how long (one edit
  every few seconds, well inside Discord's rate limits).
- The result replaces the loading message. If the interaction token (15 minutes) would expire
  first, the result goes to the channel with the bot token instead.
- Every message sets allowed_mentions to none: prompts are user text and must never ping anyone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import discord

from bot.services.errors import PromptBlocked, UserFacingError, provider_label
from bot.services.generation import GenerationService, Outcome, Requester
from bot.services.staging import ImageStaging
from bot.ui.embeds import render_result
from bot.ui.text import truncate
from bot.ui.views import result_view

__all__ = [
    "NO_MENTIONS",
    "RESTARTING",
    "Delivery",
    "acknowledge",
    "requester_of",
    "send_error",
    "tell_unexpected",
]

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()
CONTENT_LIMIT = 2000
HOURGLASS = "\N{HOURGLASS WITH FLOWING SAND}"
TOKEN_MARGIN_S = 30.0  # leave time for the upload itself before the token dies (at most 10%)
RESTARTING = "Canvasbot is restarting. Please try again in a minute; nothing was charged."
MAX_UPLOADS = 16
UNEXPECTED = "Something went wrong on our side. Nothing was charged; please try again in a moment."
UNDELIVERED = (
    "Your image was made, but Discord would not take it just now, so it was not charged. "
    "Please try again in a moment."
)

Work = Callable[[Callable[[str], None]], Awaitable[Outcome]]
OnBlocked = Callable[[discord.Interaction[Any], PromptBlocked], Awaitable[object]]


def requester_of(interaction: discord.Interaction[Any]) -> Requester:
    """Who asked and where; after `acknowledge`, also the loading message the result fills, so
    the generation is recorded with it from the start (no write between result and upload)."""
    return Requester(
        user_id=interaction.user.id,
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id,
        interaction_id=interaction.id,
        role_ids=tuple(role.id for role in getattr(interaction.user, "roles", ())),
        channel_age_restricted=age_restricted(interaction.channel),
        message_id=interaction.extras.get("message_id"),
    )


def age_restricted(channel: object) -> bool:
    """Discord's age-restricted (NSFW) flag; a thread has its parent's. DMs never have it."""
    is_nsfw = getattr(channel, "is_nsfw", None)
    return bool(is_nsfw()) if callable(is_nsfw) else bool(getattr(channel, "nsfw", False))


async def acknowledge(interaction: discord.Interaction[Any], *, ephemeral: bool) -> None:
    """Defer at once (the 3-second clock is running); remember how and when."""
    interaction.extras["ephemeral"] = ephemeral
    interaction.extras["acknowledged_at"] = time.monotonic()
    response = await interaction.response.defer(thinking=True, ephemeral=ephemeral)
    # The loading message's id: recorded before the result shows, so the result can be found
    # by its message (context menus, links) the moment anyone sees it.
    interaction.extras["message_id"] = response.message_id if response else None


async def send_error(interaction: discord.Interaction[Any], message: str) -> None:
    """An ephemeral explanation, whether or not the interaction was already deferred."""
    message = truncate(message, CONTENT_LIMIT)
    if not interaction.response.is_done():
        await interaction.response.send_message(
            message, ephemeral=True, allowed_mentions=NO_MENTIONS
        )
        return
    if interaction.response.type is discord.InteractionResponseType.deferred_message_update:
        # A button acknowledged without a message of its own: its "original response" is the
        # message the button sits on, which must stay.
        await interaction.followup.send(message, ephemeral=True, allowed_mentions=NO_MENTIONS)
        return
    if interaction.extras.get("ephemeral", False):
        await interaction.edit_original_response(
            content=message, embeds=[], attachments=[], view=None, allowed_mentions=NO_MENTIONS
        )
        return
    # The loading message is public: replace it with a note only the user sees.
    with contextlib.suppress(discord.HTTPException):
        await interaction.delete_original_response()
    await interaction.followup.send(message, ephemeral=True, allowed_mentions=NO_MENTIONS)


async def tell_unexpected(interaction: discord.Interaction[Any], error: BaseException) -> None:
    """Where unexpected errors of commands, buttons and modals end: logged with their traceback,
    and a kind word to the user instead of a "thinking…" that never ends."""
    log.error("interaction %s failed", interaction.id, exc_info=error)
    try:
        await send_error(interaction, UNEXPECTED)
    except discord.HTTPException:
        log.warning("could not tell the user about the error", exc_info=True)


@dataclass
class Delivery:
    service: GenerationService
    # Result images from the provider's answer to the end of their upload (bounded memory).
    staging: ImageStaging
    progress_every_s: float = 3.0
    token_window_s: float = 900.0
    accepting: bool = True
    on_blocked: OnBlocked | None = None  # e.g. post the refused request to the mod-log
    # Uploads at once: each holds a chunk or two of its file in the socket's buffer, and past a
    # few dozen the link to Discord, not concurrency, is the limit.
    uploads: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(MAX_UPLOADS))
    _in_flight: set[asyncio.Task[Any]] = field(default_factory=set)
    _idle: asyncio.Event = field(default_factory=asyncio.Event)

    async def acknowledge(self, interaction: discord.Interaction[Any], *, ephemeral: bool) -> None:
        await acknowledge(interaction, ephemeral=ephemeral)
        metrics = self.service.metrics
        if metrics is not None:
            waited = (discord.utils.utcnow() - interaction.created_at).total_seconds()
            metrics.acknowledgement_seconds.observe(max(0.0, waited))

    async def deliver(self, interaction: discord.Interaction[Any], work: Work) -> Outcome | None:
        """Run the generation and post it (or the explanation). The caller has acknowledged.
        The outcome returned holds no image bytes: they went to Discord."""
        if not self.accepting:
            # Commands and buttons are turned away earlier; this catches what got past those
            # checks (a modal opened before the shutdown began): no new paid work now.
            await send_error(interaction, RESTARTING)
            return None
        task = asyncio.current_task()
        assert task is not None
        self._in_flight.add(task)
        self._idle.clear()
        try:
            return await self._deliver(interaction, work)
        finally:
            self._in_flight.discard(task)
            if not self._in_flight:
                self._idle.set()

    async def idle(self) -> None:
        """Return once no generation is being delivered (the last upload has been answered)."""
        if self._in_flight:
            await self._idle.wait()

    async def drain(self, grace_s: float) -> int:
        """Stop taking work; wait up to `grace_s` for running generations, then cancel the rest
        (they are recorded as interrupted and refunded). Returns how many were cancelled."""
        self.accepting = False
        if not self._in_flight:
            return 0
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace_s):
                await self._idle.wait()
        leftover = list(self._in_flight)
        for task in leftover:
            task.cancel()
        await asyncio.gather(*leftover, return_exceptions=True)
        return len(leftover)

    async def _deliver(self, interaction: discord.Interaction[Any], work: Work) -> Outcome | None:
        working: list[str] = []
        ticker = asyncio.create_task(self._progress(interaction, working))
        try:
            outcome = await work(working.append)
        except UserFacingError as exc:
            ticker.cancel()
            await send_error(interaction, exc.message)
            if isinstance(exc, PromptBlocked) and self.on_blocked is not None:
                await self.on_blocked(interaction, exc)
            return None
        finally:
            ticker.cancel()
        staged = await self.staging.stage_all(outcome.result.images)
        try:
            embeds, files = render_result(
                outcome,
                requester_name=interaction.user.display_name,
                sources=[image.file for image in staged],
            )
            # The staged images are what gets uploaded and they hold the bytes until release:
            # drop our reference, so an image put on disk leaves memory now.
            outcome = replace(outcome, result=replace(outcome.result, images=()))
            try:
                return await self._post(interaction, outcome, embeds, files)
            except discord.HTTPException as exc:
                # Discord would not take the result (an upload refused, its servers failing):
                # the member has nothing to show for the charge, so it is refunded.
                await self.service.undelivered(outcome.record, f"Discord answered {exc.status}")
                with contextlib.suppress(discord.HTTPException):
                    await send_error(interaction, UNDELIVERED)
                return None
        finally:
            for image in staged:
                image.release()

    async def _post(
        self,
        interaction: discord.Interaction[Any],
        outcome: Outcome,
        embeds: list[discord.Embed],
        files: list[discord.File],
    ) -> Outcome:
        content = truncate(" ".join(outcome.notes), CONTENT_LIMIT) if outcome.notes else None
        view = result_view(outcome.record.id)
        message: discord.Message | None = None
        loading_id = interaction.extras.get("message_id")
        if self._token_alive(interaction):
            if loading_id and outcome.record.message_id != loading_id:
                await self.service.record_message(outcome.record.id, loading_id)
            try:
                async with self.uploads:
                    message = await interaction.edit_original_response(
                        content=content,
                        embeds=embeds,
                        attachments=files,
                        view=view,
                        allowed_mentions=NO_MENTIONS,
                    )
            except (discord.NotFound, discord.Forbidden) as exc:
                # The token died after all (or the loading message was deleted).
                log.info("result for %s goes to the channel: %s", outcome.record.id, exc)
                for file in files:
                    file.reset()
        if message is None:
            async with self.uploads:
                message = await self._send_to_channel(interaction, content, embeds, files, view)
        if message.id != loading_id:
            await self.service.record_message(outcome.record.id, message.id)
        return outcome

    def _token_alive(self, interaction: discord.Interaction[Any]) -> bool:
        acknowledged = interaction.extras.get("acknowledged_at", time.monotonic())
        margin = min(TOKEN_MARGIN_S, self.token_window_s / 10)
        return time.monotonic() - acknowledged < self.token_window_s - margin

    async def _send_to_channel(
        self,
        interaction: discord.Interaction[Any],
        content: str | None,
        embeds: list[discord.Embed],
        files: list[discord.File],
        view: discord.ui.View,
    ) -> discord.Message:
        channel = interaction.channel
        if not isinstance(channel, discord.abc.Messageable):
            channel = await interaction.client.fetch_channel(interaction.channel_id or 0)
        # A mention for context that pings nobody (allowed_mentions none).
        lead = f"{interaction.user.mention}, your image is ready."
        text = truncate(f"{lead} {content}" if content else lead, CONTENT_LIMIT)
        return await channel.send(  # type: ignore[union-attr]
            content=text, embeds=embeds, files=files, view=view, allowed_mentions=NO_MENTIONS
        )

    async def _progress(self, interaction: discord.Interaction[Any], working: list[str]) -> None:
        """Say who is working and for how long, every few seconds, while the token lives."""
        started = time.monotonic()
        while True:
            await asyncio.sleep(self.progress_every_s)
            if not self._token_alive(interaction):
                return
            who = provider_label(working[-1]) if working else "the image provider"
            elapsed = int(time.monotonic() - started)
            with contextlib.suppress(discord.HTTPException):
                await interaction.edit_original_response(
                    content=f"{HOURGLASS} Working with {who}\N{HORIZONTAL ELLIPSIS} {elapsed} s",
                    allowed_mentions=NO_MENTIONS,
                )
