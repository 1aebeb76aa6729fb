"""Quotas over the loopback Discord: atomic under simultaneous requests, visible, adjustable."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from tests.e2e.conftest import BotFactory
from tests.e2e.helpers import answer, field, kind_reply, next_midnights
from tests.fakes.discord import FakeDiscord, InteractionHandle

MANAGE_GUILD = 1 << 5


async def outcome(handle: InteractionHandle) -> str:
    """'image' or the refusal text (which must be ephemeral)."""
    message = await answer(handle)
    if message.embeds and message.attachments:
        return "image"
    assert message.is_ephemeral
    return message.content


async def test_ten_at_once_with_a_daily_limit_of_three_give_three_images(
    fake: FakeDiscord, canvasbot: BotFactory
) -> None:
    started = datetime.now(UTC)
    async with canvasbot(CANVASBOT_USER_DAILY_IMAGES=3, CANVASBOT_LOCAL_LATENCY_MS=200) as (
        _,
        app,
    ):
        handles = await asyncio.gather(
            *(fake.slash("generate", {"prompt": f"a paper boat number {i}"}) for i in range(10))
        )
        results = await asyncio.gather(*(outcome(h) for h in handles))
        quota = await fake.slash("quota")
        await quota.acknowledged()
        shown = await quota.original_message()
    assert results.count("image") == 3
    refusals = [r for r in results if r != "image"]
    assert len(refusals) == 7
    # When it resets: the next UTC midnight, as a Discord timestamp.
    expected = {
        f"You have used 3 of your 3 images today (this asks for 1). Resets {stamp}."
        for stamp in next_midnights(started)
    }
    assert all(r in expected for r in refusals), refusals
    assert shown.is_ephemeral
    assert field(shown.embeds[0], "Images today").startswith("3 of 3")
    assert app.quotas is not None
    assert app.quotas.open_reservations == 0
    fake.assert_clean()


async def test_a_refusal_names_the_limit_before_any_provider_is_called(
    fake: FakeDiscord, canvasbot: BotFactory
) -> None:
    started = datetime.now(UTC)
    async with canvasbot(
        CANVASBOT_USER_DAILY_USD=0.01,
        CANVASBOT_PROVIDERS="local",
        CANVASBOT_DEFAULT_MODEL="imagen-4-ultra",
    ) as (_, app):
        refusal = await kind_reply(await fake.slash("generate", {"prompt": "a costly castle"}))
        record = await app.store.get_generation(1)
    # Imagen 4 Ultra costs $0.06 an image: over the $0.01 daily budget before anything is spent.
    assert refusal.content in {
        f"You have used $0.00 of your $0.01 daily budget (this costs about $0.06). Resets {stamp}."
        for stamp in next_midnights(started)
    }
    assert record is not None
    assert record.status.value == "refused"
    assert record.provider is None  # no provider was called


async def test_admins_change_limits_and_members_cannot(
    fake: FakeDiscord, canvasbot: BotFactory
) -> None:
    admin = fake.add_member(fake.guild, name="admin", permissions=MANAGE_GUILD)
    async with canvasbot(CANVASBOT_USER_DAILY_IMAGES=1):
        refused = await kind_reply(
            await fake.slash("settings quota set", {"user_daily_images": 50})
        )
        assert "Manage Server" in refused.content
        changed = await fake.slash("settings quota set", {"user_daily_images": 2}, user=admin)
        await changed.acknowledged()
        assert "Saved" in (await changed.original_message()).content
        first = await fake.slash("generate", {"prompt": "one"})
        second = await fake.slash("generate", {"prompt": "two"})
        assert await outcome(first) == "image"
        assert await outcome(second) == "image"
        third = await outcome(await fake.slash("generate", {"prompt": "three"}))
        assert "images today" in third

        reset = await fake.slash("settings quota reset", {"member": fake.user}, user=admin)
        await reset.acknowledged()
        assert "2 image(s)" in (await reset.original_message()).content
        assert await outcome(await fake.slash("generate", {"prompt": "four"})) == "image"

        stats = await fake.slash("stats", user=admin)
        await stats.acknowledged()
        embed = (await stats.original_message()).embeds[0]
    assert "**3** images" in embed["description"]
    assert "local: 3" in field(embed, "Per provider")
    fake.assert_clean()


async def test_an_exempt_role_lifts_personal_limits(
    fake: FakeDiscord, canvasbot: BotFactory
) -> None:
    admin = fake.add_member(fake.guild, name="admin", permissions=MANAGE_GUILD)
    patrons = fake.add_role(fake.guild, "patrons")
    patron = fake.add_member(fake.guild, name="patron", roles=(patrons,))
    async with canvasbot(CANVASBOT_USER_DAILY_IMAGES=1):
        setting = await fake.slash(
            "settings quota role", {"role": patrons, "exempt": True}, user=admin
        )
        await setting.acknowledged()
        await setting.original_message()
        results = [
            await outcome(await fake.slash("generate", {"prompt": f"gift {i}"}, user=patron))
            for i in range(3)
        ]
    assert results == ["image"] * 3
