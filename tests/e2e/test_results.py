"""Results that keep working: every button, the modals, the context menus, slow results."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import BotFactory
from tests.e2e.helpers import field, kind_reply, provider_progress, result_message
from tests.fakes.discord import FakeDiscord, FakeMessage


def modal_input(modal: dict[str, Any], custom_id: str) -> dict[str, Any]:
    for row in modal["components"]:
        for item in row.get("components", [row.get("component", {})]):
            if item.get("custom_id") == custom_id:
                return item
    raise AssertionError(f"no input {custom_id!r} in {modal}")


async def generate(fake: FakeDiscord, prompt: str = "a brass owl", **options: Any) -> FakeMessage:
    return await result_message(await fake.slash("generate", {"prompt": prompt, **options}))


async def test_every_result_carries_the_six_buttons_five_to_a_row(
    fake: FakeDiscord, canvasbot: BotFactory
) -> None:
    async with canvasbot():
        message = await generate(fake)
    labels = [c["label"] for c in message.iter_components() if c.get("type") == 2]
    assert labels == ["Vary", "Reseed", "Edit prompt", "Info", "Delete", "Report"]
    rows = [[c["label"] for c in row["components"]] for row in message.components]
    assert rows == [["Vary", "Reseed", "Edit prompt", "Info", "Delete"], ["Report"]]
    assert all(len(c["custom_id"]) <= 100 for c in message.iter_components() if c["type"] == 2)


async def test_reseed_button_opens_a_prefilled_modal_and_reproduces_the_image(
    fake: FakeDiscord, canvasbot: BotFactory
) -> None:
    async with canvasbot():
        original = await generate(fake, seed=777)
        opener = await fake.click(original, original.button("Reseed")["custom_id"])
        modal = await opener.modal_opened()
        assert modal_input(modal, "seed")["value"] == "777"
        submitted = await fake.submit_modal(opener, {})
        reseeded = await result_message(submitted)
        assert field(reseeded.embeds[0], "Seed") == "777"
        assert reseeded.attachments[0].data == original.attachments[0].data

        opener = await fake.click(original, original.button("Reseed")["custom_id"])
        await opener.modal_opened()
        other = await result_message(await fake.submit_modal(opener, {"seed": "778"}))
        assert field(other.embeds[0], "Seed") == "778"

        opener = await fake.click(original, original.button("Reseed")["custom_id"])
        await opener.modal_opened()
        bad = await kind_reply(await fake.submit_modal(opener, {"seed": "lots"}))
        assert "0 to 4294967295" in bad.content
    fake.assert_clean()


async def test_edit_prompt_keeps_the_seed_and_options(
    fake: FakeDiscord, canvasbot: BotFactory
) -> None:
    async with canvasbot():
        original = await generate(fake, "a brass owl", seed=31, aspect="9:16")
        opener = await fake.click(original, original.button("Edit prompt")["custom_id"])
        modal = await opener.modal_opened()
        assert modal_input(modal, "prompt")["value"] == "a brass owl"
        edited = await result_message(await fake.submit_modal(opener, {"prompt": "a silver owl"}))
    assert edited.embeds[0]["description"] == "a silver owl"
    assert field(edited.embeds[0], "Seed") == "31"
    assert edited.attachments[0].filename.endswith(".jpg")
    fake.assert_clean()


async def test_info_shows_everything_to_the_clicker_only(
    fake: FakeDiscord, canvasbot: BotFactory
) -> None:
    async with canvasbot():
        original = await generate(fake, "a brass owl", seed=5, negative="rust", count=2)
        click = await fake.click(original, original.button("Info")["custom_id"])
        await click.acknowledged()
        info = await click.original_message()
    assert info.is_ephemeral
    embed = info.embeds[0]
    assert embed["description"] == "a brass owl"
    assert field(embed, "Negative prompt") == "rust"
    assert field(embed, "Seeds") == "5, 6"
    assert "local-preview" in field(embed, "Model")
    assert field(embed, "Cost").startswith("$0.00")
    fake.assert_clean()


async def test_delete_is_for_the_requester_or_message_managers(
    fake: FakeDiscord, canvasbot: BotFactory, monkeypatch: Any
) -> None:
    stranger = fake.add_member(fake.guild, name="stranger")
    moderator = fake.add_member(fake.guild, name="moderator", permissions=1 << 13)
    async with canvasbot() as (_, app):
        first = await generate(fake)
        refused = await kind_reply(
            await fake.click(first, first.button("Delete")["custom_id"], user=stranger)
        )
        assert "Only the person who asked" in refused.content
        assert not fake.message(first.id).deleted

        owner_click = await fake.click(first, first.button("Delete")["custom_id"])
        await owner_click.acknowledged()
        await fake.wait_for_deletion(first)

        second = await generate(fake)

        # A result whose record is gone from the history has no known owner: moderators only.
        async def forgotten(generation_id: int) -> None:
            return None

        monkeypatch.setattr(app.store, "get_generation", forgotten)
        delete = second.button("Delete")["custom_id"]
        refused = await kind_reply(await fake.click(second, delete))
        assert "Only the person who asked" in refused.content
        assert not fake.message(second.id).deleted
        mod_click = await fake.click(second, delete, user=moderator)
        await mod_click.acknowledged()
        await fake.wait_for_deletion(second)
    fake.assert_clean()


async def test_a_button_that_fails_unexpectedly_still_answers_kindly(
    fake: FakeDiscord, canvasbot: BotFactory, monkeypatch: Any
) -> None:
    async with canvasbot() as (_, app):
        result = await generate(fake)

        async def broken(generation_id: int) -> None:
            raise RuntimeError("the database went away")

        async def broken_reseed(*args: Any, **kwargs: Any) -> None:
            raise RuntimeError("the provider library went away")

        opener = await fake.click(result, result.button("Reseed")["custom_id"])
        await opener.modal_opened()
        monkeypatch.setattr(app.store, "get_generation", broken)
        reply = await kind_reply(await fake.click(result, result.button("Info")["custom_id"]))
        # A modal submitted into a failure: its handler, not discord.py's log-only default.
        monkeypatch.setattr(app.generation, "reseed", broken_reseed)
        submitted = await kind_reply(await fake.submit_modal(opener, {"seed": "4"}))
    assert "Something went wrong on our side" in reply.content
    assert "database" not in reply.content  # internals stay in the log
    assert "Something went wrong on our side" in submitted.content
    fake.assert_clean()


async def test_context_menus_vary_and_reseed_any_canvasbot_result(
    fake: FakeDiscord, canvasbot: BotFactory
) -> None:
    async with canvasbot():
        original = await generate(fake, "a lantern", seed=900)
        varied = await result_message(await fake.message_command("Vary image", original))
        assert varied.embeds[0]["description"] == "a lantern"

        opener = await fake.message_command("Reseed image", original)
        modal = await opener.modal_opened()
        assert modal_input(modal, "seed")["value"] == "900"
        reseeded = await result_message(await fake.submit_modal(opener, {"seed": "900"}))
        assert reseeded.attachments[0].data == original.attachments[0].data

        stranger_message = fake.add_message(fake.channel, "just chatting")
        refused = await kind_reply(await fake.message_command("Vary image", stranger_message))
        assert "not a Canvasbot result" in refused.content
    fake.assert_clean()


async def test_vary_and_reseed_accept_a_message_link(
    fake: FakeDiscord, canvasbot: BotFactory
) -> None:
    async with canvasbot():
        older = await generate(fake, "an old mill", seed=10)
        await generate(fake, "a newer thing")
        link = f"https://discord.com/channels/{fake.guild.id}/{fake.channel.id}/{older.id}"
        varied = await result_message(await fake.slash("vary", {"message": link}))
        assert varied.embeds[0]["description"] == "an old mill"
        reseeded = await result_message(
            await fake.slash("reseed", {"seed": 10, "message": str(older.id)})
        )
        assert reseeded.attachments[0].data == older.attachments[0].data
        bad = await kind_reply(await fake.slash("vary", {"message": "not a link"}))
        assert "message link" in bad.content
    fake.assert_clean()


async def test_private_generations_cannot_be_varied_by_others(
    fake: FakeDiscord, canvasbot: BotFactory
) -> None:
    stranger = fake.add_member(fake.guild, name="stranger")
    async with canvasbot():
        secret = await generate(fake, "a secret", private=True)
        click = await fake.click(secret, secret.button("Vary")["custom_id"], user=stranger)
        refused = await kind_reply(click)
    assert "private" in refused.content


async def test_a_private_result_stays_private_through_its_buttons(
    fake: FakeDiscord, canvasbot: BotFactory
) -> None:
    async with canvasbot() as (_, app):
        secret = await generate(fake, "a secret garden", private=True, seed=5)
        assert secret.is_ephemeral
        varied = await result_message(await fake.click(secret, secret.button("Vary")["custom_id"]))
        opener = await fake.click(secret, secret.button("Reseed")["custom_id"])
        await opener.modal_opened()
        reseeded = await result_message(await fake.submit_modal(opener, {"seed": "6"}))
        opener = await fake.click(secret, secret.button("Edit prompt")["custom_id"])
        await opener.modal_opened()
        edited = await result_message(
            await fake.submit_modal(opener, {"prompt": "a secret orchard"})
        )
        records = [await app.store.get_generation(i) for i in (2, 3, 4)]
    assert [m.is_ephemeral for m in (varied, reseeded, edited)] == [True, True, True]
    assert [r.private for r in records if r is not None] == [True, True, True]
    fake.assert_clean()


async def test_the_loading_message_says_who_is_working(
    fake: FakeDiscord, canvasbot: BotFactory
) -> None:
    async with canvasbot(CANVASBOT_LOCAL_LATENCY_MS=1500, CANVASBOT_PROGRESS_INTERVAL_SECONDS=0.3):
        handle = await fake.slash("generate", {"prompt": "a slow painting"})
        progress = await provider_progress(handle)  # not the first tick: that is a timer's
        assert "Working with offline preview" in progress.payload["content"]
        message = await handle.original_message()
        await fake.wait_for_message(lambda m: m.id == message.id and bool(m.embeds))
    final = fake.message(message.id)
    assert final.content in ("", None)  # the progress text is gone from the result
    fake.assert_clean()


async def test_a_result_after_the_token_window_goes_to_the_channel_pinging_nobody(
    fake: FakeDiscord, canvasbot: BotFactory
) -> None:
    # A shortened window: Discord's 15 minutes, scaled down to 1 s for the test.
    async with canvasbot(
        CANVASBOT_LOCAL_LATENCY_MS=1300,
        CANVASBOT_INTERACTION_TOKEN_SECONDS=1.0,
        CANVASBOT_PROGRESS_INTERVAL_SECONDS=60,
    ):
        handle = await fake.slash("generate", {"prompt": "a very slow painting"}, token_ttl=1.0)
        await handle.acknowledged()
        posted = await fake.wait_for_message(
            lambda m: bool(m.embeds) and m.webhook_id is None and m.channel_id == fake.channel.id
        )
    assert f"<@{fake.user.user.id}>" in posted.content
    assert posted.allowed_mentions is not None
    assert posted.allowed_mentions.get("parse") == []
    assert posted.button("Vary") is not None
    assert not fake.mention_leaks


async def test_history_pages_through_the_callers_generations(
    fake: FakeDiscord, canvasbot: BotFactory
) -> None:
    stranger = fake.add_member(fake.guild, name="stranger")
    async with canvasbot():
        made = [await generate(fake, f"picture number {i}", seed=100 + i) for i in range(7)]
        handle = await fake.slash("history")
        await handle.acknowledged()
        page = await handle.original_message()
        assert page.is_ephemeral
        names = [f["name"] for f in page.embeds[0]["fields"]]
        assert names[0].startswith("#7")
        assert len(names) == 5
        assert "seeds 106" in page.embeds[0]["fields"][0]["value"]
        assert f"/{made[-1].id})" in page.embeds[0]["fields"][0]["value"]  # a link to it
        older = page.button("Older")
        refused = await kind_reply(await fake.click(page, older["custom_id"], user=stranger))
        assert "someone else" in refused.content
        click = await fake.click(page, older["custom_id"])
        edit = await click.edit(0)
        fields = edit.payload["embeds"][0]["fields"]
        assert [f["name"][:2] for f in fields] == ["#2", "#1"]
    fake.assert_clean()


async def test_a_modal_submitted_after_shutdown_began_starts_no_generation(
    fake: FakeDiscord, canvasbot: BotFactory
) -> None:
    async with canvasbot() as (bot, app):
        original = await generate(fake, seed=9)
        opener = await fake.click(original, original.button("Reseed")["custom_id"])
        await opener.modal_opened()
        bot.delivery.accepting = False  # what drain() does first on SIGTERM
        reply = await kind_reply(await fake.submit_modal(opener, {"seed": "10"}))
        later = await app.store.get_generation(2)
    assert "restarting" in reply.content
    assert later is None  # nothing recorded, reserved or sent to a provider
    fake.assert_clean()
