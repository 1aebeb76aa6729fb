"""Fixtures the provider contract tests share, so each test file does not define its own copy.

`sleep` is the retry policy's sleep: it records the waits and returns at once, so tests can
assert on backoff without waiting. `model` is the catalog entry most contract tests generate with.
"""

from __future__ import annotations

import pytest

from providers.catalog import Catalog, ModelSpec
from tests.fakes.scripting import RecordingSleep


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def model(catalog: Catalog) -> ModelSpec:
    return catalog.get("imagen-4-fast")
