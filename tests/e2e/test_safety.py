"""Content safety end to end over the loopback Discord: `/settings safety`, blocked prompts and the
mod-log, relaxed only in age-restricted channels, provider knobs, flagged images, provider
refusals, the Report button, and hostile prompts that must ping nobody."""

from __future__ import annotations

from typing import Any

import discord

from bot.cogs.results import ALREADY_REPORTED, MODLOG_UNREACHABLE, REPORTED
from bot.cogs.settings_group import NOT_A_MANAGER
from bot.storage import GenerationStatus
from tests.e2e.conftest import BotFactory
from tests.e2e.helpers import field, kind_reply, result_message
from tests.fakes.aimlapi_fake import AimlApiFake
from tests.fakes.discord import FakeChannel, FakeDiscord, FakeMember, FakeMessage
from tests.fakes.runware_fake import RunwareFake

MANAGER = discord.Permissions(manage_guild=True, view_channel=True, send_messages=True)


def manager(fake: FakeDiscord) -> FakeMember:
    return fake.add_member(fake.guild, name="server-admin", permissions=MANAGER)


async def configure(
    fake: FakeDiscord, who: FakeMember, command: str, options: dict[str, Any] | None = None
) -> FakeMessage:
    """Run `/settings safety <command>` as `who`; the (ephemeral) answer."""
    handle = await fake.slash(f"settings safety {command}", options or {}, user=who)
    await handle.acknowledged()
    message = await handle.original_message()
    assert message.is_ephemeral, "settings answers are for the admin only"
    return message


def runware_env(runware: RunwareFake, providers: str = "runware") -> dict[str, str]:
    return {
        "CANVASBOT_PROVIDERS": providers,
        "RUNWARE_API_KEY": runware.api_key,
        "RUNWARE_BASE_URL": runware.url,
    }


def is_modlog_post(title: str) -> Any:
    return lambda m: bool(m.embeds) and m.embeds[0].get("title") == title


# --- /settings safety ---------------------------------------------------------------------------


async def test_the_settings_group_is_for_server_managers_and_guild_only(
    fake: FakeDiscord, canvasbot: BotFactory
) -> None:
    async with canvasbot():
        [settings] = [c for c in fake.commands(fake.guild) if c["name"] == "settings"]
    assert settings["default_member_permissions"] == str(discord.Permissions.manage_guild.flag)
    safety = next(o for o in settings["options"] if o["name"] == "safety")
    assert {o["name"] for o in safety["options"]} == {
        "show",
        "level",
        "people",
        "blocklist",
        "modlog",
    }


async def test_a_manager_changes_the_settings_and_show_reports_them(
    fake: FakeDiscord, canvasbot: BotFactory
) -> None:
    admin = manager(fake)
    modlog = fake.add_channel(fake.guild, "mod-log")
    async with canvasbot(CANVASBOT_BLOCKED_TERMS="spiders, snakes") as (_, app):
        before = await configure(fake, admin, "show")
        assert "**standard** (the bot's default)" in field(before.embeds[0], "Level")

        reply = await configure(fake, admin, "level", {"level": "strict"})
        assert "**strict**" in reply.content
        reply = await configure(fake, admin, "people", {"policy": "no_people"})
        assert "no people" in reply.content
        reply = await configure(fake, admin, "blocklist", {"action": "add", "term": " Clowns "})
        assert "Added “clowns”" in reply.content
        reply = await configure(fake, admin, "blocklist", {"action": "add", "term": "clowns"})
        assert "already" in reply.content
        reply = await configure(fake, admin, "modlog", {"channel": modlog})
        assert f"<#{modlog.id}>" in reply.content
        hello = await fake.wait_for_message(is_modlog_post("Canvasbot mod-log"), channel=modlog)
        assert f"<@{admin.id}>" in hello.embeds[0]["description"]

        shown = (await configure(fake, admin, "show")).embeds[0]
        assert field(shown, "Level").startswith("**strict**:")
        assert "no people" in field(shown, "People")
        assert field(shown, "Mod-log") == f"<#{modlog.id}>"
        assert "2 term(s) from the bot's operator" in field(shown, "Block list")
        assert "1 of this server's own" in field(shown, "Block list")
        listed = await configure(fake, admin, "blocklist", {"action": "list"})
        assert listed.content.endswith("(1): clowns")

        choices = await fake.autocomplete(
            "settings safety blocklist", "term", "cl", {"action": "remove"}, user=admin
        )
        assert [c["value"] for c in choices] == ["clowns"]
        reply = await configure(fake, admin, "blocklist", {"action": "remove", "term": "clowns"})
        assert "Removed “clowns”" in reply.content
        off = await configure(fake, admin, "modlog")
        assert "off" in off.content
        stored = await app.store.get_guild_safety(fake.guild.id)
        assert (stored.level, stored.people, stored.modlog_channel_id) == (
            "strict",
            "dont_allow",
            None,
        )

        # Back to the operator's defaults.
        reply = await configure(fake, admin, "level", {"level": "default"})
        assert "follows the bot's default, **standard**" in reply.content
        reply = await configure(fake, admin, "people", {"policy": "default"})
        assert "(the bot's default)" in reply.content
        stored = await app.store.get_guild_safety(fake.guild.id)
    assert (stored.level, stored.people) == (None, None)
    fake.assert_clean()


