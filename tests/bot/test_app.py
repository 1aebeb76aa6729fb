"""The composition root builds every provider from its settings, in the configured order."""

from __future__ import annotations

import httpx
import pytest

from bot.app import ConfigurationError, build_providers
from bot.settings import KNOWN_PROVIDERS, Settings

KEYS = {env: f"test-key-{env.lower()}" for env in KNOWN_PROVIDERS.values() if env}


async def test_every_known_provider_can_be_built_in_the_configured_order() -> None:
    order = list(reversed(KNOWN_PROVIDERS))
    settings = Settings(_env_file=None, CANVASBOT_PROVIDERS=",".join(order), **KEYS)  # type: ignore[arg-type]
    async with httpx.AsyncClient() as http:
        built = build_providers(settings, http)
    assert [p.name for p in built] == order


async def test_a_provider_without_its_key_names_the_variable() -> None:
    settings = Settings(_env_file=None, CANVASBOT_PROVIDERS="fal")  # type: ignore[arg-type]
    async with httpx.AsyncClient() as http:
        with pytest.raises(ConfigurationError, match="FAL_KEY"):
            build_providers(settings, http)
