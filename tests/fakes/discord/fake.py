"""FakeDiscord: the world model, interaction driving, message store and waits."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, Literal
from urllib.parse import quote

from aiohttp import web

from tests.fakes.gate import Gate
from tests.fakes.loopback import LoopbackServer

from ._util import DEFAULT_TIMEOUT, BotDied, Hub, Signal, Snowflakes, shard_for
from .gateway import (
    INTENT_DIRECT_MESSAGES,
    INTENT_GUILD_MEMBERS,
    INTENT_GUILD_MESSAGES,
    Gateway,
)
from .handle import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    MESSAGE_COMPONENT,
    MODAL_SUBMIT,
    InteractionHandle,
)
from .models import (
    DEFAULT_PERMISSIONS,
    DM,
    FLAG_COMPONENTS_V2,
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    FLAG_SUPPRESS_EMBEDS,
    GUILD_TEXT,
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
    _perm_value,
    guess_content_type,
)
from .rest import Injection, RestApi

MiB = 1024 * 1024
GuildRef = FakeGuild | int | None
ChannelRef = FakeChannel | int | None
UserRef = FakeMember | FakeUser | int | None
ANY: Literal["any"] = "any"

# Option types.
SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = (
    3,
    4,
    5,
    6,
    7,
    8,
    9,
    10,
    11,
)


class FakeDiscord:
    """A loopback Discord (gateway + REST) for running the real discord.py client against.

    See the package docstring for the API tour.
    """

    def __init__(
        self,
        *,
        token: str = "fake-bot-token",
        bot_name: str = "Canvasbot",
        ack_deadline: float = 3.0,
        token_ttl: float = 15 * 60.0,
        attachment_size_limit: int = 10 * MiB,
        rate_limit_headers: bool = True,
        message_events: bool = True,
        heartbeat_interval: float = 41.25,
        recommended_shards: int = 1,
        application_flags: int = 0,
        defaults: bool = True,
    ) -> None:
        self.token = token
        self.ack_deadline = ack_deadline
        self.token_ttl = token_ttl
        self.attachment_size_limit = attachment_size_limit
        self.default_size_limit = attachment_size_limit
        self.rate_limit_headers = rate_limit_headers
        self.message_events = message_events
        self.recommended_shards = recommended_shards
        self.application_flags = application_flags
        self.presence: Any = None

        self._ids = Snowflakes()
        self._hub = Hub()
        # Records for assertions.
        self.requests: list[RestCall] = []
        self.violations: list[Violation] = []
        self.mention_leaks: list[FakeMessage] = []
        self.unhandled: list[RestCall] = []
        self.syncs: list[SyncRecord] = []
        self.handles: list[InteractionHandle] = []
        # The world.
        self.users: dict[int, FakeUser] = {}
        self.guilds: dict[int, FakeGuild] = {}
        self.channels: dict[int, FakeChannel] = {}
        self._dms: dict[int, FakeChannel] = {}
        self._messages: dict[int, FakeMessage] = {}
        self._channel_messages: dict[int, list[FakeMessage]] = {}
        self._attachments: dict[int, FakeAttachment] = {}
        self._commands: dict[int | None, list[dict[str, Any]]] = {}
        self._command_ids: dict[tuple[int | None, int, str], int] = {}
        self._handles: dict[int, InteractionHandle] = {}
        self._handles_by_token: dict[str, InteractionHandle] = {}
        self._modals_opened: list[InteractionHandle] = []
        # Signals.
        self._message_signal = Signal(self._hub)
        self._sync_signal = Signal(self._hub)
        self._gateway_signal = Signal(self._hub)
        self._violation_signal = Signal(self._hub)
        self._interactions_changed = Signal(self._hub)
        self._watched: dict[asyncio.Task[Any], str] = {}

        self.bot_user = self.add_user(bot_name, bot=True)
        self.application_id = self.bot_user.id
        self.gateway = Gateway(self, int(heartbeat_interval * 1000))
        self.rest = RestApi(self)
        # Requests carrying files wait here once their body has arrived (close it to hold an
        # upload in flight: the bot has sent every byte and waits for the answer).
        self.uploads = Gate()
        self._server: LoopbackServer | None = None

        self.guild: FakeGuild
        self.channel: FakeChannel
        self.user: FakeMember
        if defaults:
            self.default_user = self.add_user("tester")
            self.guild = self.add_guild("Canvasbot Test Guild")
            self.channel = self.guild.text_channels[0]
            self.user = self.guild.members[self.default_user.id]
        else:
            self.default_user = self.add_user("tester")

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> FakeDiscord:
        app = web.Application(client_max_size=256 * MiB)
        app.router.add_get("/gateway", self.gateway.handle)
        self.rest.install(app)
        self._server = await LoopbackServer(app).start()
        return self

    async def close(self) -> None:
        self.uploads.open()
        for handle in self.handles:
            handle._cancel_timers()
        self._hub.fail_all(RuntimeError("FakeDiscord closed"))
        await self.gateway.close()
        if self._server is not None:
            await self._server.stop()
            self._server = None

    async def __aenter__(self) -> FakeDiscord:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeDiscord is not started")
        return self._server.base_url

    @property
    def api_base(self) -> str:
        return self.base_url + "/api/v10"

    @property
    def gateway_url(self) -> str:
        return self.base_url.replace("http://", "ws://", 1) + "/gateway"

    @contextlib.contextmanager
    def patch_discord_py(self) -> Iterator[FakeDiscord]:
        """Point discord.py's REST base and default gateway at this fake; undo on exit."""
        import discord.gateway
        import discord.http
        import yarl

        route, ws = discord.http.Route, discord.gateway.DiscordWebSocket
        old_base, old_gateway = route.BASE, ws.DEFAULT_GATEWAY
        route.BASE = self.api_base
        ws.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)
        try:
            yield self
        finally:
            route.BASE = old_base
            ws.DEFAULT_GATEWAY = old_gateway

    # --- the bot task ----------------------------------------------------------------------

    def watch_bot(self, task: asyncio.Task[Any], name: str = "bot") -> None:
        """Fail every pending wait with BotDied if this task ends before unwatch_bot()."""
        self._hub.dead = None  # a new bot: an earlier death no longer fails waits
        self._watched[task] = name
        task.add_done_callback(self._bot_task_done)

    def unwatch_bot(self, task: asyncio.Task[Any]) -> None:
        self._watched.pop(task, None)

    def _bot_task_done(self, task: asyncio.Task[Any]) -> None:
        name = self._watched.pop(task, None)
        if name is None:
            return
        self._hub.fail_all(bot_died_error(task, name))

    # --- model -----------------------------------------------------------------------------

    def add_user(self, name: str, *, user_id: int | None = None, bot: bool = False) -> FakeUser:
        user = FakeUser(
            user_id or self._ids.next(), name, global_name=None if bot else name, bot=bot
        )
        self.users[user.id] = user
        return user

    def add_guild(
        self,
        name: str = "Test Guild",
        *,
        guild_id: int | None = None,
        shard: tuple[int, int] | None = None,
        channels: Iterable[str] = ("general",),
        locale: str = "en-US",
        everyone_permissions: int = DEFAULT_PERMISSIONS,
        bot_permissions: int = DEFAULT_PERMISSIONS,
        with_default_user: bool = True,
    ) -> FakeGuild:
        """A guild with @everyone, an owner, the bot (with a managed role) and text channels.

        ``shard=(index, count)`` picks an id that maps to that shard. The default user
        (``fake.default_user``) joins too unless ``with_default_user=False``.
        """
        gid = guild_id or self._ids.next(shard=shard)
        owner = self.add_user(f"{name} owner")
        guild = FakeGuild(gid, name, owner_id=owner.id, locale=locale)
        guild.roles[gid] = FakeRole(gid, gid, "@everyone", _perm_value(everyone_permissions))
        self.guilds[gid] = guild
        bot_role = self._new_role(
            guild, self.bot_user.name, _perm_value(bot_permissions), managed=True
        )
        self._new_member(guild, owner)
        self._new_member(guild, self.bot_user, roles=[bot_role.id])
        if with_default_user:
            self._new_member(guild, self.default_user)
        for channel_name in channels:
            self._new_channel(guild, channel_name)
        if self.gateway.shards:
            shard_id = shard_for(gid, self.gateway.shard_count)
            session = self.gateway.shards.get(shard_id)
            if session is not None:
                session.guild_ids.add(gid)
                session.dispatch("GUILD_CREATE", guild.to_payload())
        return guild

    def add_channel(
        self,
        guild: GuildRef = None,
        name: str = "channel",
        *,
        nsfw: bool = False,
        type: int = GUILD_TEXT,
        topic: str | None = None,
        parent: FakeChannel | None = None,
    ) -> FakeChannel:
        """A guild channel; ``nsfw=True`` makes it age-restricted."""
        g = self._guild(guild)
        channel = self._new_channel(g, name, nsfw=nsfw, type=type, topic=topic, parent=parent)
        self.gateway.dispatch_guild(g.id, "CHANNEL_CREATE", channel.to_payload())
        return channel

    def add_role(
        self, guild: GuildRef = None, name: str = "role", *, permissions: Any = 0
    ) -> FakeRole:
        g = self._guild(guild)
        role = self._new_role(g, name, _perm_value(permissions))
        self.gateway.dispatch_guild(
            g.id, "GUILD_ROLE_CREATE", {"guild_id": str(g.id), "role": role.to_payload()}
        )
        return role

    def add_member(
        self,
        guild: GuildRef = None,
        user_id: int | None = None,
        name: str = "member",
        *,
        user: FakeUser | None = None,
        permissions: Any = None,
        roles: Iterable[FakeRole | int] = (),
        nick: str | None = None,
        bot: bool = False,
    ) -> FakeMember:
        """A member (new user unless ``user``/known ``user_id``). ``permissions`` overrides the
        role-computed guild permissions (int or discord.Permissions)."""
        g = self._guild(guild)
        if user is None:
            user = self.users.get(user_id) if user_id is not None else None
            if user is None:
                user = self.add_user(name, user_id=user_id, bot=bot)
        role_ids = [r.id if isinstance(r, FakeRole) else int(r) for r in roles]
        member = self._new_member(g, user, roles=role_ids, nick=nick)
        if permissions is not None:
            member.permissions_override = _perm_value(permissions)
        payload = {"guild_id": str(g.id), **member.to_payload()}
        self.gateway.dispatch_guild(g.id, "GUILD_MEMBER_ADD", payload, intent=INTENT_GUILD_MEMBERS)
        return member

    def dm_channel(self, user: FakeUser | FakeMember) -> FakeChannel:
        """The DM channel between the bot and a user (created on first use)."""
        u = user.user if isinstance(user, FakeMember) else user
        channel = self._dms.get(u.id)
        if channel is None:
            channel = FakeChannel(self._ids.next(), "", None, type=DM, recipients=[u])
            self._dms[u.id] = channel
            self.channels[channel.id] = channel
        return channel

    def add_attachment(
        self, filename: str, data: bytes, *, content_type: str | None = None
    ) -> FakeAttachment:
        """A stored file (e.g. for an attachment option), served at its ``url``."""
        return self._store_attachment(0, filename, data, content_type, None)

    def add_message(
        self,
        channel: ChannelRef = None,
        content: str = "",
        *,
        author: FakeMember | FakeUser | None = None,
        embeds: list[dict[str, Any]] | None = None,
        files: Iterable[tuple[str, bytes]] = (),
    ) -> FakeMessage:
        """A message posted by a user (e.g. the target of a message context menu)."""
        ch = self._channel(channel)
        author_user = self._user_of(author) if author is not None else self.default_user
        uploads = [UploadedFile(f"files[{i}]", n, d) for i, (n, d) in enumerate(files)]
        data = {"content": content, "embeds": embeds or [], "allowed_mentions": {"parse": []}}
        return self._new_message(ch, author_user, data, uploads, flags=0)

    def get_member(self, guild: GuildRef, user: FakeUser | int) -> FakeMember:
        g = self._guild(guild)
        uid = user.id if isinstance(user, FakeUser) else int(user)
        member = g.members.get(uid)
        if member is None:
            raise LookupError(f"user {uid} is not a member of guild {g.id}")
        return member

    def _new_role(
        self, guild: FakeGuild, name: str, permissions: int, *, managed: bool = False
    ) -> FakeRole:
        role = FakeRole(
            self._ids.next(),
            guild.id,
            name,
            permissions,
            position=len(guild.roles),
            managed=managed,
        )
        guild.roles[role.id] = role
        return role

    def _new_member(
        self,
        guild: FakeGuild,
        user: FakeUser,
        *,
        roles: list[int] | None = None,
        nick: str | None = None,
    ) -> FakeMember:
        member = FakeMember(user, guild, roles=list(roles or []), nick=nick)
        guild.members[user.id] = member
        return member

    def _new_channel(
        self,
        guild: FakeGuild,
        name: str,
        *,
        nsfw: bool = False,
        type: int = GUILD_TEXT,
        topic: str | None = None,
        parent: FakeChannel | None = None,
    ) -> FakeChannel:
        channel = FakeChannel(
            self._ids.next(),
            name,
            guild.id,
            type=type,
            nsfw=nsfw,
            position=len(guild.channels),
            parent_id=None if parent is None else parent.id,
            topic=topic,
        )
        guild.channels[channel.id] = channel
        self.channels[channel.id] = channel
        return channel

    def _guild(self, guild: GuildRef) -> FakeGuild:
        if guild is None:
            if not hasattr(self, "guild"):
                raise LookupError("no default guild (constructed with defaults=False)")
            return self.guild
        if isinstance(guild, FakeGuild):
            return guild
        try:
            return self.guilds[int(guild)]
        except KeyError:
            raise LookupError(f"unknown guild {guild}") from None

    def _channel(self, channel: ChannelRef, guild: FakeGuild | None = None) -> FakeChannel:
        if channel is None:
            if guild is not None:
                text = guild.text_channels
                if not text:
                    raise LookupError(f"guild {guild.id} has no text channel")
                return text[0]
            return self.channel
        if isinstance(channel, FakeChannel):
            return channel
        try:
            return self.channels[int(channel)]
        except KeyError:
            raise LookupError(f"unknown channel {channel}") from None

    def _user_of(self, user: FakeMember | FakeUser | int) -> FakeUser:
        if isinstance(user, FakeMember):
            return user.user
        if isinstance(user, FakeUser):
            return user
        return self.users[int(user)]

    # --- payload pieces --------------------------------------------------------------------

    def _bot_user_payload(self) -> dict[str, Any]:
        return {
            **self.bot_user.to_payload(),
            "verified": True,
            "mfa_enabled": False,
            "email": None,
            "flags": 0,
            "locale": "en-US",
        }

    def _application_payload(self) -> dict[str, Any]:
        return {
            "id": str(self.application_id),
            "name": self.bot_user.name,
            "icon": None,
            "description": "",
            "bot_public": True,
            "bot_require_code_grant": False,
            "owner": self.default_user.to_payload(),
            "verify_key": "0" * 64,
            "team": None,
            "flags": self.application_flags,
            "bot": self.bot_user.to_payload(),
            "tags": [],
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "approximate_guild_count": len(self.guilds),
            "integration_types_config": {"0": {}},
        }

    def _bot_permissions(self, guild: FakeGuild | None) -> int:
        if guild is None:
            return DEFAULT_PERMISSIONS
        member = guild.members.get(self.bot_user.id)
        return member.permissions if member is not None else 0

    # --- commands --------------------------------------------------------------------------

    def commands(self, guild: GuildRef | Literal["global"] = "global") -> list[dict[str, Any]]:
        """Synced command objects: global by default, or a guild's."""
        scope = None if guild == "global" else self._guild(guild).id  # type: ignore[arg-type]
        return list(self._commands.get(scope, []))

    def _store_commands(
        self, scope: int | None, commands: list[dict[str, Any]], *, record_sync: bool = True
    ) -> list[dict[str, Any]]:
        stored = []
        for cmd in commands:
            ctype = cmd.get("type", 1)
            key = (scope, ctype, cmd["name"])
            cid = self._command_ids.get(key)
            if cid is None:
                cid = self._command_ids[key] = self._ids.next()
            out = {
                "id": str(cid),
                "application_id": str(self.application_id),
                "version": str(self._ids.next()),
                "type": ctype,
                "name": cmd["name"],
                "name_localizations": cmd.get("name_localizations"),
                "description": cmd.get("description", ""),
                "description_localizations": cmd.get("description_localizations"),
                "options": cmd.get("options") or [],
                "default_member_permissions": _opt_str(cmd.get("default_member_permissions")),
                "dm_permission": cmd.get("dm_permission", True),
                "nsfw": cmd.get("nsfw", False),
                "contexts": cmd.get("contexts"),
                "integration_types": cmd.get("integration_types") or [0],
            }
            if scope is not None:
                out["guild_id"] = str(scope)
            stored.append(out)
        self._commands[scope] = stored
        if record_sync:
            self.syncs.append(SyncRecord(scope, stored, time.perf_counter()))
            self._sync_signal.notify()
        return stored

    def _sync_matches(self, record: SyncRecord, guild: Any) -> bool:
        if guild == ANY:
            return True
        if guild is None or guild == "global":
            return record.guild_id is None
        return record.guild_id == self._guild(guild).id

    async def wait_for_sync(
        self,
        guild: GuildRef | Literal["any", "global"] = ANY,
        *,
        count: int = 1,
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> SyncRecord:
        """Resolves once ``count`` command syncs (PUT) for that scope happened; returns the last."""

        def probe() -> SyncRecord | None:
            matching = [s for s in self.syncs if self._sync_matches(s, guild)]
            return matching[-1] if len(matching) >= count else None

        return await self._sync_signal.wait(
            probe,
            timeout,
            lambda: f"{count} command sync(s) for {guild!r}; syncs={self.syncs}",
            now=probe,
        )

    def _find_command(self, name: str, guild: FakeGuild | None, ctype: int) -> dict[str, Any]:
        scopes = ([guild.id] if guild is not None else []) + [None]
        for scope in scopes:
            for cmd in self._commands.get(scope, ()):
                if cmd["name"] == name and cmd["type"] == ctype:
                    return cmd
        known = sorted({(c["name"], c["type"]) for s in scopes for c in self._commands.get(s, ())})
        raise LookupError(
            f"no synced command {name!r} of type {ctype} for guild "
            f"{None if guild is None else guild.id}; synced: {known}"
        )

    # --- gateway ---------------------------------------------------------------------------

    def _gateway_changed(self) -> None:
        self._gateway_signal.notify()

    @property
    def shard_count(self) -> int:
        return self.gateway.shard_count

    @property
    def connected_shards(self) -> list[int]:
        return sorted(i for i, s in self.gateway.shards.items() if s.connection is not None)

    async def wait_until_connected(
        self, shard_count: int | None = None, *, timeout: float | None = DEFAULT_TIMEOUT
    ) -> None:
        """Every shard (0..count-1) identified and connected."""

        def probe() -> bool | None:
            count = shard_count or self.gateway.shard_count
            ok = self.gateway.shard_count == count and self.connected_shards == list(range(count))
            return True if ok else None

        await self._gateway_signal.wait(
            probe,
            timeout,
            lambda: f"gateway connection (shards {self.connected_shards})",
            now=probe,
        )

    async def wait_for_identify(
        self, count: int = 1, *, timeout: float | None = DEFAULT_TIMEOUT
    ) -> None:
        def probe() -> bool | None:
            return True if self.gateway.identifies >= count else None

        await self._gateway_signal.wait(probe, timeout, f"{count} IDENTIFY", now=probe)

    async def wait_for_resume(
        self, count: int = 1, *, timeout: float | None = DEFAULT_TIMEOUT
    ) -> None:
        def probe() -> bool | None:
            return True if self.gateway.resumes >= count else None

        await self._gateway_signal.wait(probe, timeout, f"{count} RESUME", now=probe)

    async def reconnect(self, shard_id: int = 0) -> None:
        """Send op 7 RECONNECT to a shard; discord.py reconnects and RESUMEs."""
        await self.gateway.reconnect(shard_id)

    def dispatch_event(self, event: str, data: Any, *, shard_id: int = 0) -> int:
        """Send a raw dispatch to a shard (returns its sequence number)."""
        session = self.gateway.shards.get(shard_id)
        if session is None:
            raise RuntimeError(f"shard {shard_id} has no session")
        return session.dispatch(event, data)

    # --- driving interactions --------------------------------------------------------------

    def _context(
        self,
        user: UserRef,
        guild: GuildRef,
        channel: ChannelRef,
        dm: bool,
    ) -> tuple[FakeUser, FakeMember | None, FakeGuild | None, FakeChannel]:
        if dm:
            u = self._user_of(user) if user is not None else self.default_user
            return u, None, None, self.dm_channel(u)
        ch = self._channel(channel, self._guild(guild) if guild is not None else None)
        if ch.is_dm:
            u = self._user_of(user) if user is not None else ch.recipients[0]
            return u, None, None, ch
        g = self.guilds[ch.guild_id] if ch.guild_id is not None else self._guild(guild)
        if user is None:
            member = g.members.get(self.default_user.id)
            if member is None:
                member = next((m for m in g.members.values() if not m.user.bot), None)
            if member is None:
                raise LookupError(f"guild {g.id} has no member to act as the user")
        elif isinstance(user, FakeMember):
            member = user
        else:
            member = self.get_member(g, user if isinstance(user, FakeUser) else int(user))
        return member.user, member, g, ch

    def _dispatch_interaction(
        self,
        itype: int,
        name: str,
        data: dict[str, Any],
        *,
        user: FakeUser,
        member: FakeMember | None,
        guild: FakeGuild | None,
        channel: FakeChannel,
        message: FakeMessage | None = None,
        locale: str = "en-US",
        ack_deadline: float | None = None,
        token_ttl: float | None = None,
    ) -> InteractionHandle:
        session = self.gateway.session_for_guild(None if guild is None else guild.id)
        iid = self._ids.next()
        token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(48)
        channel_payload = channel.to_payload()
        payload: dict[str, Any] = {
            "id": str(iid),
            "application_id": str(self.application_id),
            "type": itype,
            "data": data,
            "channel": channel_payload,
            "channel_id": str(channel.id),
            "token": token,
            "version": 1,
            "locale": locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": self.attachment_size_limit,
            "app_permissions": str(self._bot_permissions(guild)),
        }
        if guild is not None and member is not None:
            perms = str(member.permissions)
            channel_payload["permissions"] = perms
            payload["guild_id"] = str(guild.id)
            payload["guild"] = guild.partial_payload()
            payload["guild_locale"] = guild.locale
            payload["member"] = {**member.to_payload(), "permissions": perms}
            payload["context"] = 0
            payload["authorizing_integration_owners"] = {"0": str(guild.id)}
        else:
            payload["user"] = user.to_payload()
            payload["context"] = 1
            payload["authorizing_integration_owners"] = {"0": "0"}
        if message is not None:
            payload["message"] = message.to_payload()
        handle = InteractionHandle(
            self,
            id=iid,
            token=token,
            type=itype,
            name=name,
            payload=payload,
            user=user,
            guild=guild,
            channel=channel,
            shard_id=session.shard_id,
            ack_deadline=self.ack_deadline if ack_deadline is None else ack_deadline,
            token_ttl=self.token_ttl if token_ttl is None else token_ttl,
            message=message,
        )
        self._handles[iid] = handle
        self._handles_by_token[token] = handle
        self.handles.append(handle)
        session.dispatch("INTERACTION_CREATE", payload)
        return handle

    async def slash(
        self,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        user: UserRef = None,
        guild: GuildRef = None,
        channel: ChannelRef = None,
        dm: bool = False,
        locale: str = "en-US",
        ack_deadline: float | None = None,
        token_ttl: float | None = None,
    ) -> InteractionHandle:
        """Run a slash command: ``await fake.slash("settings quota set", {"limit": 5})``.

        Option values are checked against the synced command (names, types, required,
        choices, ranges) and converted: users/members, channels, roles and attachments
        (FakeAttachment or ``(filename, bytes)``) go into ``resolved``.
        """
        u, member, g, ch = self._context(user, guild, channel, dm)
        parts = name.split()
        cmd = self._find_command(parts[0], g, 1)
        defs, path = _descend(cmd, parts)
        resolved: dict[str, dict[str, Any]] = {}
        built = self._build_options(defs, options or {}, resolved, g, ch, focused=None)
        data: dict[str, Any] = {
            "id": cmd["id"],
            "name": cmd["name"],
            "type": 1,
            "options": _wrap(built, path),
        }
        if cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        if resolved:
            data["resolved"] = resolved
        return self._dispatch_interaction(
            APPLICATION_COMMAND,
            name,
            data,
            user=u,
            member=member,
            guild=g,
            channel=ch,
            locale=locale,
            ack_deadline=ack_deadline,
            token_ttl=token_ttl,
        )

    async def autocomplete(
        self,
        name: str,
        focused: str,
        value: Any = "",
        options: Mapping[str, Any] | None = None,
        *,
        user: UserRef = None,
        guild: GuildRef = None,
        channel: ChannelRef = None,
        dm: bool = False,
        locale: str = "en-US",
        ack_deadline: float | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> list[dict[str, Any]]:
        """Type ``value`` into option ``focused``; returns the choices the bot answered."""
        u, member, g, ch = self._context(user, guild, channel, dm)
        parts = name.split()
        cmd = self._find_command(parts[0], g, 1)
        defs, path = _descend(cmd, parts)
        resolved: dict[str, dict[str, Any]] = {}
        values = {**(options or {}), focused: value}
        built = self._build_options(defs, values, resolved, g, ch, focused=focused)
        data: dict[str, Any] = {
            "id": cmd["id"],
            "name": cmd["name"],
            "type": 1,
            "options": _wrap(built, path),
        }
        if cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        if resolved:
            data["resolved"] = resolved
        handle = self._dispatch_interaction(
            AUTOCOMPLETE,
            name,
            data,
            user=u,
            member=member,
            guild=g,
            channel=ch,
            locale=locale,
            ack_deadline=ack_deadline,
        )
        return await handle.autocomplete_choices(timeout)

    async def click(
        self,
        message: FakeMessage | int,
        custom_id: str,
        *,
        user: UserRef = None,
        values: Iterable[Any] | None = None,
        locale: str = "en-US",
        ack_deadline: float | None = None,
        token_ttl: float | None = None,
    ) -> InteractionHandle:
        """Click a button (or choose ``values`` in a select) on a message."""
        msg = message if isinstance(message, FakeMessage) else self._messages[int(message)]
        if msg.deleted:
            raise LookupError(f"message {msg.id} was deleted")
        comp = msg.component(custom_id)
        if comp is None:
            raise LookupError(f"no component {custom_id!r} on message {msg.id}: {msg.custom_ids}")
        if comp.get("disabled"):
            raise ValueError(f"component {custom_id!r} on message {msg.id} is disabled")
        if user is None and msg.interaction_metadata is not None:
            user = int(msg.interaction_metadata["user"]["id"])
        ch = self.channels[msg.channel_id]
        u, member, g, ch = self._context(user, None, ch, False)
        ctype = comp["type"]
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": ctype}
        if comp.get("id") is not None:
            data["id"] = comp["id"]
        if ctype != 2:
            chosen = list(values or [])
            low, high = comp.get("min_values", 1), comp.get("max_values", 1)
            if not low <= len(chosen) <= high:
                raise ValueError(f"select {custom_id!r} takes {low}..{high} values, got {chosen}")
            if ctype == 3:
                allowed = [o["value"] for o in comp.get("options", [])]
                bad = [v for v in chosen if v not in allowed]
                if bad:
                    raise ValueError(f"{bad} are not options of select {custom_id!r}: {allowed}")
                data["values"] = chosen
            else:
                resolved: dict[str, dict[str, Any]] = {}
                kind = {5: USER, 6: ROLE, 7: CHANNEL, 8: MENTIONABLE}[ctype]
                data["values"] = [self._resolve(kind, v, resolved, g, ch) for v in chosen]
                data["resolved"] = resolved
        elif values is not None:
            raise ValueError("values are only for select menus")
        return self._dispatch_interaction(
            MESSAGE_COMPONENT,
            custom_id,
            data,
            user=u,
            member=member,
            guild=g,
            channel=ch,
            message=msg,
            locale=locale,
            ack_deadline=ack_deadline,
            token_ttl=token_ttl,
        )

    async def submit_modal(
        self,
        modal: str | dict[str, Any] | InteractionHandle,
        values: Mapping[str, Any] | None = None,
        *,
        user: UserRef = None,
        message: FakeMessage | None = None,
        locale: str = "en-US",
        ack_deadline: float | None = None,
        token_ttl: float | None = None,
    ) -> InteractionHandle:
        """Submit a modal the bot opened: by custom_id (latest opened), its dict, or the handle
        that opened it. ``values`` maps input custom_ids to text (or lists for selects);
        unset inputs keep their pre-filled value. The submission mirrors the modal's layout."""
        opener: InteractionHandle | None = None
        if isinstance(modal, InteractionHandle):
            opener, spec = modal, modal.modal
            if spec is None:
                raise LookupError(f"{modal!r} did not open a modal")
        elif isinstance(modal, dict):
            spec = modal
        else:
            opener = next(
                (
                    h
                    for h in reversed(self._modals_opened)
                    if h.modal and h.modal.get("custom_id") == modal
                ),
                None,
            )
            if opener is None:
                opened = [h.modal.get("custom_id") for h in self._modals_opened if h.modal]
                raise LookupError(f"no modal {modal!r} was opened; opened: {opened}")
            spec = opener.modal
        assert spec is not None
        values = dict(values or {})
        components = _modal_submission(spec, values)
        if values:
            raise ValueError(f"modal {spec.get('custom_id')!r} has no inputs {sorted(values)}")
        if user is None and opener is not None:
            user = opener.user
        if message is None and opener is not None:
            message = opener.message
        channel = opener.channel if opener is not None else None
        guild = opener.guild if opener is not None else None
        u, member, g, ch = self._context(
            user, guild, channel, channel is not None and channel.is_dm
        )
        data = {"custom_id": spec["custom_id"], "components": components}
        return self._dispatch_interaction(
            MODAL_SUBMIT,
            spec["custom_id"],
            data,
            user=u,
            member=member,
            guild=g,
            channel=ch,
            message=message,
            locale=locale,
            ack_deadline=ack_deadline,
            token_ttl=token_ttl,
        )

    async def message_command(
        self,
        name: str,
        target: FakeMessage | int,
        *,
        user: UserRef = None,
        locale: str = "en-US",
        ack_deadline: float | None = None,
        token_ttl: float | None = None,
    ) -> InteractionHandle:
        """Run a message context-menu command on a message."""
        msg = target if isinstance(target, FakeMessage) else self._messages[int(target)]
        ch = self.channels[msg.channel_id]
        u, member, g, ch = self._context(user, None, ch, False)
        cmd = self._find_command(name, g, 3)
        data: dict[str, Any] = {
            "id": cmd["id"],
            "name": name,
            "type": 3,
            "target_id": str(msg.id),
            "resolved": {"messages": {str(msg.id): msg.to_payload()}},
        }
        if cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        return self._dispatch_interaction(
            APPLICATION_COMMAND,
            name,
            data,
            user=u,
            member=member,
            guild=g,
            channel=ch,
            locale=locale,
            ack_deadline=ack_deadline,
            token_ttl=token_ttl,
        )

    async def user_command(
        self,
        name: str,
        target: FakeMember | FakeUser | int,
        *,
        user: UserRef = None,
        guild: GuildRef = None,
        channel: ChannelRef = None,
        locale: str = "en-US",
        ack_deadline: float | None = None,
        token_ttl: float | None = None,
    ) -> InteractionHandle:
        """Run a user context-menu command on a user."""
        u, member, g, ch = self._context(user, guild, channel, False)
        cmd = self._find_command(name, g, 2)
        resolved: dict[str, dict[str, Any]] = {}
        target_id = self._resolve(USER, target, resolved, g, ch)
        data: dict[str, Any] = {
            "id": cmd["id"],
            "name": name,
            "type": 2,
            "target_id": target_id,
            "resolved": resolved,
        }
        if cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        return self._dispatch_interaction(
            APPLICATION_COMMAND,
            name,
            data,
            user=u,
            member=member,
            guild=g,
            channel=ch,
            locale=locale,
            ack_deadline=ack_deadline,
            token_ttl=token_ttl,
        )

    def _build_options(
        self,
        defs: list[dict[str, Any]],
        values: Mapping[str, Any],
        resolved: dict[str, dict[str, Any]],
        guild: FakeGuild | None,
        channel: FakeChannel,
        *,
        focused: str | None,
    ) -> list[dict[str, Any]]:
        by_name = {d["name"]: d for d in defs}
        out = []
        for key, value in values.items():
            d = by_name.get(key)
            if d is None:
                raise ValueError(f"unknown option {key!r}; the command has {sorted(by_name)}")
            otype = d["type"]
            opt: dict[str, Any] = {"name": key, "type": otype}
            if key == focused:
                opt["value"] = value
                opt["focused"] = True
            else:
                opt["value"] = self._option_value(d, value, resolved, guild, channel)
            out.append(opt)
        if focused is None:
            missing = [d["name"] for d in defs if d.get("required") and d["name"] not in values]
            if missing:
                raise ValueError(f"missing required options {missing}")
        return out

    def _option_value(
        self,
        d: dict[str, Any],
        value: Any,
        resolved: dict[str, dict[str, Any]],
        guild: FakeGuild | None,
        channel: FakeChannel,
    ) -> Any:
        otype, name = d["type"], d["name"]
        if otype == STRING:
            if not isinstance(value, str):
                raise TypeError(f"option {name!r} is a string, got {value!r}")
            low, high = d.get("min_length", 0), d.get("max_length", 6000)
            if not low <= len(value) <= high:
                raise ValueError(f"option {name!r} takes {low}..{high} characters")
        elif otype in (INTEGER, NUMBER):
            ok = isinstance(value, int) if otype == INTEGER else isinstance(value, int | float)
            if not ok or isinstance(value, bool):
                kind = "an integer" if otype == INTEGER else "a number"
                raise TypeError(f"option {name!r} is {kind}, got {value!r}")
            low, high = d.get("min_value"), d.get("max_value")
            if (low is not None and value < low) or (high is not None and value > high):
                raise ValueError(f"option {name!r} takes {low}..{high}, got {value}")
        elif otype == BOOLEAN:
            if not isinstance(value, bool):
                raise TypeError(f"option {name!r} is a boolean, got {value!r}")
        else:
            return self._resolve(otype, value, resolved, guild, channel)
        choices = d.get("choices")
        if choices and value not in [c["value"] for c in choices]:
            raise ValueError(
                f"{value!r} is not a choice of {name!r}: {[c['value'] for c in choices]}"
            )
        return value

    def _resolve(
        self,
        otype: int,
        value: Any,
        resolved: dict[str, dict[str, Any]],
        guild: FakeGuild | None,
        channel: FakeChannel,
    ) -> str:
        """Put an entity into ``resolved`` and return its id string."""
        if otype == ATTACHMENT:
            if isinstance(value, tuple):
                value = self.add_attachment(*value)
            elif isinstance(value, bytes):
                value = self.add_attachment("upload.png", value)
            if not isinstance(value, FakeAttachment):
                raise TypeError(
                    f"attachment options take FakeAttachment or (filename, bytes), got {value!r}"
                )
            resolved.setdefault("attachments", {})[str(value.id)] = value.to_payload()
            return str(value.id)
        if otype in (ROLE, MENTIONABLE) and isinstance(value, FakeRole):
            resolved.setdefault("roles", {})[str(value.id)] = value.to_payload()
            return str(value.id)
        if otype == CHANNEL:
            ch = self._channel(value)
            perms = 0 if guild is None else self._bot_permissions(guild)
            resolved.setdefault("channels", {})[str(ch.id)] = {
                **ch.to_payload(),
                "permissions": str(perms),
            }
            return str(ch.id)
        if otype in (USER, MENTIONABLE):
            if (
                isinstance(value, int)
                and guild is not None
                and value in guild.roles
                and otype == MENTIONABLE
            ):
                return self._resolve(ROLE, guild.roles[value], resolved, guild, channel)
            u = self._user_of(value)
            resolved.setdefault("users", {})[str(u.id)] = u.to_payload()
            member = guild.members.get(u.id) if guild is not None else None
            if member is not None:
                resolved.setdefault("members", {})[str(u.id)] = {
                    **member.to_payload(with_user=False),
                    "permissions": str(member.permissions),
                }
            return str(u.id)
        if otype == ROLE:
            if guild is None:
                raise ValueError("role options need a guild")
            role = guild.roles[int(value)]
            resolved.setdefault("roles", {})[str(role.id)] = role.to_payload()
            return str(role.id)
        raise TypeError(f"unsupported option type {otype}")

    # --- messages --------------------------------------------------------------------------

    def messages(
        self, channel: ChannelRef = None, *, include_ephemeral: bool = True
    ) -> list[FakeMessage]:
        """Messages in a channel, oldest first (deleted ones left out)."""
        ch = self._channel(channel)
        return [
            m
            for m in self._channel_messages.get(ch.id, ())
            if include_ephemeral or not m.is_ephemeral
        ]

    def message(self, message_id: int) -> FakeMessage:
        return self._messages[message_id]

    async def wait_for_message(
        self,
        predicate: Callable[[FakeMessage], bool] | None = None,
        *,
        channel: ChannelRef = None,
        include_existing: bool = True,
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> FakeMessage:
        """The first message (created or edited) matching; loading placeholders never match.

        With ``include_existing`` (default) messages already there count too.
        """
        channel_id = None if channel is None else self._channel(channel).id

        def matches(msg: FakeMessage) -> FakeMessage | None:
            if msg.deleted or msg.is_loading:
                return None
            if channel_id is not None and msg.channel_id != channel_id:
                return None
            return msg if predicate is None or predicate(msg) else None

        def now() -> FakeMessage | None:
            if not include_existing:
                return None
            for msg in self._messages.values():
                if matches(msg):
                    return msg
            return None

        return await self._message_signal.wait(matches, timeout, "a matching message", now=now)

    async def wait_for_deletion(
        self, message: FakeMessage | int, *, timeout: float | None = DEFAULT_TIMEOUT
    ) -> FakeMessage:
        """Resolves once the message is deleted (by the bot's token or a webhook)."""
        message_id = message if isinstance(message, int) else message.id

        def deleted(_: object = None) -> FakeMessage | None:
            msg = self._messages.get(message_id)
            return msg if msg is not None and msg.deleted else None

        return await self._message_signal.wait(
            deleted, timeout, f"message {message_id} to be deleted", now=deleted
        )

    def _store_attachment(
        self,
        channel_id: int,
        filename: str,
        data: bytes,
        content_type: str | None,
        description: str | None,
    ) -> FakeAttachment:
        aid = self._ids.next()
        if not content_type or content_type == "application/octet-stream":
            content_type = guess_content_type(filename) or content_type
        url = f"{self.base_url}/attachments/{channel_id}/{aid}/{quote(filename)}"
        att = FakeAttachment(aid, filename, data, url, content_type, description)
        self._attachments[aid] = att
        return att

    def _attachments_for(
        self,
        channel: FakeChannel,
        data: dict[str, Any],
        files: list[UploadedFile],
        existing: list[FakeAttachment],
    ) -> list[FakeAttachment]:
        by_index = {f.index if f.index is not None else i: f for i, f in enumerate(files)}
        meta = data.get("attachments")
        result: list[FakeAttachment] = []
        used: set[int] = set()
        if meta is None:
            result.extend(existing)
        else:
            kept = {str(a.id): a for a in existing}
            for entry in meta:
                aid = str(entry.get("id"))
                if aid in kept:
                    result.append(kept[aid])
                    continue
                try:
                    index = int(aid)
                except ValueError:
                    continue
                upload = by_index.get(index)
                if upload is None:
                    continue
                used.add(index)
                result.append(
                    self._store_attachment(
                        channel.id,
                        entry.get("filename") or upload.filename,
                        upload.data,
                        upload.content_type,
                        entry.get("description"),
                    )
                )
        for index, upload in by_index.items():
            if index not in used:
                result.append(
                    self._store_attachment(
                        channel.id, upload.filename, upload.data, upload.content_type, None
                    )
                )
        return result

    def _new_message(
        self,
        channel: FakeChannel,
        author: FakeUser,
        data: dict[str, Any],
        files: list[UploadedFile],
        *,
        flags: int,
        type: int = 0,
        handle: InteractionHandle | None = None,
        reference: dict[str, Any] | None = None,
        loading: bool = False,
    ) -> FakeMessage:
        msg = FakeMessage(
            id=self._ids.next(),
            channel_id=channel.id,
            guild_id=channel.guild_id,
            author=author,
            content=data.get("content") or "",
            embeds=list(data.get("embeds") or []),
            components=list(data.get("components") or []),
            flags=(flags & (FLAG_EPHEMERAL | FLAG_SUPPRESS_EMBEDS | FLAG_COMPONENTS_V2))
            | (FLAG_LOADING if loading else 0),
            allowed_mentions=data.get("allowed_mentions"),
            tts=bool(data.get("tts")),
            type=type,
            message_reference=reference,
        )
        msg.attachments = self._attachments_for(channel, data, files, [])
        if handle is not None:
            msg.webhook_id = self.application_id
            msg.application_id = self.application_id
            msg.interaction_id = handle.id
            msg.interaction_metadata = {
                "id": str(handle.id),
                "type": handle.type,
                "user": handle.user.to_payload(),
                "authorizing_integration_owners": handle.payload["authorizing_integration_owners"],
            }
        self._messages[msg.id] = msg
        self._channel_messages.setdefault(channel.id, []).append(msg)
        if author is self.bot_user and not loading:
            self._check_mentions(msg)
        self._emit_message_event("MESSAGE_CREATE", msg)
        self._message_signal.notify(msg)
        return msg

    def _interaction_message(
        self,
        handle: InteractionHandle,
        data: dict[str, Any],
        files: list[UploadedFile],
        *,
        flags: int,
        loading: bool = False,
        followup: bool = False,
    ) -> FakeMessage:
        if followup or handle.type != APPLICATION_COMMAND:
            mtype = 0
        else:
            mtype = 20 if handle.payload["data"].get("type", 1) == 1 else 23
        return self._new_message(
            handle.channel,
            self.bot_user,
            data,
            files,
            flags=flags,
            type=mtype,
            handle=handle,
            loading=loading,
        )

    def _edit_message(
        self,
        msg: FakeMessage,
        data: dict[str, Any],
        files: list[UploadedFile],
        *,
        filling: bool = False,
    ) -> FakeMessage:
        msg.history.append(msg.snapshot())
        if "content" in data:
            msg.content = data["content"] or ""
        if "embeds" in data:
            msg.embeds = list(data["embeds"] or [])
        if "components" in data:
            msg.components = list(data["components"] or [])
        if "allowed_mentions" in data:
            msg.allowed_mentions = data["allowed_mentions"]
        if data.get("flags") is not None:
            # Ephemeral and loading are fixed by the response; only these may change.
            mutable = FLAG_SUPPRESS_EMBEDS | FLAG_COMPONENTS_V2
            msg.flags = (msg.flags & ~mutable) | (int(data["flags"]) & mutable)
        if "attachments" in data or files:
            msg.attachments = self._attachments_for(
                self.channels[msg.channel_id], data, files, msg.attachments
            )
        if filling and msg.is_loading:
            msg.flags &= ~FLAG_LOADING
            # Filling the placeholder is when the message is really posted.
            self._check_mentions(msg)
        else:
            msg.edited_at = time.time()
        self._emit_message_event("MESSAGE_UPDATE", msg)
        self._message_signal.notify(msg)
        return msg

    def _delete_message(self, msg: FakeMessage) -> None:
        msg.deleted = True
        self._message_signal.notify(msg)
        lst = self._channel_messages.get(msg.channel_id)
        if lst is not None:
            with contextlib.suppress(ValueError):
                lst.remove(msg)
        if self.message_events and not msg.is_ephemeral:
            payload: dict[str, Any] = {"id": str(msg.id), "channel_id": str(msg.channel_id)}
            if msg.guild_id is not None:
                payload["guild_id"] = str(msg.guild_id)
            self._emit(msg, "MESSAGE_DELETE", payload)

    def _emit_message_event(self, event: str, msg: FakeMessage) -> None:
        if not self.message_events or msg.is_ephemeral:
            return
        payload = msg.to_payload()
        if msg.guild_id is not None:
            member = self.guilds[msg.guild_id].members.get(msg.author.id)
            if member is not None and msg.webhook_id is None:
                payload["member"] = member.to_payload(with_user=False)
        self._emit(msg, event, payload)

    def _emit(self, msg: FakeMessage, event: str, payload: dict[str, Any]) -> None:
        intent = INTENT_DIRECT_MESSAGES if msg.guild_id is None else INTENT_GUILD_MESSAGES
        self.gateway.dispatch_guild(msg.guild_id, event, payload, intent=intent)

    def _check_mentions(self, msg: FakeMessage) -> None:
        am = msg.allowed_mentions
        if (
            am is None
            or am.get("parse")
            or am.get("users")
            or am.get("roles")
            or am.get("replied_user")
        ):
            self.mention_leaks.append(msg)

    # --- records ---------------------------------------------------------------------------

    def _record_violation(self, kind: str, message: str, **details: Any) -> None:
        self.violations.append(Violation(kind, message, **details))
        self._violation_signal.notify()

    async def wait_for_violation(
        self, kind: str | None = None, *, timeout: float | None = DEFAULT_TIMEOUT
    ) -> Violation:
        def probe() -> Violation | None:
            return next((v for v in self.violations if kind is None or v.kind == kind), None)

        return await self._violation_signal.wait(
            probe,
            timeout,
            lambda: f"violation {kind!r}; have {[str(v) for v in self.violations]}",
            now=probe,
        )

    def calls(self, method: str | None = None, path: str | None = None) -> list[RestCall]:
        """Logged REST calls, filtered by method and a regex searched in the path."""
        import re

        pattern = re.compile(path) if path else None
        return [
            c
            for c in self.requests
            if (method is None or c.method == method)
            and (pattern is None or pattern.search(c.path))
        ]

    def forget_history(self) -> None:
        """Drop recorded requests, finished interactions and stored messages (with their
        attachments), keeping the world and the synced commands: long load runs (benchmarks)
        would otherwise hold every uploaded file. Call it while no interaction is in flight."""
        for handle in self.handles:
            handle._cancel_timers()
        self.requests.clear()
        self.handles.clear()
        self._handles.clear()
        self._handles_by_token.clear()
        self._modals_opened.clear()
        self._messages.clear()
        self._channel_messages.clear()
        self._attachments.clear()

    def inject_failure(
        self,
        method: str,
        path: str,
        *,
        status: int = 429,
        retry_after: float = 0.05,
        times: int = 1,
        is_global: bool = False,
        via: bool = True,
        code: int = 0,
    ) -> None:
        """Answer the next ``times`` matching requests (``path`` is a regex searched in the path
        relative to /api/v10; ``method`` may be "*") with ``status``. A 429 carries
        ``retry_after`` and, with ``via``, the ``Via`` header discord.py needs to retry."""
        import re

        self.rest.inject(
            Injection(
                method.upper(), re.compile(path), status, retry_after, times, is_global, via, code
            )
        )

    def assert_clean(self) -> None:
        """Fail if the bot broke a platform rule, allowed a mention, or hit an unknown route."""
        problems = [str(v) for v in self.violations]
        problems += [
            f"mention leak: message {m.id} allowed_mentions={m.allowed_mentions!r}"
            for m in self.mention_leaks
        ]
        problems += [f"unhandled route: {c.method} {c.path}" for c in self.unhandled]
        if problems:
            raise AssertionError("Discord rule problems:\n  " + "\n  ".join(problems))


def bot_died_error(task: asyncio.Task[Any], name: str = "bot") -> BotDied:
    if task.cancelled():
        return BotDied(f"the {name} task was cancelled")
    exc = task.exception()
    if exc is None:
        return BotDied(f"the {name} task ended quietly (discord.py ends start() on a parse error)")
    err = BotDied(f"the {name} task died: {exc!r}")
    err.__cause__ = exc
    return err


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _descend(
    cmd: dict[str, Any], parts: list[str]
) -> tuple[list[dict[str, Any]], list[tuple[str, int]]]:
    """Follow "group sub" names through a command's options; return the leaf options."""
    defs: list[dict[str, Any]] = cmd.get("options") or []
    path: list[tuple[str, int]] = []
    for part in parts[1:]:
        sub = next((d for d in defs if d["name"] == part and d["type"] in (1, 2)), None)
        if sub is None:
            subs = [d["name"] for d in defs if d["type"] in (1, 2)]
            raise LookupError(f"{cmd['name']!r} has no subcommand {part!r} here; it has {subs}")
        path.append((part, sub["type"]))
        defs = sub.get("options") or []
    if any(d["type"] in (1, 2) for d in defs):
        subs = [d["name"] for d in defs if d["type"] in (1, 2)]
        raise LookupError(f"{' '.join(parts)!r} needs a subcommand: {subs}")
    return defs, path


def _wrap(options: list[dict[str, Any]], path: list[tuple[str, int]]) -> list[dict[str, Any]]:
    for name, otype in reversed(path):
        options = [{"name": name, "type": otype, "options": options}]
    return options


def _modal_submission(spec: dict[str, Any], values: dict[str, Any]) -> list[dict[str, Any]]:
    """The submitted components for a modal, mirroring its rows/labels. Pops used values."""

    def submit(item: dict[str, Any]) -> dict[str, Any] | None:
        cid = item.get("custom_id")
        if cid is None:
            return None
        if item.get("type") == 4:
            value = values.pop(cid, item.get("value") or "")
            if not isinstance(value, str):
                raise TypeError(f"text input {cid!r} takes a string, got {value!r}")
            if item.get("required", True) and not value:
                raise ValueError(f"text input {cid!r} is required")
            low, high = item.get("min_length"), item.get("max_length")
            if value and ((low and len(value) < low) or (high and len(value) > high)):
                raise ValueError(f"text input {cid!r} takes {low}..{high} characters")
            return {"type": 4, "custom_id": cid, "value": value, **_id_of(item)}
        chosen = values.pop(cid, [])
        chosen = list(chosen) if isinstance(chosen, list | tuple) else [chosen]
        return {"type": item["type"], "custom_id": cid, "values": chosen, **_id_of(item)}

    out: list[dict[str, Any]] = []
    for comp in spec.get("components") or ():
        ctype = comp.get("type")
        if ctype == 1:
            inner = [s for s in (submit(c) for c in comp.get("components") or ()) if s]
            out.append({"type": 1, "components": inner, **_id_of(comp)})
        elif ctype == 18:
            inner_item = submit(comp.get("component") or {})
            if inner_item is not None:
                out.append({"type": 18, "component": inner_item, **_id_of(comp)})
        elif ctype == 10:
            out.append({"type": 10, **_id_of(comp)})
    return out


def _id_of(comp: dict[str, Any]) -> dict[str, Any]:
    return {"id": comp["id"]} if comp.get("id") is not None else {}
