"""The fake's world (users, guilds, roles, channels, members, messages) and its records."""

from __future__ import annotations

import mimetypes
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ._util import iso

# Permission bits (Discord API docs).
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
MENTION_EVERYONE = 1 << 17
USE_EXTERNAL_EMOJIS = 1 << 18
USE_APPLICATION_COMMANDS = 1 << 31
ADMINISTRATOR = 1 << 3
ALL_PERMISSIONS = (1 << 51) - 1

DEFAULT_PERMISSIONS = (
    ADD_REACTIONS
    | VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | USE_EXTERNAL_EMOJIS
    | USE_APPLICATION_COMMANDS
)

# Message flags.
FLAG_SUPPRESS_EMBEDS = 1 << 2
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_COMPONENTS_V2 = 1 << 15

# Channel types.
GUILD_TEXT = 0
DM = 1
GUILD_VOICE = 2
GUILD_CATEGORY = 4
GUILD_NEWS = 5


def _perm_value(value: Any) -> int:
    """Accept an int or anything with ``.value`` (e.g. discord.Permissions)."""
    return int(getattr(value, "value", value))


@dataclass(eq=False)
class FakeUser:
    id: int
    name: str
    global_name: str | None = None
    bot: bool = False

    def to_payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "username": self.name,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": None,
            "bot": self.bot,
            "public_flags": 0,
        }

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"


@dataclass(eq=False)
class FakeRole:
    id: int
    guild_id: int
    name: str
    permissions: int = 0
    position: int = 0
    managed: bool = False

    def to_payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "permissions": str(self.permissions),
            "position": self.position,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "managed": self.managed,
            "mentionable": False,
            "flags": 0,
        }


@dataclass(eq=False)
class FakeChannel:
    id: int
    name: str
    guild_id: int | None
    type: int = GUILD_TEXT
    nsfw: bool = False
    position: int = 0
    parent_id: int | None = None
    topic: str | None = None
    recipients: list[FakeUser] = field(default_factory=list)

    @property
    def is_dm(self) -> bool:
        return self.type == DM

    def to_payload(self) -> dict[str, Any]:
        if self.type == DM:
            return {
                "id": str(self.id),
                "type": DM,
                "recipients": [u.to_payload() for u in self.recipients],
                "last_message_id": None,
                "flags": 0,
            }
        payload: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "guild_id": str(self.guild_id),
            "name": self.name,
            "position": self.position,
            "parent_id": None if self.parent_id is None else str(self.parent_id),
            "nsfw": self.nsfw,
            "permission_overwrites": [],
            "flags": 0,
        }
        if self.type in (GUILD_TEXT, GUILD_NEWS):
            payload.update(topic=self.topic, rate_limit_per_user=0, last_message_id=None)
        elif self.type == GUILD_VOICE:
            payload.update(bitrate=64000, user_limit=0, rtc_region=None)
        return payload

    @property
    def mention(self) -> str:
        return f"<#{self.id}>"


@dataclass(eq=False)
class FakeMember:
    user: FakeUser
    guild: FakeGuild
    roles: list[int] = field(default_factory=list)
    nick: str | None = None
    joined_at: float = field(default_factory=time.time)
    permissions_override: int | None = None

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def name(self) -> str:
        return self.user.name

    @property
    def permissions(self) -> int:
        """Guild-level permissions: the override, or @everyone plus the member's roles."""
        if self.permissions_override is not None:
            return self.permissions_override
        value = self.guild.everyone.permissions
        for role_id in self.roles:
            role = self.guild.roles.get(role_id)
            if role is not None:
                value |= role.permissions
        if value & ADMINISTRATOR or self.guild.owner_id == self.user.id:
            return ALL_PERMISSIONS
        return value

    def to_payload(self, *, with_user: bool = True) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "roles": [str(r) for r in self.roles],
            "nick": self.nick,
            "avatar": None,
            "banner": None,
            "joined_at": iso(self.joined_at),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }
        if with_user:
            payload["user"] = self.user.to_payload()
        return payload

    @property
    def mention(self) -> str:
        return f"<@{self.user.id}>"


