"""/generate, /vary, /reseed and the Vary button, end to end over the loopback Discord."""

from __future__ import annotations

import gc
import io
from datetime import date
from pathlib import Path

from PIL import Image

from bot.storage import GenerationStatus
from bot.storage.models import ReservationStatus
from providers.local import render_preview
from tests.e2e.conftest import BotFactory
from tests.e2e.helpers import field, kind_reply, result_message
from tests.fakes.discord import FakeDiscord
from tests.fakes.runware_fake import RunwareFake


async def test_generate_acknowledges_then_posts_the_image_with_seed_and_cost(
    fake: FakeDiscord, canvasbot: BotFactory
) -> None:
    async with canvasbot() as (_, app):
        handle = await fake.slash("generate", {"prompt": "a lighthouse at dawn", "seed": 42})
        callback = await handle.acknowledged()
        assert callback.type == 5  # deferred: the user sees "thinking" at once
        message = await result_message(handle)
        record = await app.store.generation_by_message(message.id)
    embed = message.embeds[0]
    assert embed["description"] == "a lighthouse at dawn"
    assert field(embed, "Seed") == "42"
    assert field(embed, "Cost") == "$0.00"
    assert field(embed, "Model") == "Imagen 4 Fast"
    assert field(embed, "Provider") == "offline preview"
    assert field(embed, "Time").endswith(" s")
    assert "not an AI model" in embed["author"]["name"]
    assert len(message.attachments) == 1
    picture = Image.open(io.BytesIO(message.attachments[0].data))
    assert picture.size == (1024, 1024)
    assert embed["image"]["url"] == f"attachment://{message.attachments[0].filename}"
    assert message.button("Vary") is not None
    assert message.allowed_mentions is not None
    assert message.allowed_mentions.get("parse") == []
    assert record is not None
    assert record.status is GenerationStatus.SUCCEEDED
    assert record.seeds == (42,)
    fake.assert_clean()


async def test_count_and_aspect_give_one_embed_per_image_in_one_message(
    fake: FakeDiscord, canvasbot: BotFactory
) -> None:
    async with canvasbot():
        handle = await fake.slash(
            "generate", {"prompt": "dunes at noon", "count": 3, "aspect": "16:9", "seed": 7}
        )
        message = await result_message(handle)
    assert [field(e, "Seed") for e in message.embeds] == ["7", "8", "9"]
    assert len(message.attachments) == 3
    for attachment in message.attachments:
        assert Image.open(io.BytesIO(attachment.data)).size == (1408, 768)
    fake.assert_clean()


async def test_vary_reseed_and_the_vary_button_work_from_the_latest_generation(
    fake: FakeDiscord, canvasbot: BotFactory
) -> None:
    async with canvasbot():
        first = await result_message(
            await fake.slash(
                "generate", {"prompt": "a red kite over hills", "seed": 1234, "negative": "people"}
            )
        )
        varied = await result_message(await fake.slash("vary", {"count": 2}))
        assert [e["description"] for e in varied.embeds] == ["a red kite over hills"] * 2
        assert field(varied.embeds[0], "Negative prompt") == "people"
        assert "1234" not in [field(e, "Seed") for e in varied.embeds]

        reseeded = await result_message(await fake.slash("reseed", {"seed": 1234}))
        assert field(reseeded.embeds[0], "Seed") == "1234"
        assert reseeded.attachments[0].data == first.attachments[0].data  # reproduced exactly

        nudged = await result_message(
            await fake.slash("reseed", {"seed": 1234, "prompt": "a blue kite over hills"})
        )
        assert nudged.embeds[0]["description"] == "a blue kite over hills"

        click = await fake.click(first, first.button("Vary")["custom_id"])
        from_button = await result_message(click)
        assert from_button.embeds[0]["description"] == "a red kite over hills"
        assert from_button.id != first.id
    fake.assert_clean()