async def test_members_without_manage_server_are_refused_and_nothing_changes(
    fake: FakeDiscord, canvasbot: BotFactory
) -> None:
    member = fake.add_member(fake.guild, name="member")  # @everyone's permissions only
    async with canvasbot() as (_, app):
        for command, options in [
            ("level", {"level": "relaxed"}),
            ("blocklist", {"action": "add", "term": "clowns"}),
            ("show", {}),
        ]:
            reply = await kind_reply(
                await fake.slash(f"settings safety {command}", options, user=member)
            )
            assert reply.content == NOT_A_MANAGER
        stored = await app.store.get_guild_safety(fake.guild.id)
        terms = await app.store.blocked_terms(fake.guild.id)
        await app.safety.add_term(fake.guild.id, "clowns", by=1)
        peek = await fake.autocomplete(
            "settings safety blocklist", "term", "", {"action": "remove"}, user=member
        )
    assert stored.level is None
    assert terms == []
    assert peek == []  # the server's list is not shown to members who may not manage it
    fake.assert_clean()


async def test_unusable_terms_and_missing_terms_are_explained(
    fake: FakeDiscord, canvasbot: BotFactory
) -> None:
    admin = manager(fake)
    async with canvasbot() as (_, app):
        reply = await kind_reply(
            await fake.slash(
                "settings safety blocklist", {"action": "add", "term": "@"}, user=admin
            )
        )
        assert "at least two letters" in reply.content
        reply = await kind_reply(
            await fake.slash("settings safety blocklist", {"action": "remove"}, user=admin)
        )
        assert "Give the `term`" in reply.content
        assert await app.store.blocked_terms(fake.guild.id) == []
    fake.assert_clean()


async def test_a_mod_log_the_bot_cannot_post_in_is_refused(
    fake: FakeDiscord, canvasbot: BotFactory
) -> None:
    admin = manager(fake)
    closed = fake.add_channel(fake.guild, "locked")
    async with canvasbot() as (_, app):
        fake.inject_failure("POST", rf"^/channels/{closed.id}/messages", status=403, code=50013)
        reply = await kind_reply(
            await fake.slash("settings safety modlog", {"channel": closed}, user=admin)
        )
        assert "I can't post in" in reply.content
        assert "Send Messages" in reply.content
        stored = await app.store.get_guild_safety(fake.guild.id)
    assert stored.modlog_channel_id is None
    fake.assert_clean()


# --- blocked prompts ----------------------------------------------------------------------------