@dataclass(eq=False)
class FakeGuild:
    id: int
    name: str
    owner_id: int
    locale: str = "en-US"
    roles: dict[int, FakeRole] = field(default_factory=dict)
    channels: dict[int, FakeChannel] = field(default_factory=dict)
    members: dict[int, FakeMember] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)

    @property
    def everyone(self) -> FakeRole:
        return self.roles[self.id]

    @property
    def text_channels(self) -> list[FakeChannel]:
        return [c for c in self.channels.values() if c.type in (GUILD_TEXT, GUILD_NEWS)]

    def partial_payload(self) -> dict[str, Any]:
        return {"id": str(self.id), "locale": self.locale, "features": []}

    def to_payload(self, *, full: bool = True) -> dict[str, Any]:
        text = self.text_channels
        payload: dict[str, Any] = {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 1,
            "explicit_content_filter": 0,
            "roles": [r.to_payload() for r in self.roles.values()],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": str(text[0].id) if text else None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "max_members": 500000,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": self.locale,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
        }
        if full:
            payload.update(
                joined_at=iso(self.created_at),
                large=False,
                unavailable=False,
                # member_count == len(members) marks the guild as chunked, so
                # discord.py does not request members at start.
                member_count=len(self.members),
                voice_states=[],
                members=[m.to_payload() for m in self.members.values()],
                channels=[c.to_payload() for c in self.channels.values()],
                threads=[],
                presences=[],
                stage_instances=[],
                guild_scheduled_events=[],
                soundboard_sounds=[],
            )
        return payload


@dataclass(eq=False)
class FakeAttachment:
    """A stored file; ``url`` serves the bytes from the fake."""

    id: int
    filename: str
    data: bytes
    url: str
    content_type: str | None = None
    description: str | None = None

    @property
    def size(self) -> int:
        return len(self.data)

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": str(self.id),
            "filename": self.filename,
            "size": self.size,
            "url": self.url,
            "proxy_url": self.url,
        }
        if self.content_type:
            payload["content_type"] = self.content_type
        if self.description is not None:
            payload["description"] = self.description
        dims = _png_size(self.data)
        if dims is not None:
            payload["width"], payload["height"] = dims
        return payload


def guess_content_type(filename: str) -> str | None:
    return mimetypes.guess_type(filename)[0]


def _png_size(data: bytes) -> tuple[int, int] | None:
    if len(data) >= 24 and data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        return struct.unpack(">II", data[16:24])
    return None


def iter_components(components: list[dict[str, Any]] | None) -> Iterator[dict[str, Any]]:
    """Every component, depth first (rows, containers, sections, labels, accessories)."""
    for comp in components or ():
        yield comp
        yield from iter_components(comp.get("components"))
        for key in ("accessory", "component"):
            inner = comp.get(key)
            if isinstance(inner, dict):
                yield from iter_components([inner])


