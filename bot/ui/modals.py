"""Modals opened from result buttons and context menus; submitting calls back into the cog."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import discord

from providers.base import MAX_SEED, PROMPT_MAX_CHARS

__all__ = ["EditPromptModal", "OnSubmit", "ReseedModal"]

OnSubmit = Callable[[discord.Interaction[Any], str], Awaitable[None]]


class _OneFieldModal(discord.ui.Modal):
    def __init__(
        self, *, title: str, field: discord.ui.TextInput[Any], on_submit: OnSubmit, custom_id: str
    ) -> None:
        super().__init__(title=title, timeout=600, custom_id=custom_id)
        self.field = field
        self.add_item(field)
        self._on_submit = on_submit

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        await self._on_submit(interaction, self.field.value)


class ReseedModal(_OneFieldModal):
    def __init__(self, generation_id: int, seed: int | None, on_submit: OnSubmit) -> None:
        super().__init__(
            title="Reseed this image",
            custom_id=f"canvasbot:reseed-modal:{generation_id}",
            on_submit=on_submit,
            field=discord.ui.TextInput(
                label=f"Seed (0–{MAX_SEED})",
                custom_id="seed",
                default=None if seed is None else str(seed),
                min_length=1,
                max_length=10,
                required=True,
            ),
        )


class EditPromptModal(_OneFieldModal):
    def __init__(self, generation_id: int, prompt: str, on_submit: OnSubmit) -> None:
        super().__init__(
            title="Edit the prompt",
            custom_id=f"canvasbot:edit-modal:{generation_id}",
            on_submit=on_submit,
            field=discord.ui.TextInput(
                label="Prompt",
                custom_id="prompt",
                style=discord.TextStyle.paragraph,
                default=prompt[:4000],
                min_length=2,
                max_length=min(PROMPT_MAX_CHARS, 4000),
                required=True,
            ),
        )
