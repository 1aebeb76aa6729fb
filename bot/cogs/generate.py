"""/generate, /vary and /reseed: parse → service → render. Nothing else."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.app_commands import Choice, Range
from discord.ext import commands

from bot.cogs.delivery import Delivery, requester_of, send_error
from bot.services.errors import InvalidOptions
from bot.services.generation import GenerationOptions, GenerationService
from providers.base import MAX_SEED, Aspect
from providers.catalog import Catalog

__all__ = ["GenerationCog"]

ASPECT_CHOICES = [
    Choice(name="1:1 square", value=Aspect.SQUARE.value),
    Choice(name="16:9 wide", value=Aspect.WIDE.value),
    Choice(name="9:16 tall", value=Aspect.TALL.value),
    Choice(name="4:3 landscape", value=Aspect.LANDSCAPE.value),
    Choice(name="3:4 portrait", value=Aspect.PORTRAIT.value),
]


class GenerationCog(commands.Cog, name="Generation"):
    def __init__(self, service: GenerationService, catalog: Catalog, delivery: Delivery) -> None:
        self.service = service
        self.catalog = catalog
        self.delivery = delivery

    @app_commands.command(name="generate", description="Turn a prompt into an image.")
    @app_commands.describe(
        prompt="What to draw (2–3000 characters)",
        aspect="Shape of the image (default 1:1)",
        count="How many images, 1–4 (default 1)",
        negative="What to keep out of the image",
        seed="A seed to reproduce an image (0–4294967295)",
        model="Which model (default: the operator's choice)",
        private="Show the result only to you",
    )
    @app_commands.choices(aspect=ASPECT_CHOICES)
    async def generate(
        self,
        interaction: discord.Interaction[Any],
        prompt: str,
        aspect: str = Aspect.SQUARE.value,
        count: Range[int, 1, 4] = 1,
        negative: str | None = None,
        seed: Range[int, 0, MAX_SEED] | None = None,
        model: str | None = None,
        private: bool = False,
    ) -> None:
        options = GenerationOptions(
            prompt=prompt,
            negative_prompt=negative,
            aspect=aspect,
            count=count,
            seed=seed,
            model=model,
            private=private,
        )
        try:
            prepared = self.service.prepare(options)  # pure: no I/O before the acknowledgement
        except InvalidOptions as exc:
            await send_error(interaction, exc.message)
            return
        await self.delivery.acknowledge(interaction, ephemeral=private)
        requester = requester_of(interaction)
        await self.delivery.deliver(
            interaction,
            lambda on_provider: self.service.run(requester, prepared, on_provider=on_provider),
        )

    @generate.autocomplete("model")
    async def _model_autocomplete(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[Choice[str]]:
        needle = current.lower()
        return [
            Choice(name=f"{m.label} (${m.price_usd:.2f}/image)"[:100], value=m.key)
            for m in self.catalog.models()
            if needle in m.key.lower() or needle in m.label.lower()
        ][:25]

    @app_commands.command(name="vary", description="An image again, with new seeds.")
    @app_commands.describe(
        count="How many images, 1–4 (default: as before)",
        message="A result's message link or id (default: your latest)",
        private="Show the result only to you",
    )
    async def vary(
        self,
        interaction: discord.Interaction[Any],
        count: Range[int, 1, 4] | None = None,
        message: str | None = None,
        private: bool = False,
    ) -> None:
        await self.delivery.acknowledge(interaction, ephemeral=private)
        requester = requester_of(interaction)

        async def work(on_provider: Any) -> Any:
            source = await self.service.source_for(requester, message)
            return await self.service.vary(
                requester, source=source, count=count, private=private, on_provider=on_provider
            )

        await self.delivery.deliver(interaction, work)

    @app_commands.command(
        name="reseed", description="An image with an exact seed, to reproduce it."
    )
    @app_commands.describe(
        seed="The seed (0–4294967295)",
        prompt="A changed prompt (default: as before)",
        message="A result's message link or id (default: your latest)",
        private="Show the result only to you",
    )
    async def reseed(
        self,
        interaction: discord.Interaction[Any],
        seed: Range[int, 0, MAX_SEED],
        prompt: str | None = None,
        message: str | None = None,
        private: bool = False,
    ) -> None:
        await self.delivery.acknowledge(interaction, ephemeral=private)
        requester = requester_of(interaction)

        async def work(on_provider: Any) -> Any:
            source = await self.service.source_for(requester, message)
            return await self.service.reseed(
                requester,
                seed,
                source=source,
                prompt=prompt,
                private=private,
                on_provider=on_provider,
            )

        await self.delivery.deliver(interaction, work)