async def test_a_blocked_prompt_costs_nothing_calls_no_provider_and_reaches_the_mod_log(
    fake: FakeDiscord, canvasbot: BotFactory
) -> None:
    admin = manager(fake)
    modlog = fake.add_channel(fake.guild, "mod-log")
    async with RunwareFake() as runware, canvasbot(**runware_env(runware)) as (_, app):
        await configure(fake, admin, "modlog", {"channel": modlog})
        await configure(fake, admin, "blocklist", {"action": "add", "term": "clowns"})

        reply = await kind_reply(
            await fake.slash("generate", {"prompt": "a parade of C L O W N S at night"})
        )
        assert "this server has blocked" in reply.content
        assert "Nothing was charged" in reply.content
        assert "clown" not in reply.content.lower()  # the term is not repeated to the user

        post = await fake.wait_for_message(is_modlog_post("Blocked request"), channel=modlog)
        record = await app.store.get_generation(1)
    embed = post.embeds[0]
    assert '"clowns" (server list)' in embed["description"]
    assert field(embed, "Who") == f"<@{fake.user.id}> ({fake.user.id})"
    assert field(embed, "Where") == f"<#{fake.channel.id}>"
    assert field(embed, "How") == "/generate"
    assert field(embed, "Prompt") == "a parade of C L O W N S at night"
    assert runware.requests == []  # no provider was called
    assert record is not None
    assert record.status is GenerationStatus.BLOCKED
    assert (record.provider, record.cost_usd) == (None, None)
    fake.assert_clean()


async def test_pressing_enter_again_on_a_blocked_prompt_does_not_flood_the_mod_log(
    fake: FakeDiscord, canvasbot: BotFactory
) -> None:
    admin = manager(fake)
    modlog = fake.add_channel(fake.guild, "mod-log")
    async with canvasbot(CANVASBOT_COOLDOWN_SECONDS=600) as (bot, app):
        await configure(fake, admin, "modlog", {"channel": modlog})
        await configure(fake, admin, "blocklist", {"action": "add", "term": "clowns"})
        for _ in range(3):
            reply = await kind_reply(await fake.slash("generate", {"prompt": "sad clowns"}))
            assert "this server has blocked" in reply.content  # told every time
        await bot.delivery.idle()
        posts = [m for m in fake.messages(modlog) if is_modlog_post("Blocked request")(m)]
        statuses = [(await app.store.get_generation(i)).status for i in (1, 2, 3)]  # type: ignore[union-attr]
    assert len(posts) == 1  # within the cooldown the moderators heard it once
    assert statuses == [GenerationStatus.BLOCKED] * 3
    fake.assert_clean()


async def test_the_negative_prompt_is_checked_too(fake: FakeDiscord, canvasbot: BotFactory) -> None:
    admin = manager(fake)
    async with canvasbot():
        await configure(fake, admin, "blocklist", {"action": "add", "term": "clowns"})
        reply = await kind_reply(
            await fake.slash("generate", {"prompt": "a circus tent", "negative": "no cl0wns"})
        )
    assert "negative prompt" in reply.content
    fake.assert_clean()


async def test_relaxed_applies_only_in_age_restricted_channels(
    fake: FakeDiscord, canvasbot: BotFactory
) -> None:
    admin = manager(fake)
    adults = fake.add_channel(fake.guild, "adults-only", nsfw=True)
    prompt = "a nude figure study in charcoal"
    async with canvasbot():
        refused = await kind_reply(await fake.slash("generate", {"prompt": prompt}))
        assert "isn't allowed in this channel" in refused.content

        await configure(fake, admin, "level", {"level": "relaxed"})
        still = await kind_reply(await fake.slash("generate", {"prompt": prompt}))
        assert "isn't allowed in this channel" in still.content

        allowed = await result_message(
            await fake.slash("generate", {"prompt": prompt}, channel=adults)
        )
        assert allowed.embeds[0]["description"] == prompt

        never = await kind_reply(await fake.slash("generate", {"prompt": "csam"}, channel=adults))
        assert "never creates" in never.content
    fake.assert_clean()


