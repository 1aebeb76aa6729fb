"""The environment variables that configure the bot, so a developer's own exports (a real
FAL_KEY, a CANVASBOT_PROVIDERS) never leak into a test or into a process a test starts."""

from __future__ import annotations

from collections.abc import Mapping

from bot.settings import KNOWN_PROVIDERS, Settings

# Every variable Settings reads (its aliases) and every provider's key variable.
BOT_VARIABLES: frozenset[str] = frozenset(
    {
        field.validation_alias
        for field in Settings.model_fields.values()
        if isinstance(field.validation_alias, str)
    }
    | {env for env in KNOWN_PROVIDERS.values() if env}
)

# Variables that configure the test run itself (e.g. CANVASBOT_TEST_POSTGRES_URL), not the bot.
TEST_PREFIX = "CANVASBOT_TEST_"


def configures_the_bot(name: str) -> bool:
    """True for a variable the bot would read (Settings matches names case-insensitively)."""
    upper = name.upper()
    if upper.startswith(TEST_PREFIX):
        return False
    return upper.startswith(("CANVASBOT_", "DISCORD_")) or upper in BOT_VARIABLES


def without_bot_variables(environ: Mapping[str, str]) -> dict[str, str]:
    """A copy of `environ` for a child process: everything but what configures the bot."""
    return {name: value for name, value in environ.items() if not configures_the_bot(name)}