@dataclass(eq=False)
class FakeMessage:
    """A message as the fake stores it. Edits change it in place; ``history`` keeps old states."""

    id: int
    channel_id: int
    guild_id: int | None
    author: FakeUser
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[FakeAttachment] = field(default_factory=list)
    flags: int = 0
    allowed_mentions: dict[str, Any] | None = None
    tts: bool = False
    type: int = 0
    webhook_id: int | None = None
    application_id: int | None = None
    interaction_id: int | None = None
    interaction_metadata: dict[str, Any] | None = None
    message_reference: dict[str, Any] | None = None
    created_at: float = field(default_factory=time.time)
    edited_at: float | None = None
    deleted: bool = False
    reactions: dict[str, int] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_ephemeral(self) -> bool:
        return bool(self.flags & FLAG_EPHEMERAL)

    @property
    def is_loading(self) -> bool:
        return bool(self.flags & FLAG_LOADING)

    @property
    def has_body(self) -> bool:
        return bool(self.content or self.embeds or self.attachments or self.components)

    @property
    def embed(self) -> dict[str, Any] | None:
        return self.embeds[0] if self.embeds else None

    def iter_components(self) -> Iterator[dict[str, Any]]:
        return iter_components(self.components)

    @property
    def custom_ids(self) -> list[str]:
        return [c["custom_id"] for c in self.iter_components() if c.get("custom_id")]

    def component(self, custom_id: str) -> dict[str, Any] | None:
        for comp in self.iter_components():
            if comp.get("custom_id") == custom_id:
                return comp
        return None

    def button(self, label: str) -> dict[str, Any]:
        """The first button with this label (handy for clicking by label)."""
        for comp in self.iter_components():
            if comp.get("type") == 2 and comp.get("label") == label:
                return comp
        raise LookupError(f"no button labelled {label!r} on message {self.id}: {self.custom_ids}")

    def snapshot(self) -> dict[str, Any]:
        return {
            "content": self.content,
            "embeds": self.embeds,
            "components": self.components,
            "attachments": [a.filename for a in self.attachments],
            "flags": self.flags,
            "at": self.edited_at or self.created_at,
        }

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "channel_id": str(self.channel_id),
            "author": self.author.to_payload(),
            "content": self.content,
            "timestamp": iso(self.created_at),
            "edited_timestamp": None if self.edited_at is None else iso(self.edited_at),
            "tts": self.tts,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [a.to_payload() for a in self.attachments],
            "embeds": self.embeds,
            "components": self.components,
            "pinned": False,
            "flags": self.flags,
        }
        if self.guild_id is not None:
            payload["guild_id"] = str(self.guild_id)
        if self.webhook_id is not None:
            payload["webhook_id"] = str(self.webhook_id)
        if self.application_id is not None:
            payload["application_id"] = str(self.application_id)
        if self.interaction_metadata is not None:
            payload["interaction_metadata"] = self.interaction_metadata
        if self.message_reference is not None:
            payload["message_reference"] = self.message_reference
        if self.reactions:
            payload["reactions"] = [
                {
                    "count": n,
                    "count_details": {"burst": 0, "normal": n},
                    "me": True,
                    "me_burst": False,
                    "burst_colors": [],
                    "emoji": {"id": None, "name": emoji},
                }
                for emoji, n in self.reactions.items()
            ]
        return payload


@dataclass(eq=False)
class UploadedFile:
    """A ``files[n]`` part of a multipart request."""

    field: str
    filename: str
    data: bytes
    content_type: str | None = None

    @property
    def index(self) -> int | None:
        name = self.field
        if name.startswith("files[") and name.endswith("]"):
            try:
                return int(name[6:-1])
            except ValueError:
                return None
        if name.startswith("file"):
            digits = name[4:]
            return int(digits) if digits.isdigit() else 0
        return None


@dataclass(eq=False)
class RestCall:
    """One REST request as the fake received it. ``path`` is relative to ``/api/v10``.

    ``at``: when its headers arrived; ``received_at``: when its whole body had arrived (both
    ``time.perf_counter()``), so ``received_at - at`` is about the time the upload took.
    """

    method: str
    path: str
    query: dict[str, str]
    json: Any
    files: list[UploadedFile]
    at: float
    status: int = 0
    code: int | None = None
    received_at: float | None = None


@dataclass(eq=False)
class Violation:
    """A platform rule the bot broke (or a request the fake refused)."""

    kind: str
    message: str
    status: int | None = None
    code: int | None = None
    method: str | None = None
    path: str | None = None
    interaction_id: int | None = None
    errors: dict[str, Any] | None = None
    at: float = field(default_factory=time.perf_counter)

    def __str__(self) -> str:
        where = f" {self.method} {self.path}" if self.method else ""
        code = f" [{self.status}/{self.code}]" if self.status else ""
        return f"{self.kind}{code}{where}: {self.message}"


@dataclass(eq=False)
class SyncRecord:
    guild_id: int | None
    commands: list[dict[str, Any]]
    at: float
