"""Shared fixtures. Fakes live in tests/fakes/; nothing here reaches the network."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from providers.catalog import Catalog


@pytest.fixture
def catalog() -> Catalog:
    return Catalog.load()


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client
