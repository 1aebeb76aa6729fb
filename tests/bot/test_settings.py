from __future__ import annotations

import pytest

from bot.settings import Settings


def settings(**env: str) -> Settings:
    return Settings(_env_file=None, **env)  # type: ignore[call-arg]


# tests/conftest.py clears every variable the bot reads before each test.


def test_with_no_keys_the_offline_provider_is_used() -> None:
    assert settings().provider_names() == ["local"]


def test_every_provider_with_a_key_is_used_by_default() -> None:
    assert settings(RUNWARE_API_KEY="rw-key").provider_names() == ["runware"]
    assert settings(RUNWARE_API_KEY="   ").provider_names() == ["local"]


def test_explicit_order_wins_and_unknown_names_are_named() -> None:
    assert settings(CANVASBOT_PROVIDERS="local, runware").provider_names() == ["local", "runware"]
    with pytest.raises(ValueError, match="dalle"):
        settings(CANVASBOT_PROVIDERS="runware,dalle").provider_names()


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CANVASBOT_DEV_GUILD_ID", "123")
    monkeypatch.setenv("DISCORD_TOKEN", "tok-en-value")
    loaded = Settings(_env_file=None)  # type: ignore[call-arg]
    assert loaded.dev_guild_id == 123
    assert "tok-en-value" not in repr(loaded)
    assert loaded.secrets() == ["tok-en-value"]


def test_safety_defaults_and_operator_terms() -> None:
    assert settings().safety_level == "standard"
    assert settings().blocked_terms is None
    assert settings(CANVASBOT_SAFETY_LEVEL=" Strict ").safety_level == "strict"
    assert settings(CANVASBOT_SAFETY_LEVEL="").safety_level == "standard"
    loaded = settings(CANVASBOT_BLOCKED_TERMS="spiders, clowns")
    assert loaded.blocked_terms == "spiders, clowns"
    with pytest.raises(ValueError, match="CANVASBOT_SAFETY_LEVEL"):
        settings(CANVASBOT_SAFETY_LEVEL="lenient")
    assert settings().safety_people == "allow_adults"
    assert settings(CANVASBOT_SAFETY_PEOPLE=" No_People ").safety_people == "no_people"
    with pytest.raises(ValueError, match="CANVASBOT_SAFETY_PEOPLE"):
        settings(CANVASBOT_SAFETY_PEOPLE="everyone")
