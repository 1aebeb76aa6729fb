"""What can be done with a result: the buttons under it and the message context menus.

The buttons are dynamic items (bot/ui/views.py) that land here through `bot.result_actions`.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs.delivery import (
    NO_MENTIONS,
    RESTARTING,
    Delivery,
    requester_of,
    send_error,
    tell_unexpected,
)
from bot.cogs.modlog import ModLog, ReportOutcome
from bot.services.errors import UserFacingError
from bot.services.generation import GenerationRecord, GenerationService
from bot.ui.embeds import render_info
from bot.ui.history import HISTORY_PER_PAGE, history_view, render_history
from bot.ui.modals import EditPromptModal, OnSubmit, ReseedModal
from providers.base import MAX_SEED

__all__ = ["ResultsCog"]

log = logging.getLogger(__name__)

NOT_A_RESULT = "That message is not a Canvasbot result I know of."
REPORTED = "Thanks, the moderators have been told."
ALREADY_REPORTED = "You've reported this image already; the moderators have it."
NO_MODLOG = (
    "Thanks for flagging this. This server has no mod-log channel set up, so I couldn't pass it "
    "on: please tell a moderator directly. (Admins: `/settings safety modlog`.)"
)
MODLOG_UNREACHABLE = (
    "Thanks for flagging this. I couldn't reach this server's mod-log channel just now, so "
    "please tell a moderator directly."
)
REPORT_ANSWERS = {
    ReportOutcome.POSTED: REPORTED,
    ReportOutcome.ALREADY: ALREADY_REPORTED,
    ReportOutcome.NO_MODLOG: NO_MODLOG,
    ReportOutcome.UNREACHABLE: MODLOG_UNREACHABLE,
}


def guarded(on_submit: OnSubmit) -> OnSubmit:
    """A modal's submit handler whose unexpected errors reach the user kindly (discord.py's
    default `Modal.on_error` only logs them)."""

    async def run(interaction: discord.Interaction[Any], value: str) -> None:
        try:
            await on_submit(interaction, value)
        except Exception as exc:  # the user must hear back either way
            await tell_unexpected(interaction, exc)

    return run


def is_ephemeral(message: discord.Message | None) -> bool:
    """Whether a result was shown only to its owner (its follow-ups must be, too)."""
    return bool(message is not None and message.flags.ephemeral)


class ResultsCog(commands.Cog, name="Results"):
    def __init__(
        self,
        bot: commands.Bot,
        service: GenerationService,
        delivery: Delivery,
        modlog: ModLog | None = None,
    ) -> None:
        self.bot = bot
        self.service = service
        self.delivery = delivery
        self.modlog = modlog
        self._menus = [
            app_commands.ContextMenu(name="Vary image", callback=self.vary_menu),
            app_commands.ContextMenu(name="Reseed image", callback=self.reseed_menu),
        ]

    async def cog_load(self) -> None:
        for menu in self._menus:
            self.bot.tree.add_command(menu)

    async def cog_unload(self) -> None:
        for menu in self._menus:
            self.bot.tree.remove_command(menu.name, type=menu.type)

    # -- buttons ------------------------------------------------------------------------------

    async def accepting(self, interaction: discord.Interaction[Any]) -> bool:
        if self.delivery.accepting:
            return True
        await send_error(interaction, RESTARTING)
        return False

    async def on_result_button(
        self, interaction: discord.Interaction[Any], action: str, generation_id: int
    ) -> None:
        handler = {
            "vary": self._vary,
            "reseed": self._open_reseed,
            "edit": self._open_edit,
            "info": self._info,
            "delete": self._delete,
            "report": self._report,
        }[action]
        try:
            await handler(interaction, generation_id)
        except UserFacingError as exc:
            await send_error(interaction, exc.message)
        except Exception as exc:  # the button's user must hear back either way
            await tell_unexpected(interaction, exc)

    async def _vary(self, interaction: discord.Interaction[Any], generation_id: int) -> None:
        # A private result's buttons are on its owner's ephemeral message: the new one stays
        # private too (known without I/O, before the acknowledgement).
        await self.delivery.acknowledge(interaction, ephemeral=is_ephemeral(interaction.message))
        requester = requester_of(interaction)

        async def work(on_provider: Any) -> Any:
            source = await self.service.by_id(generation_id, requester)
            return await self.service.vary(requester, source=source, on_provider=on_provider)

        await self.delivery.deliver(interaction, work)

    async def _open_reseed(self, interaction: discord.Interaction[Any], generation_id: int) -> None:
        # A modal must be the first answer, so this one reads the database first (a primary-key
        # lookup, milliseconds) to prefill the seed.
        source = await self.service.by_id(generation_id, requester_of(interaction))
        await interaction.response.send_modal(self._reseed_modal(source))

    async def _open_edit(self, interaction: discord.Interaction[Any], generation_id: int) -> None:
        source = await self.service.by_id(generation_id, requester_of(interaction))

        async def submitted(modal_interaction: discord.Interaction[Any], prompt: str) -> None:
            try:
                self.service.prepare_from(source, prompt=prompt)
            except UserFacingError as exc:
                await send_error(modal_interaction, exc.message)
                return
            await self.delivery.acknowledge(modal_interaction, ephemeral=source.private)
            requester = requester_of(modal_interaction)
            await self.delivery.deliver(
                modal_interaction,
                lambda on_provider: self.service.edit_prompt(
                    requester, source, prompt, on_provider=on_provider
                ),
            )

        await interaction.response.send_modal(
            EditPromptModal(source.id, source.prompt, guarded(submitted))
        )

    async def _info(self, interaction: discord.Interaction[Any], generation_id: int) -> None:
        await self.delivery.acknowledge(interaction, ephemeral=True)
        record = await self.service.by_id(generation_id, requester_of(interaction))
        label = self.service.catalog.label_for(record.model)
        await interaction.edit_original_response(
            embed=render_info(record, label), allowed_mentions=NO_MENTIONS
        )

    async def _delete(self, interaction: discord.Interaction[Any], generation_id: int) -> None:
        await interaction.response.defer()  # first: Discord's 3 seconds run while we look it up
        record = await self.service.store.get_generation(generation_id)
        may_manage = bool(interaction.permissions.manage_messages)
        # A result no longer in the history has no known owner: only moderators may delete it.
        if not may_manage and (record is None or record.user_id != interaction.user.id):
            await send_error(
                interaction,
                "Only the person who asked for this image, or someone who can manage messages, "
                "can delete it.",
            )
            return
        # For a button, the interaction's "original response" is the message it sits on.
        with contextlib.suppress(discord.NotFound):
            await interaction.delete_original_response()
        log.info("result %s deleted by %s", generation_id, interaction.user.id)

    # -- history -----------------------------------------------------------------------------

    @app_commands.command(name="history", description="Your recent images (only you see this).")
    async def history(self, interaction: discord.Interaction[Any]) -> None:
        await self.delivery.acknowledge(interaction, ephemeral=True)
        await self._show_history(interaction, interaction.user.id, 0)

    async def on_history_page(
        self, interaction: discord.Interaction[Any], user_id: int, page: int
    ) -> None:
        if user_id != interaction.user.id:
            await send_error(interaction, "That history belongs to someone else. Try `/history`.")
            return
        await interaction.response.defer()  # update the page in place
        await self._show_history(interaction, user_id, page)

    async def _show_history(
        self, interaction: discord.Interaction[Any], user_id: int, page: int
    ) -> None:
        records = await self.service.history(user_id, page=page, per_page=HISTORY_PER_PAGE)
        has_more = len(records) > HISTORY_PER_PAGE
        view = history_view(user_id, page, has_more)
        await interaction.edit_original_response(
            embed=render_history(records, page), view=view, allowed_mentions=NO_MENTIONS
        )

    async def _report(self, interaction: discord.Interaction[Any], generation_id: int) -> None:
        """Send the result to the server's mod-log, saying who reported it."""
        await self.delivery.acknowledge(interaction, ephemeral=True)
        outcome = ReportOutcome.NO_MODLOG
        if self.modlog is not None:
            record = await self.service.store.get_generation(generation_id)
            outcome = await self.modlog.report(interaction, generation_id, record)
        answer = REPORT_ANSWERS[outcome]
        await interaction.edit_original_response(content=answer, allowed_mentions=NO_MENTIONS)

    # -- context menus ------------------------------------------------------------------------

    async def vary_menu(
        self, interaction: discord.Interaction[Any], message: discord.Message
    ) -> None:
        await self.delivery.acknowledge(interaction, ephemeral=is_ephemeral(message))
        requester = requester_of(interaction)

        async def work(on_provider: Any) -> Any:
            source = await self.service.source_for(requester, message.id)
            return await self.service.vary(requester, source=source, on_provider=on_provider)

        await self.delivery.deliver(interaction, work)

    async def reseed_menu(
        self, interaction: discord.Interaction[Any], message: discord.Message
    ) -> None:
        try:
            source = await self.service.source_for(requester_of(interaction), message.id)
        except UserFacingError as exc:
            await send_error(interaction, exc.message)
            return
        await interaction.response.send_modal(self._reseed_modal(source))

    def _reseed_modal(self, source: GenerationRecord) -> ReseedModal:
        seed = source.first_seed

        async def submitted(modal_interaction: discord.Interaction[Any], value: str) -> None:
            text = value.strip()
            if not text.isdigit() or int(text) > MAX_SEED:
                await send_error(
                    modal_interaction, f"A seed is a whole number from 0 to {MAX_SEED}."
                )
                return
            await self.delivery.acknowledge(modal_interaction, ephemeral=source.private)
            requester = requester_of(modal_interaction)
            await self.delivery.deliver(
                modal_interaction,
                lambda on_provider: self.service.reseed(
                    requester, int(text), source=source, on_provider=on_provider
                ),
            )

        return ReseedModal(source.id, seed, guarded(submitted))