async def test_provider_knobs_follow_the_level_in_effect_and_the_people_setting(
    fake: FakeDiscord, canvasbot: BotFactory
) -> None:
    admin = manager(fake)
    adults = fake.add_channel(fake.guild, "adults-only", nsfw=True)
    async with (
        AimlApiFake() as aiml,
        canvasbot(
            CANVASBOT_PROVIDERS="aimlapi",
            AIMLAPI_API_KEY=aiml.api_key,
            AIMLAPI_BASE_URL=aiml.base_url,
        ),
    ):

        async def sent(channel: FakeChannel | None = None) -> tuple[str, str]:
            await result_message(
                await fake.slash("generate", {"prompt": "a quiet harbour"}, channel=channel)
            )
            body = aiml.bodies[-1]
            return body["safety_setting"], body["person_generation"]

        assert await sent() == ("block_medium_and_above", "allow_adult")
        await configure(fake, admin, "level", {"level": "strict"})
        await configure(fake, admin, "people", {"policy": "no_people"})
        assert await sent() == ("block_low_and_above", "dont_allow")
        await configure(fake, admin, "level", {"level": "relaxed"})
        assert await sent() == ("block_medium_and_above", "dont_allow")
        assert await sent(adults) == ("block_only_high", "dont_allow")
    fake.assert_clean()


async def test_the_operators_people_default_reaches_the_provider(
    fake: FakeDiscord, canvasbot: BotFactory
) -> None:
    async with (
        AimlApiFake() as aiml,
        canvasbot(
            CANVASBOT_PROVIDERS="aimlapi",
            AIMLAPI_API_KEY=aiml.api_key,
            AIMLAPI_BASE_URL=aiml.base_url,
            CANVASBOT_SAFETY_PEOPLE="no_people",
        ),
    ):
        await result_message(await fake.slash("generate", {"prompt": "a quiet harbour"}))
        shown = await configure(fake, manager(fake), "show")
    assert aiml.bodies[-1]["person_generation"] == "dont_allow"
    assert "(the bot's default)" in field(shown.embeds[0], "People")
    fake.assert_clean()


# --- what the provider says ---------------------------------------------------------------------


async def test_a_flagged_image_is_withheld_under_standard_and_not_charged(
    fake: FakeDiscord, canvasbot: BotFactory
) -> None:
    adults = fake.add_channel(fake.guild, "adults-only", nsfw=True)
    async with (
        RunwareFake(nsfw_words=("tidepool",)) as runware,
        canvasbot(**runware_env(runware)) as (_, app),
    ):
        # Standard, even in an age-restricted channel: the flagged image is not posted.
        reply = await kind_reply(
            await fake.slash(
                "generate", {"prompt": "a tidepool at dusk", "count": 2}, channel=adults
            )
        )
        record = await app.store.get_generation(1)
    assert "flagged all 2 images" in reply.content
    assert "Nothing was charged" in reply.content
    assert not reply.attachments
    assert runware.tasks[0]["safety"] == {"checkContent": True, "mode": "fast"}
    assert record is not None
    assert record.status is GenerationStatus.BLOCKED
    assert record.error is not None
    assert "$0.0400" in record.error  # what Runware billed, kept for the operator
    fake.assert_clean()


async def test_under_relaxed_a_flagged_image_is_a_spoiler_in_an_age_restricted_channel(
    fake: FakeDiscord, canvasbot: BotFactory
) -> None:
    admin = manager(fake)
    adults = fake.add_channel(fake.guild, "adults-only", nsfw=True)
    async with RunwareFake() as runware, canvasbot(**runware_env(runware)):
        await configure(fake, admin, "level", {"level": "relaxed"})
        # "nsfw" is on the shipped list: allowed by relaxed, and the fake flags the image.
        message = await result_message(
            await fake.slash("generate", {"prompt": "an nsfw-marker poster"}, channel=adults)
        )
        elsewhere = await kind_reply(
            await fake.slash("generate", {"prompt": "an nsfw-marker poster"})
        )
    [attachment] = message.attachments
    assert attachment.filename.startswith("SPOILER_")
    assert message.embeds[0]["image"]["url"] == f"attachment://{attachment.filename}"
    assert field(message.embeds[0], "Cost") == "$0.0200"
    assert "isn't allowed in this channel" in elsewhere.content  # standard outside
    assert len(runware.tasks) == 1
    fake.assert_clean()