async def test_a_stranger_can_vary_a_public_result_from_its_button(
    fake: FakeDiscord, canvasbot: BotFactory
) -> None:
    stranger = fake.add_member(fake.guild, name="stranger")
    async with canvasbot() as (_, app):
        original = await result_message(await fake.slash("generate", {"prompt": "a teapot"}))
        click = await fake.click(original, original.button("Vary")["custom_id"], user=stranger)
        varied = await result_message(click)
        record = await app.store.generation_by_message(varied.id)
    assert record is not None
    assert record.user_id == stranger.id  # the clicker asked, so the clicker is charged
    fake.assert_clean()


async def test_private_results_are_ephemeral(fake: FakeDiscord, canvasbot: BotFactory) -> None:
    async with canvasbot():
        handle = await fake.slash("generate", {"prompt": "a secret garden", "private": True})
        message = await result_message(handle)
    assert message.is_ephemeral
    fake.assert_clean()


async def test_bad_input_gets_a_kind_ephemeral_answer_and_nothing_is_recorded(
    fake: FakeDiscord, canvasbot: BotFactory
) -> None:
    async with canvasbot() as (_, app):
        too_long = await kind_reply(await fake.slash("generate", {"prompt": "x" * 3001}))
        assert "3001 characters" in too_long.content
        assert "3000" in too_long.content
        unknown = await kind_reply(
            await fake.slash("generate", {"prompt": "a cat", "model": "dall-e-9"})
        )
        assert "imagen-4-fast" in unknown.content
        nothing = await kind_reply(await fake.slash("vary"))
        assert "/generate" in nothing.content
        assert await app.store.latest_generation(fake.user.id) is None
        # …and the bot keeps running.
        await result_message(await fake.slash("generate", {"prompt": "a cat after all"}))
    fake.assert_clean()


async def test_model_autocomplete_lists_the_catalog(
    fake: FakeDiscord, canvasbot: BotFactory
) -> None:
    async with canvasbot():
        choices = await fake.autocomplete("generate", "model", "ultra", {"prompt": "x"})
    assert [c["value"] for c in choices] == ["imagen-4-ultra"]
    assert "$0.06" in choices[0]["name"]


async def test_hostile_prompts_ping_nobody_and_stay_within_discord_limits(
    fake: FakeDiscord, canvasbot: BotFactory
) -> None:
    role = fake.add_role(fake.guild, "mods")
    hostile = [
        "@everyone @here look",
        f"<@{fake.user.user.id}> and <@&{role.id}> **bold** __under__ `code` ||spoiler||",
        "zero\u200bwidth\u202eevil\u2066 text",
        "\N{GRINNING FACE}" * 1500,
        "a" * 2999 + "@",
    ]
    async with canvasbot():
        for prompt in hostile:
            for count in (1, 4):
                await result_message(
                    await fake.slash("generate", {"prompt": prompt, "count": count})
                )
    assert not fake.mention_leaks
    fake.assert_clean()  # no 50035 (limits), no late acknowledgement, no mention leak


async def test_runware_result_shows_the_reported_cost(
    fake: FakeDiscord, canvasbot: BotFactory
) -> None:
    async with (
        RunwareFake() as runware,
        canvasbot(
            CANVASBOT_PROVIDERS="runware",
            RUNWARE_API_KEY=runware.api_key,
            RUNWARE_BASE_URL=runware.url,
        ),
    ):
        message = await result_message(
            await fake.slash(
                "generate", {"prompt": "a tram depot in the rain", "count": 2, "aspect": "16:9"}
            )
        )
    assert [field(e, "Cost") for e in message.embeds] == ["$0.0200", "$0.0200"]
    assert {field(e, "Provider") for e in message.embeds} == {"Runware"}
    assert "reported" in message.embeds[0]["footer"]["text"]
    assert runware.tasks[0]["numberResults"] == 2
    assert (runware.tasks[0]["width"], runware.tasks[0]["height"]) == (1408, 768)
    fake.assert_clean()


