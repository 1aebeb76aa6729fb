"""The loopback Discord fake, driven by the real discord.py client.

The test bot's handlers never sleep: when a test needs a handler to answer "too late", the
handler waits on an asyncio.Event the test sets once the fake reports the deadline passed.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest
import yarl
from discord import app_commands
from discord.ext import commands

from tests.fakes.discord import BotDied, FakeDiscord, FakeMessage, running_bot
from tests.fakes.discord._util import Snowflakes, shard_for
from tests.fakes.discord.limits import FormErrors, check_message, check_modal

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x08\x00\x00\x00\x04" + b"\x00" * 64
STYLES = ["photo", "painting", "pixel art", "sketch"]


class Probe:
    """What the test bot reports back: outcomes by name, and gates tests open."""

    def __init__(self) -> None:
        self.gates: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self._outcomes: dict[str, asyncio.Future[Any]] = {}

    def _future(self, name: str) -> asyncio.Future[Any]:
        if name not in self._outcomes:
            self._outcomes[name] = asyncio.get_running_loop().create_future()
        return self._outcomes[name]

    def report(self, name: str, value: Any) -> None:
        self._future(name).set_result(value)

    async def outcome(self, name: str, timeout: float = 10.0) -> Any:
        async with asyncio.timeout(timeout):
            return await self._future(name)


class AgainView(discord.ui.View):
    def __init__(self, n: int) -> None:
        super().__init__(timeout=None)
        self.add_item(AgainButton(n))


class AgainButton(discord.ui.Button["AgainView"]):
    def __init__(self, n: int) -> None:
        super().__init__(label="Again", custom_id=f"again:{n}")

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.response.edit_message(content="again!")


class PickView(discord.ui.View):
    @discord.ui.select(
        custom_id="pick",
        options=[discord.SelectOption(label=x, value=x) for x in ("red", "green", "blue")],
    )
    async def chosen(
        self, interaction: discord.Interaction, select: discord.ui.Select[Any]
    ) -> None:
        await interaction.response.edit_message(content=f"picked {select.values[0]}", view=None)


class FeedbackModal(discord.ui.Modal, title="Feedback"):
    text: discord.ui.TextInput[FeedbackModal] = discord.ui.TextInput(
        label="Your feedback", custom_id="text", max_length=200
    )

    def __init__(self) -> None:
        super().__init__(custom_id="feedback")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"thanks: {self.text.value}", ephemeral=True)


def register_commands(tree: app_commands.CommandTree[Any], probe: Probe) -> None:
    @tree.command(description="Turn a prompt into a picture")
    @app_commands.describe(prompt="What to draw", style="How it looks", steps="Sampling steps")
    async def imagine(
        interaction: discord.Interaction, prompt: str, style: str = "photo", steps: int = 4
    ) -> None:
        await interaction.response.defer(thinking=True)
        embed = discord.Embed(title=prompt[:256], description=f"{style}, {steps} steps")
        file = discord.File(io.BytesIO(PNG), "image.png")
        await interaction.followup.send(embed=embed, file=file, view=AgainView(steps))

    @imagine.autocomplete("style")
    async def style_autocomplete(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=s, value=s) for s in STYLES if s.startswith(current)]

    @tree.command(description="Answers after the test says so")
    async def late(interaction: discord.Interaction) -> None:
        await probe.gates["late"].wait()
        try:
            await interaction.response.send_message("finally")
        except discord.HTTPException as exc:
            probe.report("late", exc)

    @tree.command(description="Acknowledges twice at once")
    async def double(interaction: discord.Interaction) -> None:
        results = await asyncio.gather(
            interaction.response.defer(), interaction.response.defer(), return_exceptions=True
        )
        probe.report("double", results)

    @tree.command(description="Sends an embed over the limit, then a valid reply")
    async def bigembed(interaction: discord.Interaction) -> None:
        try:
            await interaction.response.send_message(embed=discord.Embed(description="x" * 5000))
        except discord.HTTPException as exc:
            probe.report("bigembed", exc)
        await interaction.response.send_message("fallback")

    @tree.command(description="Opens a modal")
    async def feedback(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(FeedbackModal())

    @tree.command(description="Defers, then follows up when the test says so")
    async def slowfollow(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True, ephemeral=True)
        await probe.gates["slowfollow"].wait()
        try:
            await interaction.followup.send("done")
        except discord.HTTPException as exc:
            probe.report("slowfollow", exc)

    @tree.command(description="Pings everyone, which a good bot never allows")
    async def shout(interaction: discord.Interaction) -> None:
        await interaction.response.send_message(
            "@everyone look", allowed_mentions=discord.AllowedMentions(everyone=True)
        )

    @tree.command(description="Tells whether the channel is age-restricted")
    async def nsfwcheck(interaction: discord.Interaction) -> None:
        channel = interaction.channel
        assert isinstance(channel, discord.TextChannel)
        await interaction.response.send_message(f"nsfw={channel.is_nsfw()}")

    @tree.command(description="Posts with the bot token")
    async def post(interaction: discord.Interaction, text: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        assert interaction.channel is not None
        sent = await interaction.channel.send(text, file=discord.File(io.BytesIO(PNG), "p.png"))
        await interaction.followup.send(f"posted {sent.id}", ephemeral=True)

    @tree.command(description="Says hello, in a guild or a DM")
    async def hello(interaction: discord.Interaction) -> None:
        where = "dm" if interaction.guild is None else "guild"
        await interaction.response.send_message(f"hello {interaction.user.name} in {where}")

    @tree.command(description="Offers a choice")
    async def pick(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("pick one", view=PickView())

    @tree.command(description="Answers on the shard it ran on")
    async def where(interaction: discord.Interaction) -> None:
        assert interaction.guild is not None
        await interaction.response.send_message(f"shard={interaction.guild.shard_id}")

    settings = app_commands.Group(name="settings", description="Bot settings")
    quota = app_commands.Group(name="quota", description="Quotas", parent=settings)

    @quota.command(name="set", description="Set the daily quota")
    async def quota_set(
        interaction: discord.Interaction, limit: app_commands.Range[int, 1, 100]
    ) -> None:
        await interaction.response.send_message(f"limit={limit}", ephemeral=True)

    tree.add_command(settings)

    @tree.context_menu(name="Inspect")
    async def inspect(interaction: discord.Interaction, member: discord.Member) -> None:
        await interaction.response.send_message(f"{member.name} joined", ephemeral=True)

    @tree.context_menu(name="Describe")
    async def describe(interaction: discord.Interaction, message: discord.Message) -> None:
        await interaction.response.send_message(f"{len(message.content)} chars", ephemeral=True)


class FakeBot(discord.Client):
    """A minimal bot: commands copied to the sync guild (or global), no mentions ever."""

    def __init__(self, probe: Probe, sync_guild: int | None) -> None:
        super().__init__(
            intents=discord.Intents.default(),
            allowed_mentions=discord.AllowedMentions.none(),
            # Seconds discord.py waits for more GUILD_CREATEs before on_ready; running_bot
            # waits for late ones anyway.
            guild_ready_timeout=0.05,
        )
        self.tree = app_commands.CommandTree(self)
        self.sync_guild = sync_guild
        register_commands(self.tree, probe)

    async def setup_hook(self) -> None:
        if self.sync_guild is None:
            await self.tree.sync()
        else:
            guild = discord.Object(self.sync_guild)
            self.tree.copy_global_to(guild=guild)
            await self.tree.sync(guild=guild)


class ShardedFakeBot(commands.AutoShardedBot):
    def __init__(self, probe: Probe) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            shard_count=2,
            intents=discord.Intents.default(),
            allowed_mentions=discord.AllowedMentions.none(),
            guild_ready_timeout=0.05,
        )
        register_commands(self.tree, probe)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        # discord.py waits 5 s between IDENTIFYs for Discord's rate limit; the fake has none.
        return None

    async def setup_hook(self) -> None:
        await self.tree.sync()


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as f:
        yield f


@pytest.fixture
def probe() -> Probe:
    return Probe()


@pytest.fixture
async def bot(fake: FakeDiscord, probe: Probe) -> AsyncIterator[FakeBot]:
    client = FakeBot(probe, fake.guild.id)
    async with running_bot(client, fake, sync=fake.guild):
        yield client


# --- end to end with the real client ---------------------------------------------------------


async def test_start_sequence_and_sync(fake: FakeDiscord, bot: FakeBot) -> None:
    paths = [(c.method, c.path) for c in fake.requests[:3]]
    app, guild = fake.application_id, fake.guild.id
    assert paths == [
        ("GET", "/users/@me"),
        ("GET", "/oauth2/applications/@me"),
        ("PUT", f"/applications/{app}/guilds/{guild}/commands"),
    ]
    names = {(c["name"], c["type"]) for c in fake.commands(fake.guild)}
    assert {("imagine", 1), ("settings", 1), ("Describe", 3)} <= names
    assert all(c["id"] and c["application_id"] == str(app) for c in fake.commands(fake.guild))
    assert bot.user is not None
    assert bot.user.id == fake.bot_user.id
    assert bot.get_guild(guild) is not None
    assert bot.get_channel(fake.channel.id) is not None
    assert fake.connected_shards == [0]


async def test_defer_then_followup_with_embed_file_and_button(
    fake: FakeDiscord, bot: FakeBot
) -> None:
    h = await fake.slash("imagine", {"prompt": "a red fox", "steps": 3})
    ack = await h.acknowledged()
    assert ack.type == 5
    assert h.ack_latency_ms is not None
    assert h.ack_latency_ms < 3000
    msg = await h.original_message()
    assert h.followups == [msg]  # the first followup filled the loading message
    assert msg.embed is not None
    assert msg.embed["title"] == "a red fox"
    assert msg.attachments[0].filename == "image.png"
    assert msg.attachments[0].data == PNG
    assert msg.custom_ids == ["again:3"]
    assert msg.allowed_mentions == {"parse": []}
    assert not msg.is_loading
    assert not h.is_ephemeral
    assert fake.messages() == [msg]
    # The attachment URL serves the bytes.
    async with aiohttp.ClientSession() as session, session.get(msg.attachments[0].url) as resp:
        assert await resp.read() == PNG
        assert resp.content_type == "image/png"
    # The multipart followup is logged with its file.
    followup_call = fake.calls("POST", r"^/webhooks/")[0]
    assert followup_call.files[0].filename == "image.png"
    assert followup_call.json["embeds"][0]["title"] == "a red fox"
    fake.assert_clean()


async def test_button_click_round_trip(fake: FakeDiscord, bot: FakeBot) -> None:
    h = await fake.slash("imagine", {"prompt": "owl", "steps": 7})
    msg = await h.original_message()
    click = await fake.click(msg, "again:7")
    assert (await click.acknowledged()).type == 7
    assert click.original is msg
    assert msg.content == "again!"
    assert msg.history
    assert msg.history[-1]["content"] == ""
    assert click.payload["message"]["id"] == str(msg.id)
    fake.assert_clean()


async def test_late_reply_gets_unknown_interaction(
    fake: FakeDiscord, bot: FakeBot, probe: Probe
) -> None:
    h = await fake.slash("late", ack_deadline=0.05)
    await h.ack_deadline_passed()
    probe.gates["late"].set()
    exc = await probe.outcome("late")
    assert isinstance(exc, discord.NotFound)
    assert exc.code == 10062
    assert (await h.error(10062)).status == 404
    assert [v.kind for v in fake.violations] == ["ack_timeout", "late_callback"]
    assert not h.acked


async def test_double_ack_gets_already_acknowledged(
    fake: FakeDiscord, bot: FakeBot, probe: Probe
) -> None:
    h = await fake.slash("double")
    results = await probe.outcome("double")
    errors = [r for r in results if isinstance(r, discord.HTTPException)]
    assert len(errors) == 1
    assert errors[0].code == 40060
    assert errors[0].status == 400
    assert [c.type for c in h.callbacks] == [5]
    assert (await h.error(40060)).status == 400
    assert [v.kind for v in fake.violations] == ["already_acknowledged"]


async def test_embed_over_limit_is_invalid_form_body(
    fake: FakeDiscord, bot: FakeBot, probe: Probe
) -> None:
    h = await fake.slash("bigembed")
    exc = await probe.outcome("bigembed")
    assert isinstance(exc, discord.HTTPException)
    assert (exc.status, exc.code) == (400, 50035)
    # A refused callback does not acknowledge: the valid reply afterwards goes through.
    msg = await h.original_message()
    assert msg.content == "fallback"
    (violation,) = fake.violations
    assert violation.kind == "invalid_form_body"
    assert violation.errors is not None
    assert "_errors" in violation.errors["data"]["embeds"]["0"]["description"]


async def test_modal_round_trip(fake: FakeDiscord, bot: FakeBot) -> None:
    h = await fake.slash("feedback")
    modal = await h.modal_opened()
    assert modal["title"] == "Feedback"
    assert modal["custom_id"] == "feedback"
    assert h.response_type == 9
    submitted = await fake.submit_modal("feedback", {"text": "lovely"})
    msg = await submitted.original_message()
    assert msg.content == "thanks: lovely"
    assert submitted.is_ephemeral
    assert submitted.user is h.user
    with pytest.raises(ValueError, match="no inputs"):
        await fake.submit_modal("feedback", {"text": "x", "nope": "y"})
    fake.assert_clean()


async def test_autocomplete(fake: FakeDiscord, bot: FakeBot) -> None:
    choices = await fake.autocomplete("imagine", "style", "p", {"prompt": "cat"})
    assert choices == [
        {"name": "photo", "value": "photo"},
        {"name": "painting", "value": "painting"},
        {"name": "pixel art", "value": "pixel art"},
    ]
    assert fake.handles[-1].response_type == 8
    fake.assert_clean()


async def test_message_context_menu(fake: FakeDiscord, bot: FakeBot) -> None:
    target = fake.add_message(content="hello world", author=fake.user)
    h = await fake.message_command("Describe", target)
    msg = await h.original_message()
    assert msg.content == "11 chars"
    assert msg.is_ephemeral
    assert msg.type == 23
    fake.assert_clean()


async def test_user_command_and_select(fake: FakeDiscord, bot: FakeBot) -> None:
    other = fake.add_member(name="painter")
    h = await fake.user_command("Inspect", other)
    assert (await h.original_message()).content == "painter joined"
    assert h.payload["data"]["resolved"]["members"][str(other.id)]["roles"] == []

    h = await fake.slash("pick")
    msg = await h.original_message()
    with pytest.raises(ValueError, match="not options"):
        await fake.click(msg, "pick", values=["purple"])
    click = await fake.click(msg, "pick", values=["green"])
    assert (await click.acknowledged()).type == 7
    assert msg.content == "picked green"
    assert msg.components == []
    fake.assert_clean()


async def test_subcommand_options_are_typed(fake: FakeDiscord, bot: FakeBot) -> None:
    h = await fake.slash("settings quota set", {"limit": 5})
    assert (await h.original_message()).content == "limit=5"
    options = h.payload["data"]["options"]
    assert options[0]["name"] == "quota"
    assert options[0]["type"] == 2
    assert options[0]["options"][0]["options"] == [{"name": "limit", "type": 4, "value": 5}]
    with pytest.raises(TypeError):
        await fake.slash("settings quota set", {"limit": "5"})
    with pytest.raises(ValueError, match=r"1\.\.100"):
        await fake.slash("settings quota set", {"limit": 500})
    with pytest.raises(LookupError, match="needs a subcommand"):
        await fake.slash("settings quota")
    with pytest.raises(ValueError, match="missing required"):
        await fake.slash("imagine")


async def test_nsfw_channel_added_while_connected(fake: FakeDiscord, bot: FakeBot) -> None:
    adult = fake.add_channel(name="adult", nsfw=True)
    h = await fake.slash("nsfwcheck", channel=adult)
    assert (await h.original_message()).content == "nsfw=True"
    h = await fake.slash("nsfwcheck")
    assert (await h.original_message()).content == "nsfw=False"


async def test_channel_send_with_bot_token(fake: FakeDiscord, bot: FakeBot) -> None:
    h = await fake.slash("post", {"text": "hello channel"})
    done = await h.original_message()
    assert done.is_ephemeral
    assert done.content.startswith("posted ")
    posted = await fake.wait_for_message(lambda m: m.content == "hello channel")
    assert posted.author is fake.bot_user
    assert posted.webhook_id is None
    assert posted.attachments[0].data == PNG
    assert done.content == f"posted {posted.id}"
    assert fake.messages(include_ephemeral=False) == [posted]
    fake.assert_clean()


async def test_mention_leak_is_recorded(fake: FakeDiscord, bot: FakeBot) -> None:
    h = await fake.slash("shout")
    msg = await h.original_message()
    assert fake.mention_leaks == [msg]
    with pytest.raises(AssertionError, match="mention leak"):
        fake.assert_clean()


async def test_expired_token_window(fake: FakeDiscord, bot: FakeBot, probe: Probe) -> None:
    h = await fake.slash("slowfollow", token_ttl=0.2)
    await h.acknowledged()
    assert h.is_ephemeral
    await h.token_expired()
    probe.gates["slowfollow"].set()
    exc = await probe.outcome("slowfollow")
    assert isinstance(exc, discord.HTTPException)
    assert (exc.status, exc.code) == (401, 50027)
    assert (await h.error(50027)).message == "Invalid Webhook Token"
    assert [v.kind for v in fake.violations] == ["token_expired"]


async def test_rate_limited_callback_is_retried(fake: FakeDiscord, bot: FakeBot) -> None:
    fake.inject_failure("POST", r"^/interactions/", status=429, retry_after=0.01)
    h = await fake.slash("imagine", {"prompt": "retry me"})
    await h.original_message()
    assert [c.status for c in fake.calls("POST", r"^/interactions/")] == [429, 200]
    fake.assert_clean()


async def test_many_simultaneous_interactions(fake: FakeDiscord, bot: FakeBot) -> None:
    handles = await asyncio.gather(
        *(fake.slash("imagine", {"prompt": f"p{i}"}) for i in range(100))
    )
    messages = await asyncio.gather(*(h.original_message(timeout=30) for h in handles))
    assert sorted(m.embeds[0]["title"] for m in messages) == sorted(f"p{i}" for i in range(100))
    assert all(h.ack_latency_ms is not None for h in handles)
    fake.assert_clean()


async def test_resume_replays_missed_dispatches(fake: FakeDiscord, bot: FakeBot) -> None:
    await fake.reconnect(0)
    # Dispatched right behind the RECONNECT: the client drops it with the old socket and
    # gets it again from the resume buffer.
    h = await fake.slash("imagine", {"prompt": "after resume"})
    await fake.wait_for_resume()
    assert (await h.original_message()).embeds[0]["title"] == "after resume"
    assert fake.gateway.identifies == 1
    assert fake.gateway.replayed >= 1
    assert len(h.callbacks) == 1
    fake.assert_clean()


async def test_sharded_bot_sees_its_guilds(probe: Probe) -> None:
    async with FakeDiscord() as fake:
        g0 = fake.add_guild("zero", shard=(0, 2))
        g1 = fake.add_guild("one", shard=(1, 2))
        client = ShardedFakeBot(probe)
        async with running_bot(client, fake, sync="global"):
            assert fake.connected_shards == [0, 1]
            for guild in fake.guilds.values():
                cached = client.get_guild(guild.id)
                assert cached is not None
                assert cached.shard_id == shard_for(guild.id, 2)
                assert guild.id in fake.gateway.shards[cached.shard_id].guild_ids
            assert shard_for(g0.id, 2) == 0
            assert shard_for(g1.id, 2) == 1
            for guild, shard in ((g0, 0), (g1, 1)):
                h = await fake.slash("where", guild=guild)
                assert h.shard_id == shard
                assert (await h.original_message()).content == f"shard={shard}"
            # DMs go to shard 0 and carry a user instead of a member.
            h = await fake.slash("hello", dm=True)
            assert (await h.original_message()).content == "hello tester in dm"
            assert h.shard_id == 0
            assert "member" not in h.payload
            assert h.channel is fake.dm_channel(fake.default_user)
        fake.assert_clean()


async def test_bot_death_fails_waits_fast(fake: FakeDiscord, probe: Probe) -> None:
    client = FakeBot(probe, fake.guild.id)

    async def break_the_bot() -> None:
        async with running_bot(client, fake):
            # A GUILD_CREATE without an id makes discord.py's parser raise, ending start().
            fake.dispatch_event("GUILD_CREATE", {"unavailable": False})
            await fake.wait_for_message(lambda m: False, timeout=30)

    started = time.perf_counter()
    with pytest.raises(BotDied, match="KeyError"):
        await break_the_bot()
    assert time.perf_counter() - started < 10
    assert client.is_closed()


# --- the fake on its own -----------------------------------------------------------------------


async def test_patch_discord_py_restores(fake: FakeDiscord) -> None:
    route, ws = discord.http.Route, discord.gateway.DiscordWebSocket
    before = (route.BASE, ws.DEFAULT_GATEWAY)
    with fake.patch_discord_py():
        assert fake.api_base == route.BASE
        assert yarl.URL(fake.gateway_url) == ws.DEFAULT_GATEWAY
    assert before == (route.BASE, ws.DEFAULT_GATEWAY)


async def test_rest_basics(fake: FakeDiscord) -> None:
    auth = {"Authorization": f"Bot {fake.token}"}
    async with aiohttp.ClientSession() as s:
        async with s.get(fake.api_base + "/users/@me", headers=auth) as r:
            assert r.status == 200
            assert r.headers["Content-Type"] == "application/json"
            assert (await r.json())["id"] == str(fake.bot_user.id)
        async with s.get(fake.api_base + "/users/@me") as r:
            assert r.status == 401
        async with s.get(fake.api_base + "/nowhere", headers=auth) as r:
            assert r.status == 404
            assert (await r.json())["code"] == 0
        assert [c.path for c in fake.unhandled] == ["/nowhere"]

        fake.inject_failure("GET", r"^/gateway/bot$", status=500)
        async with s.get(fake.api_base + "/gateway/bot", headers=auth) as r:
            assert r.status == 500
        async with s.get(fake.api_base + "/gateway/bot", headers=auth) as r:
            body = await r.json()
            assert body["url"] == fake.gateway_url
            assert body["shards"] == 1

        form = aiohttp.FormData(quote_fields=False)
        form.add_field("payload_json", '{"content": "hi", "allowed_mentions": {"parse": []}}')
        form.add_field("files[0]", b"x" * 2048, filename="big.bin")
        fake.default_size_limit = 1024
        url = f"{fake.api_base}/channels/{fake.channel.id}/messages"
        async with s.post(url, data=form, headers=auth) as r:
            assert r.status == 400
            body = await r.json()
            assert body["code"] == 50035
            assert "files[0]" in body["errors"]
        async with s.post(url, json={"content": ""}, headers=auth) as r:
            assert (await r.json())["code"] == 50006
        async with s.post(url, json={"content": "ok"}, headers=auth) as r:
            posted = await r.json()
        async with s.get(url, headers=auth) as r:
            assert [m["id"] for m in await r.json()] == [posted["id"]]
        async with s.delete(f"{url}/{posted['id']}", headers=auth) as r:
            assert r.status == 204
    assert fake.messages() == []
    assert len(fake.mention_leaks) == 1  # the "ok" message had no allowed_mentions
    assert fake.requests[0].method == "GET"
    assert fake.requests[0].status == 200


def test_snowflakes_pick_shards() -> None:
    ids = Snowflakes()
    made = [ids.next(shard=(i % 3, 3)) for i in range(30)]
    assert made == sorted(set(made))
    assert [shard_for(x, 3) for x in made] == [i % 3 for i in range(30)]


def _errors(data: dict[str, Any], files: list[Any] | None = None) -> list[str]:
    errors = FormErrors()
    check_message(errors, (), data, files or [], size_limit=100, create=True)
    return errors.lines


def _row(*buttons: dict[str, Any]) -> dict[str, Any]:
    return {"type": 1, "components": list(buttons)}


def _button(custom_id: str, label: str = "ok") -> dict[str, Any]:
    return {"type": 2, "style": 1, "label": label, "custom_id": custom_id}


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"content": "x" * 2001}, "content"),
        ({"embeds": [{"title": "t"}] * 11}, "embeds"),
        ({"embeds": [{"title": "x" * 257}]}, "embeds.0.title"),
        ({"embeds": [{"description": "x" * 4097}]}, "embeds.0.description"),
        ({"embeds": [{"fields": [{"name": "n", "value": "v"}] * 26}]}, "embeds.0.fields"),
        ({"embeds": [{"fields": [{"name": "", "value": "v"}]}]}, "embeds.0.fields.0.name"),
        ({"embeds": [{"fields": [{"name": "n", "value": "x" * 1025}]}]}, "fields.0.value"),
        ({"embeds": [{"footer": {"text": "x" * 2049}}]}, "embeds.0.footer.text"),
        ({"embeds": [{"author": {"name": "x" * 257}}]}, "embeds.0.author.name"),
        ({"embeds": [{"description": "x" * 4000}, {"description": "x" * 2001}]}, "6000"),
        ({"components": [_row(*(_button(f"b{i}") for i in range(6)))]}, "components.0"),
        ({"components": [_row(_button(f"r{i}")) for i in range(6)]}, "components"),
        ({"components": [_row(_button("x" * 101))]}, "custom_id"),
        ({"components": [_row(_button(""))]}, "custom_id"),
        ({"components": [_row(_button("a", "x" * 81))]}, "label"),
        ({"components": [_row(_button("a"), _button("a"))]}, "duplicated"),
    ],
)
def test_message_limits(data: dict[str, Any], where: str) -> None:
    lines = _errors(data)
    assert lines, f"expected an error at {where}"
    assert any(where in line or where in line.lower() for line in lines), lines


def test_valid_message_and_modal_limits() -> None:
    ok = {
        "content": "x" * 2000,
        "embeds": [{"title": "t" * 256, "fields": [{"name": "n", "value": "v"}] * 25}],
        "components": [_row(*(_button(f"{r}-{i}") for i in range(5))) for r in range(5)],
    }
    assert _errors(ok) == []

    def modal_errors(title: str, inputs: int) -> list[str]:
        row = {"type": 4, "style": 1, "label": "L", "custom_id": "c"}
        components = [
            {"type": 1, "components": [{**row, "custom_id": f"c{i}"}]} for i in range(inputs)
        ]
        errors = FormErrors()
        check_modal(errors, (), {"custom_id": "m", "title": title, "components": components})
        return errors.lines

    assert modal_errors("t" * 45, 5) == []
    assert modal_errors("t" * 46, 1)
    assert modal_errors("t", 6)


def test_fake_message_helpers() -> None:
    from tests.fakes.discord import FakeUser

    msg = FakeMessage(1, 2, None, FakeUser(3, "u"), components=[_row(_button("go", "Go"))])
    assert msg.button("Go")["custom_id"] == "go"
    assert msg.component("go") is not None
    assert msg.custom_ids == ["go"]
    with pytest.raises(LookupError):
        msg.button("Stop")


async def test_restarted_bot_handles_old_buttons(fake: FakeDiscord, probe: Probe) -> None:
    async with running_bot(FakeBot(probe, fake.guild.id), fake):
        msg = await (await fake.slash("imagine", {"prompt": "keep", "steps": 2})).original_message()
    # A new process: the view is registered again at start (a persistent view).
    second = FakeBot(probe, fake.guild.id)
    async with running_bot(second, fake, sync=fake.guild):
        second.add_view(AgainView(2))
        click = await fake.click(msg, "again:2")
        assert (await click.acknowledged()).type == 7
    assert msg.content == "again!"
    assert fake.gateway.identifies == 2
    fake.assert_clean()


async def test_wrong_token_is_a_dead_bot(fake: FakeDiscord, probe: Probe) -> None:
    async def start_with_wrong_token() -> None:
        async with running_bot(FakeBot(probe, fake.guild.id), fake, token="not-the-token"):
            pass

    with pytest.raises(BotDied, match="LoginFailure"):
        await start_with_wrong_token()


async def test_gateway_protocol_by_hand(fake: FakeDiscord) -> None:
    fake._store_commands(fake.guild.id, [{"name": "x", "description": "d", "options": []}])
    url = fake.gateway_url + "?v=10&encoding=json"
    async with aiohttp.ClientSession() as s:
        async with s.ws_connect(url) as ws:
            assert (await ws.receive_json(timeout=5))["op"] == 10
            await ws.send_json({"op": 1, "d": None})
            assert (await ws.receive_json(timeout=5))["op"] == 11
            await ws.send_json({"op": 2, "d": {"token": fake.token, "intents": 0}})
            ready = await ws.receive_json(timeout=5)
            assert (ready["t"], ready["s"]) == ("READY", 1)
            assert ready["d"]["guilds"] == [{"id": str(fake.guild.id), "unavailable": True}]
            assert ready["d"]["application"]["id"] == str(fake.application_id)
            created = await ws.receive_json(timeout=5)
            assert created["t"] == "GUILD_CREATE"
            assert {m["user"]["id"] for m in created["d"]["members"]} >= {str(fake.bot_user.id)}

            h = await fake.slash("x", ack_deadline=0.01)
            event = await ws.receive_json(timeout=5)
            assert event["t"] == "INTERACTION_CREATE"
            required = {"id", "type", "token", "version", "application_id", "member", "channel"}
            assert required | {"attachment_size_limit", "guild_id", "data"} <= event["d"].keys()
            assert event["d"]["member"]["flags"] == 0

            await h.ack_deadline_passed()
            assert [v.kind for v in fake.violations] == ["ack_timeout"]
            # A callback that arrived in time but was still being read when the timer fired
            # is judged by its arrival: the expiry is retracted.
            assert not h.deadline_missed(h.dispatched_at + 0.001)
            assert fake.violations == []
            assert h.deadline_missed(h.dispatched_at + 1.0)

        async with s.ws_connect(url) as ws:
            await ws.receive_json(timeout=5)
            await ws.send_json({"op": 2, "d": {"token": "wrong", "intents": 0}})
            await ws.receive(timeout=5)
            assert ws.close_code == 4004
        async with s.ws_connect(url) as ws:
            await ws.receive_json(timeout=5)
            await ws.send_json({"op": 2, "d": {"token": fake.token, "shard": [2, 2]}})
            await ws.receive(timeout=5)
            assert ws.close_code == 4010