async def test_a_provider_refusal_is_reported_not_charged_and_not_failed_over(
    fake: FakeDiscord, canvasbot: BotFactory
) -> None:
    async with (
        RunwareFake() as runware,
        canvasbot(**runware_env(runware, "runware,local")) as (
            _,
            app,
        ),
    ):
        reply = await kind_reply(
            await fake.slash("generate", {"prompt": "a forbidden-subject mural"})
        )
        record = await app.store.get_generation(1)
    assert "Runware's safety filter declined this prompt" in reply.content
    assert "Nothing was charged" in reply.content
    assert len(runware.tasks) == 1
    assert record is not None
    assert record.status is GenerationStatus.BLOCKED
    assert (record.provider, record.cost_usd) == ("runware", None)  # local was never tried
    fake.assert_clean()


# --- the Report button --------------------------------------------------------------------------


async def test_report_sends_the_result_to_the_mod_log_with_who_reported_it(
    fake: FakeDiscord, canvasbot: BotFactory
) -> None:
    admin = manager(fake)
    modlog = fake.add_channel(fake.guild, "mod-log")
    reporter = fake.add_member(fake.guild, name="reporter")
    async with canvasbot():
        result = await result_message(
            await fake.slash("generate", {"prompt": "a lighthouse", "count": 2})
        )
        no_log = await kind_reply(
            await fake.click(result, result.button("Report")["custom_id"], user=reporter)
        )
        assert "no mod-log channel" in no_log.content

        await configure(fake, admin, "modlog", {"channel": modlog})
        thanks = await kind_reply(
            await fake.click(result, result.button("Report")["custom_id"], user=reporter)
        )
        assert thanks.content == "Thanks, the moderators have been told."
        post = await fake.wait_for_message(is_modlog_post("Reported image"), channel=modlog)
        again = await kind_reply(
            await fake.click(result, result.button("Report")["custom_id"], user=reporter)
        )
        assert "already" in again.content
    embed = post.embeds[0]
    assert field(embed, "Reported by") == f"<@{reporter.id}> ({reporter.id})"
    assert field(embed, "Made by") == f"<@{fake.user.id}> ({fake.user.id})"
    assert field(embed, "Prompt") == "a lighthouse"
    assert f"/{result.id})" in field(embed, "Links")  # the message link
    assert embed["image"]["url"] == result.attachments[0].url
    assert "[image 2]" in field(embed, "Links")
    posts = [m for m in fake.messages(modlog) if is_modlog_post("Reported image")(m)]
    assert len(posts) == 1
    fake.assert_clean()


async def report_setup(fake: FakeDiscord) -> tuple[FakeChannel, FakeMessage]:
    """In a running bot: a mod-log set up, and a result to report."""
    modlog = fake.add_channel(fake.guild, "mod-log")
    await configure(fake, manager(fake), "modlog", {"channel": modlog})
    return modlog, await result_message(await fake.slash("generate", {"prompt": "a lighthouse"}))


async def press_report(fake: FakeDiscord, result: FakeMessage, who: FakeMember) -> str:
    """`who` presses Report under `result`; the (ephemeral) answer's text."""
    reply = await kind_reply(
        await fake.click(result, result.button("Report")["custom_id"], user=who)
    )
    return reply.content


def reports_posted(fake: FakeDiscord, modlog: FakeChannel) -> int:
    return sum(1 for m in fake.messages(modlog) if is_modlog_post("Reported image")(m))