async def test_a_rejected_key_is_explained_and_the_bot_keeps_running(
    fake: FakeDiscord, canvasbot: BotFactory, tmp_path: Path
) -> None:
    async with (
        RunwareFake() as runware,
        canvasbot(
            CANVASBOT_PROVIDERS="runware",
            RUNWARE_API_KEY="rw-wrong-key-1234",
            RUNWARE_BASE_URL=runware.url,
        ) as (_, app),
    ):
        reply = await kind_reply(await fake.slash("generate", {"prompt": "a tram depot"}))
        assert "Runware key was rejected" in reply.content
        assert "Nothing was charged" in reply.content
        again = await kind_reply(await fake.slash("generate", {"prompt": "another try"}))
        assert "rejected" in again.content
        record = await app.store.get_generation(1)
    assert record is not None
    assert record.status is GenerationStatus.FAILED
    assert all("rw-wrong-key-1234" not in str(call.json) for call in fake.requests)
    fake.assert_clean()


async def test_images_over_the_memory_budget_are_uploaded_from_disk_intact(
    fake: FakeDiscord, canvasbot: BotFactory
) -> None:
    # A budget of 0: every image waits for its upload in a temporary file.
    async with canvasbot(CANVASBOT_IMAGE_MEMORY_MB=0, CANVASBOT_LOCAL_IMAGE_BYTES=300_000) as (
        bot,
        app,
    ):
        handle = await fake.slash("generate", {"prompt": "tide pools", "count": 2, "seed": 3})
        message = await result_message(handle)
        staging = bot.delivery.staging
        await bot.delivery.idle()
        gc.collect()
        assert app.image_memory.held == 0  # every image let go after its upload
    assert staging.spilled == 2
    expected = [render_preview("tide pools", s, 1024, 1024, size_bytes=300_000) for s in (3, 4)]
    assert [a.data for a in message.attachments] == expected
    fake.assert_clean()


async def test_an_image_keeps_its_room_in_memory_until_discord_answers_its_upload(
    fake: FakeDiscord, canvasbot: BotFactory
) -> None:
    expected = render_preview("a lighthouse", 5, 1024, 1024, size_bytes=300_000)
    async with canvasbot(CANVASBOT_LOCAL_IMAGE_BYTES=300_000) as (bot, app):
        memory = app.image_memory
        fake.uploads.close()
        handle = await fake.slash("generate", {"prompt": "a lighthouse", "seed": 5})
        await fake.uploads.reached.wait()
        # Every byte is with Discord, but until it answers the image still counts: the providers'
        # next downloads wait for room, so results queued for upload cannot pile up in memory.
        assert memory.held == len(expected)
        fake.uploads.open()
        message = await result_message(handle)
        await bot.delivery.idle()
        gc.collect()
        assert memory.held == 0
        assert bot.delivery.staging.spilled == 0
    assert message.attachments[0].data == expected
    fake.assert_clean()


async def test_a_result_discord_will_not_take_is_refunded_and_explained(
    fake: FakeDiscord, canvasbot: BotFactory
) -> None:
    async with canvasbot() as (_, app):
        # Discord refuses the upload that would fill the loading message (not a 404/403, so
        # there is no channel fallback): the member must not pay for an image they never see.
        fake.inject_failure(
            "PATCH", r"^/webhooks/\d+/[^/]+/messages/@original$", status=400, code=50035
        )
        reply = await kind_reply(await fake.slash("generate", {"prompt": "a tram depot"}))
        record = await app.store.get_generation(1)
        [reservation] = await app.store.export_usage(date(2000, 1, 1))
    assert "would not take it" in reply.content
    assert "not charged" in reply.content
    assert record is not None
    assert record.status is GenerationStatus.FAILED
    assert (record.error or "").startswith("undelivered: Discord answered 400")
    assert (reservation.status, reservation.release_reason) == (
        ReservationStatus.RELEASED,
        "undelivered",
    )
