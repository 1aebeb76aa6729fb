"""Per-server safety settings and block-list terms, on both engines."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.storage import Store
from bot.storage.models import GuildSafety
from tests.bot.conftest import NOW

GUILD = 2**62 + 5  # snowflakes need 64 bits
OTHER = 77


async def test_a_server_without_choices_follows_the_defaults(store: Store) -> None:
    assert await store.get_guild_safety(GUILD) == GuildSafety()
    assert await store.blocked_terms(GUILD) == []


async def test_updates_change_only_the_named_fields(store: Store) -> None:
    after = await store.update_guild_safety(GUILD, {"level": "strict"}, updated_by=1, now=NOW)
    assert after == GuildSafety(level="strict")
    after = await store.update_guild_safety(
        GUILD, {"people": "dont_allow", "modlog_channel_id": 2**60}, updated_by=2, now=NOW
    )
    assert after == GuildSafety("strict", "dont_allow", 2**60)
    after = await store.update_guild_safety(GUILD, {"level": "relaxed"}, updated_by=3, now=NOW)
    assert after == GuildSafety("relaxed", "dont_allow", 2**60)
    assert await store.get_guild_safety(GUILD) == after
    assert await store.get_guild_safety(OTHER) == GuildSafety()


async def test_none_resets_a_field_to_the_default(store: Store) -> None:
    await store.update_guild_safety(
        GUILD, {"level": "strict", "modlog_channel_id": 9}, updated_by=1, now=NOW
    )
    after = await store.update_guild_safety(
        GUILD, {"modlog_channel_id": None}, updated_by=1, now=NOW
    )
    assert after == GuildSafety(level="strict")


async def test_concurrent_updates_of_different_fields_both_stick(store: Store) -> None:
    await asyncio.gather(
        store.update_guild_safety(GUILD, {"level": "strict"}, updated_by=1, now=NOW),
        store.update_guild_safety(GUILD, {"people": "dont_allow"}, updated_by=2, now=NOW),
        store.update_guild_safety(GUILD, {"modlog_channel_id": 5}, updated_by=3, now=NOW),
    )
    assert await store.get_guild_safety(GUILD) == GuildSafety("strict", "dont_allow", 5)


@pytest.mark.parametrize(
    "changes",
    [{}, {"colour": "red"}, {"level": "strict", "updated_by": 1}, {"level = 'x'; --": "x"}],
)
async def test_unknown_fields_are_refused_before_any_sql(
    store: Store, changes: dict[str, str]
) -> None:
    with pytest.raises(ValueError, match="modlog_channel_id"):
        await store.update_guild_safety(GUILD, changes, updated_by=1, now=NOW)
    assert await store.get_guild_safety(GUILD) == GuildSafety()


async def test_the_database_refuses_unknown_levels(store: Store) -> None:
    with pytest.raises(Exception, match=r"(?i)check"):
        await store.update_guild_safety(GUILD, {"level": "anything"}, updated_by=1, now=NOW)


async def test_terms_are_added_once_listed_sorted_and_removed(store: Store) -> None:
    assert await store.add_blocked_term(GUILD, "spiders", added_by=1, now=NOW)
    assert await store.add_blocked_term(GUILD, "gore scene", added_by=1, now=NOW)
    assert not await store.add_blocked_term(GUILD, "spiders", added_by=2, now=NOW + timedelta(1))
    assert await store.add_blocked_term(OTHER, "clowns", added_by=1, now=NOW)
    assert await store.blocked_terms(GUILD) == ["gore scene", "spiders"]
    assert await store.remove_blocked_term(GUILD, "spiders")
    assert not await store.remove_blocked_term(GUILD, "spiders")
    assert not await store.remove_blocked_term(GUILD, "clowns")  # another server's term
    assert await store.blocked_terms(GUILD) == ["gore scene"]
    assert await store.blocked_terms(OTHER) == ["clowns"]


async def test_a_report_is_claimed_once_per_person_and_can_be_withdrawn(store: Store) -> None:
    result, reporter, other = 2**40, 2**61 + 3, 42
    assert await store.claim_report(result, reporter, GUILD, now=NOW)
    assert not await store.claim_report(result, reporter, GUILD, now=NOW + timedelta(1))
    assert await store.claim_report(result, other, GUILD, now=NOW)  # someone else may too
    await store.withdraw_report(result, reporter)  # the post failed: they may try again
    assert await store.claim_report(result, reporter, None, now=NOW)
    # Many presses at once (one member, several shards): exactly one claim wins.
    claims = await asyncio.gather(*(store.claim_report(7, 8, GUILD, now=NOW) for _ in range(5)))
    assert sorted(claims) == [False, False, False, False, True]
