"""A loopback fake of Discord's gateway and REST API for running the real discord.py client.

The unmodified discord.py 2.7 client connects to it over 127.0.0.1: REST under
``/api/v10`` and the gateway websocket at ``/gateway``. Platform rules are enforced on the
wall clock, so a blocked event loop shows up as a late acknowledgement.

Start, point discord.py at it, run a bot::

    async with FakeDiscord() as fake:                     # default guild, channel, member
        async with running_bot(bot, fake):                # ready, guilds cached, commands synced
            h = await fake.slash("imagine", {"prompt": "a red fox"})
            await h.acknowledged()                        # first callback (type 4/5/6/7/8/9)
            msg = await h.original_message()              # filled response message
            click = await fake.click(msg, "again:1")      # type 3 on that message
        fake.assert_clean()                               # no violations, no mention leaks

``fake.patch_discord_py()`` (a context manager; running_bot uses it) sets
``discord.http.Route.BASE = fake.api_base`` and
``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)`` and undoes it.

Constructor: ``FakeDiscord(*, token="fake-bot-token", bot_name="Canvasbot", ack_deadline=3.0,
token_ttl=900.0, attachment_size_limit=10 MiB, rate_limit_headers=True, message_events=True,
heartbeat_interval=41.25, recommended_shards=1, application_flags=0, defaults=True)``.

World (snowflake ids; every ``guild``/``channel`` argument takes the object, an id, or None
for the default): ``fake.guild``, ``fake.channel``, ``fake.user`` (a FakeMember; its user is
``fake.default_user``), ``fake.bot_user``, ``fake.application_id``;
``add_guild(name, *, guild_id=None, shard=(i, n), channels=("general",), ...)``,
``add_channel(guild, name, *, nsfw=False, type=0)``, ``add_role(guild, name, *, permissions)``,
``add_member(guild, user_id=None, name, *, permissions=None, roles=(), nick=None)``,
``add_user(name)``, ``dm_channel(user)``, ``add_attachment(filename, data)``,
``add_message(channel, content, *, author, embeds, files)``. Changes after the bot connected
are dispatched (GUILD_CREATE, CHANNEL_CREATE, GUILD_ROLE_CREATE, GUILD_MEMBER_ADD).

Interactions (each returns an InteractionHandle unless noted; ``user=`` a member/user/id,
``ack_deadline=``/``token_ttl=`` override the fake's for that interaction):
``slash(name, options, *, user, guild, channel, dm=False)`` with "group sub" paths;
``autocomplete(name, focused, value, options) -> list[choice]``;
``click(message, custom_id, *, user, values=None)``;
``submit_modal(custom_id | modal dict | opener handle, {input_id: value}, *, user, message)``;
``message_command(name, target_message)``; ``user_command(name, target_user)``.
Option values are checked against the synced command's option types.

InteractionHandle: ``dispatched_at``, ``acked_at`` (perf_counter), ``ack_latency_ms``,
``callbacks``, ``response_type``, ``original``, ``followups``, ``edits``, ``errors``,
``modal``, ``choices``, ``is_ephemeral``; awaitables ``acknowledged()``,
``original_message()``, ``followup(n)``, ``edit(n)``, ``modal_opened()``, ``error(code)``,
``ack_deadline_passed()``, ``token_expired()`` (all take ``timeout=``, an upper bound).

Messages: ``messages(channel)``, ``message(id)``, ``wait_for_message(pred, *, channel)``;
FakeMessage has content, embeds, components, attachments (bytes + served ``url``), flags,
allowed_mentions, ``history`` of edits, ``component(custom_id)``, ``button(label)``.

Records: ``requests`` (every REST call: method, path, query, json, files, status, code),
``calls(method, path_regex)``, ``violations`` (+ ``wait_for_violation(kind)``),
``mention_leaks``, ``unhandled``, ``syncs`` (+ ``wait_for_sync(guild)``), ``handles``,
``commands(guild)``; ``inject_failure(method, path_regex, *, status=429, retry_after, times)``.

Enforced: ack later than ``ack_deadline`` -> 404/10062 (and an ``ack_timeout`` violation when
the deadline passes); second callback -> 400/40060; webhook after ``token_ttl`` -> 401/50027;
embed/content/component/modal/choice/file-size limits -> 400/50035 with an ``errors`` tree
(real Discord answers an oversized file with 413/40005; the fake uses 50035 for all limits);
empty message -> 400/50006; command definitions are validated at sync. A refused callback
does not acknowledge. Callbacks are judged by their arrival time.
``fake.uploads`` (a Gate) holds requests with files once their body has arrived.

Gateway: HELLO, heartbeat ACK, IDENTIFY (sharded: guild ``(id >> 22) % count == shard``)
-> READY + GUILD_CREATE, RESUME with replay of missed dispatches, member chunk requests,
``fake.reconnect(shard)`` (op 7), ``dispatch_event(event, data, shard_id=)``,
``wait_until_connected()``, ``wait_for_identify()``, ``wait_for_resume()``; counters
``fake.gateway.identifies``/``resumes``/``replayed``. Bot messages are echoed as
MESSAGE_CREATE/UPDATE/DELETE to shards with the message intents (``message_events=False``
turns that off). REST answers carry a huge rate-limit bucket (``rate_limit_headers``) so
discord.py does not serialise requests per route.

Sharded bots: discord.py waits 5 s between IDENTIFYs; override ``before_identify_hook`` in
tests. ``tests/fakes`` must never be on sys.path itself (this package is named ``discord``).
"""

from ._util import BotDied, DiscordError
from .fake import FakeDiscord
from .handle import AckDeadlineMissed, Callback, Edit, InteractionHandle, RestError
from .harness import running_bot
from .models import (
    FakeAttachment,
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeMessage,
    FakeRole,
    FakeUser,
    RestCall,
    SyncRecord,
    UploadedFile,
    Violation,
)

__all__ = [
    "AckDeadlineMissed",
    "BotDied",
    "Callback",
    "DiscordError",
    "Edit",
    "FakeAttachment",
    "FakeChannel",
    "FakeDiscord",
    "FakeGuild",
    "FakeMember",
    "FakeMessage",
    "FakeRole",
    "FakeUser",
    "InteractionHandle",
    "RestCall",
    "RestError",
    "SyncRecord",
    "UploadedFile",
    "Violation",
    "running_bot",
]
