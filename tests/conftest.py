"""Shared fixtures. Fakes live in tests/fakes/; nothing here reaches the network."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import httpx
import pytest

from providers.catalog import Catalog
from tests.support.environment import configures_the_bot


@pytest.fixture(autouse=True)
def _no_bot_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts without the developer's CANVASBOT_*, DISCORD_* or provider key
    variables (FAL_KEY, GEMINI_API_KEY, ...); a test that needs one sets it."""
    for name in list(os.environ):
        if configures_the_bot(name):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def catalog() -> Catalog:
    return Catalog.load()


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client