async def test_a_report_is_remembered_across_a_restart(
    fake: FakeDiscord, canvasbot: BotFactory
) -> None:
    reporter = fake.add_member(fake.guild, name="reporter")
    async with canvasbot():
        modlog, result = await report_setup(fake)
        assert await press_report(fake, result, reporter) == REPORTED
    async with canvasbot():  # the same database, a new process's memory
        assert await press_report(fake, result, reporter) == ALREADY_REPORTED
    assert reports_posted(fake, modlog) == 1
    fake.assert_clean()


async def test_a_report_that_could_not_reach_the_mod_log_can_be_sent_again(
    fake: FakeDiscord, canvasbot: BotFactory
) -> None:
    reporter = fake.add_member(fake.guild, name="reporter")
    async with canvasbot():
        modlog, result = await report_setup(fake)
        fake.inject_failure("POST", rf"^/channels/{modlog.id}/messages$", status=503)
        assert await press_report(fake, result, reporter) == MODLOG_UNREACHABLE
        assert await press_report(fake, result, reporter) == REPORTED
    assert reports_posted(fake, modlog) == 1
    fake.assert_clean()


# --- hostile prompts ----------------------------------------------------------------------------


async def test_hostile_prompts_ping_nobody_in_replies_results_or_the_mod_log(
    fake: FakeDiscord, canvasbot: BotFactory
) -> None:
    admin = manager(fake)
    modlog = fake.add_channel(fake.guild, "mod-log")
    role = fake.add_role(fake.guild, "mods")
    mentions = f"@everyone @here <@{admin.id}> <@!{admin.id}> <@&{role.id}> <#{modlog.id}>"
    markdown = "**bold** __under__ `code` ||spoiler|| [link](https://x.example) # heading"
    hostile = [
        f"{mentions} {markdown} clowns",
        "zero\u200bwidth\u202eevil\u2066 \U000e0041 clowns",
        "\N{FIRE}" * 1400 + " clowns",
        "clowns " + "a" * 2993,  # 3000 characters
        "\N{PILE OF POO}\u200d" * 900 + "clowns",
    ]
    async with canvasbot():
        await configure(fake, admin, "modlog", {"channel": modlog})
        await configure(fake, admin, "blocklist", {"action": "add", "term": "clowns"})
        for prompt in hostile:
            reply = await kind_reply(await fake.slash("generate", {"prompt": prompt}))
            assert "blocked" in reply.content
            assert len(reply.content) <= 2000

        def blocked_posts() -> list[FakeMessage]:
            return [m for m in fake.messages(modlog) if is_modlog_post("Blocked request")(m)]

        # Each post follows its reply; wait (on message events) until the last one is there.
        await fake.wait_for_message(lambda _: len(blocked_posts()) == len(hostile), channel=modlog)
        posts = blocked_posts()

        # The same prompts, allowed once the term is gone: results and reports stay safe too.
        await configure(fake, admin, "blocklist", {"action": "remove", "term": "clowns"})
        for prompt in hostile:
            result = await result_message(await fake.slash("generate", {"prompt": prompt}))
            assert "\u200b" not in result.embeds[0]["description"]
            await kind_reply(await fake.click(result, result.button("Report")["custom_id"]))
    # One post per refused prompt, in order, each naming the term where that prompt holds it.
    assert [p.embeds[0]["description"] for p in posts] == [
        'Blocked (server) at the standard level: "clowns" (server list) in the prompt as "clowns"'
        f" (characters {prompt.index('clowns')}-{prompt.index('clowns') + len('clowns')})."
        for prompt in hostile
    ]
    shown = field(posts[0].embeds[0], "Prompt")
    assert "@everyone" not in shown
    assert "@here" not in shown
    assert f"<@{admin.id}>" not in shown
    assert f"<@&{role.id}>" not in shown
    assert r"\*\*bold\*\*" in shown
    zero_width = field(posts[1].embeds[0], "Prompt")
    assert not any(ch in zero_width for ch in "\u200b\u202e\u2066\U000e0041")
    assert all(len(field(p.embeds[0], "Prompt")) <= 1024 for p in posts)
    assert not fake.mention_leaks
    fake.assert_clean()  # no 50035 (limits), no late acknowledgement, no mention leak
