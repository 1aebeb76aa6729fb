"""The REST API under /api/v10, plus attachment downloads.

A middleware parses every body once (JSON, or multipart ``payload_json`` + ``files[n]``),
logs the call, applies injected failures, checks the bot token, and turns ``DiscordError``
into Discord-shaped error answers. Every answer is ``Content-Type: application/json``
exactly: discord.py only parses JSON when there is no charset.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from aiohttp import web

from ._util import DiscordError, dumps
from .handle import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    AUTOCOMPLETE_RESULT,
    CHANNEL_MESSAGE,
    DEFERRED_CHANNEL_MESSAGE,
    DEFERRED_UPDATE_MESSAGE,
    MESSAGE_COMPONENT,
    MODAL,
    MODAL_SUBMIT,
    UPDATE_MESSAGE,
    Callback,
    Edit,
    InteractionHandle,
    RestError,
)
from .limits import (
    FormErrors,
    check_choices,
    check_commands,
    check_message,
    check_modal,
    is_empty_message,
)
from .models import FLAG_EPHEMERAL, FakeMessage, RestCall, UploadedFile

if TYPE_CHECKING:
    from .fake import FakeDiscord

API_PREFIX = "/api/v10"
JSON_HEADERS = {"Content-Type": "application/json"}

Handler = Callable[[web.Request], Awaitable[Any]]
CALL = web.RequestKey("call", RestCall)

# Which callback types each interaction type accepts.
_ALLOWED_CALLBACKS = {
    APPLICATION_COMMAND: {CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, MODAL},
    MESSAGE_COMPONENT: {
        CHANNEL_MESSAGE,
        DEFERRED_CHANNEL_MESSAGE,
        DEFERRED_UPDATE_MESSAGE,
        UPDATE_MESSAGE,
        MODAL,
    },
    AUTOCOMPLETE: {AUTOCOMPLETE_RESULT},
    MODAL_SUBMIT: {
        CHANNEL_MESSAGE,
        DEFERRED_CHANNEL_MESSAGE,
        DEFERRED_UPDATE_MESSAGE,
        UPDATE_MESSAGE,
    },
}


@dataclass
class Injection:
    method: str
    pattern: re.Pattern[str]
    status: int
    retry_after: float
    remaining: int
    is_global: bool
    via: bool
    code: int

    def matches(self, method: str, path: str) -> bool:
        return (
            self.remaining > 0 and self.method in ("*", method) and bool(self.pattern.search(path))
        )


class NoContent:
    """Marker for a 204 answer."""


NO_CONTENT = NoContent()


def _form_error(errors: FormErrors, *, interaction: Any = None) -> DiscordError:
    return DiscordError(
        400,
        50035,
        "Invalid Form Body",
        errors=errors.tree,
        violation="invalid_form_body",
        interaction=interaction,
    )


class RestApi:
    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.injections: list[Injection] = []
        self._reset_header = "1.000"

    # --- wiring ----------------------------------------------------------------------------

    def install(self, app: web.Application) -> None:
        app.middlewares.append(self.middleware)
        p = API_PREFIX
        app_cmds = p + "/applications/{app}/commands"
        guild_cmds = p + "/applications/{app}/guilds/{guild}/commands"
        webhook = p + "/webhooks/{app}/{token}"
        r = app.router
        r.add_get(p + "/users/@me", self.get_me)
        r.add_get(p + "/users/{user}", self.get_user)
        r.add_post(p + "/users/@me/channels", self.create_dm)
        r.add_get(p + "/oauth2/applications/@me", self.get_application)
        r.add_get(p + "/applications/@me", self.get_application)
        r.add_get(p + "/gateway", self.get_gateway)
        r.add_get(p + "/gateway/bot", self.get_gateway_bot)
        for base in (app_cmds, guild_cmds):
            r.add_get(base, self.get_commands)
            r.add_put(base, self.put_commands)
            r.add_post(base, self.post_command)
            r.add_get(base + "/{command}", self.get_command)
            r.add_patch(base + "/{command}", self.patch_command)
            r.add_delete(base + "/{command}", self.delete_command)
        r.add_post(p + "/interactions/{id}/{token}/callback", self.interaction_callback)
        r.add_post(webhook, self.webhook_execute)
        r.add_get(webhook + "/messages/{message}", self.webhook_get_message)
        r.add_patch(webhook + "/messages/{message}", self.webhook_edit_message)
        r.add_delete(webhook + "/messages/{message}", self.webhook_delete_message)
        ch = p + "/channels/{channel}"
        r.add_get(ch, self.get_channel)
        r.add_get(ch + "/messages", self.get_messages)
        r.add_post(ch + "/messages", self.create_message)
        r.add_post(ch + "/messages/bulk-delete", self.bulk_delete)
        r.add_get(ch + "/messages/{message}", self.get_message)
        r.add_patch(ch + "/messages/{message}", self.edit_message)
        r.add_delete(ch + "/messages/{message}", self.delete_message)
        r.add_post(ch + "/typing", self.no_content)
        reaction = ch + "/messages/{message}/reactions/{emoji}/@me"
        r.add_put(reaction, self.add_reaction)
        r.add_delete(reaction, self.remove_reaction)
        g = p + "/guilds/{guild}"
        r.add_get(g, self.get_guild)
        r.add_get(g + "/channels", self.get_guild_channels)
        r.add_get(g + "/roles", self.get_guild_roles)
        r.add_get(g + "/members/{user}", self.get_member)
        r.add_get("/attachments/{channel}/{attachment}/{filename}", self.get_attachment)

    def inject(self, injection: Injection) -> None:
        self.injections.append(injection)

    def _take_injection(self, method: str, path: str) -> Injection | None:
        for inj in self.injections:
            if inj.matches(method, path):
                inj.remaining -= 1
                return inj
        return None

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if not path.startswith(API_PREFIX):
            return await handler(request)
        fake = self.fake
        method = request.method
        rel = path[len(API_PREFIX) :]
        started = time.perf_counter()
        try:
            payload, files = await _parse_body(request)
        except ValueError as exc:
            payload, files = None, []
            body_error: DiscordError | None = DiscordError(
                400, 50109, f"The request body contains invalid JSON ({exc})"
            )
        else:
            body_error = None
        call = RestCall(
            method,
            rel,
            dict(request.query),
            payload,
            files,
            started,
            received_at=time.perf_counter(),
        )
        fake.requests.append(call)
        request[CALL] = call
        if files:
            await fake.uploads.through()

        injected = self._take_injection(method, rel)
        if injected is not None:
            return self._injected_response(call, injected)

        try:
            if body_error is not None:
                raise body_error
            self._check_auth(request, rel)
            result = await handler(request)
        except DiscordError as err:
            return self._error_response(call, err)
        except web.HTTPNotFound:
            fake.unhandled.append(call)
            return self._error_response(call, DiscordError(404, 0, "404: Not Found"))
        except web.HTTPMethodNotAllowed:
            fake.unhandled.append(call)
            return self._error_response(call, DiscordError(405, 0, "405: Method Not Allowed"))
        if result is NO_CONTENT or result is None:
            call.status = 204
            return web.Response(status=204, headers=self._ratelimit_headers())
        call.status = 200
        return web.Response(
            status=200, body=dumps(result).encode(), headers=self._ratelimit_headers(JSON_HEADERS)
        )

    def _ratelimit_headers(self, base: dict[str, str] | None = None) -> dict[str, str]:
        headers = dict(base or {})
        if self.fake.rate_limit_headers:
            # A huge bucket: discord.py then sends concurrently instead of one request at a
            # time per route (which it does while a bucket is unknown).
            headers.update(
                {
                    "X-RateLimit-Limit": "100000",
                    "X-RateLimit-Remaining": "99999",
                    "X-RateLimit-Reset-After": self._reset_header,
                    "X-RateLimit-Reset": f"{time.time() + 1.0:.3f}",
                }
            )
        return headers

    def _check_auth(self, request: web.Request, rel: str) -> None:
        # Interaction callbacks and webhook-token routes are authorised by their token.
        if rel.startswith(("/interactions/", "/webhooks/")):
            return
        if request.headers.get("Authorization") != f"Bot {self.fake.token}":
            raise DiscordError(401, 0, "401: Unauthorized")

    def _error_response(self, call: RestCall, err: DiscordError) -> web.Response:
        call.status, call.code = err.status, err.code
        fake = self.fake
        handle = err.interaction
        if handle is not None:
            handle.errors.append(
                RestError(err.status, err.code, err.message, call.method, call.path, err.errors)
            )
            handle._changed()
        if err.violation is not None:
            detail = err.message
            if err.errors:
                detail += ": " + "; ".join(_flatten_errors(err.errors))
            fake._record_violation(
                err.violation,
                detail,
                status=err.status,
                code=err.code,
                method=call.method,
                path=call.path,
                interaction_id=None if handle is None else handle.id,
                errors=err.errors,
            )
        return web.Response(
            status=err.status, body=dumps(err.body()).encode(), headers=JSON_HEADERS
        )

    def _injected_response(self, call: RestCall, inj: Injection) -> web.Response:
        call.status, call.code = inj.status, inj.code
        headers = dict(JSON_HEADERS)
        if inj.status == 429:
            body: dict[str, Any] = {
                "message": "You are being rate limited.",
                "retry_after": inj.retry_after,
                "global": inj.is_global,
            }
            if inj.code:
                body["code"] = inj.code
            headers["Retry-After"] = str(max(1, round(inj.retry_after)))
            headers["X-RateLimit-Scope"] = "global" if inj.is_global else "user"
            if inj.is_global:
                headers["X-RateLimit-Global"] = "true"
        else:
            body = {"message": f"{inj.status}: injected failure", "code": inj.code}
        if inj.via:
            headers["Via"] = "1.1 google"
        return web.Response(status=inj.status, body=dumps(body).encode(), headers=headers)

    # --- users, application, gateway ---------------------------------------------------------

    async def no_content(self, request: web.Request) -> Any:
        return NO_CONTENT

    async def get_me(self, request: web.Request) -> Any:
        return self.fake._bot_user_payload()

    async def get_user(self, request: web.Request) -> Any:
        user = self.fake.users.get(_int(request.match_info["user"]))
        if user is None:
            raise DiscordError(404, 10013, "Unknown User")
        return user.to_payload()

    async def create_dm(self, request: web.Request) -> Any:
        body = request[CALL].json or {}
        user = self.fake.users.get(_int(body.get("recipient_id")))
        if user is None:
            raise DiscordError(400, 50035, "Invalid Form Body")
        return self.fake.dm_channel(user).to_payload()

    async def get_application(self, request: web.Request) -> Any:
        return self.fake._application_payload()

    async def get_gateway(self, request: web.Request) -> Any:
        return {"url": self.fake.gateway_url}

    async def get_gateway_bot(self, request: web.Request) -> Any:
        return {
            "url": self.fake.gateway_url,
            "shards": self.fake.recommended_shards,
            "session_start_limit": {
                "total": 1000,
                "remaining": 1000,
                "reset_after": 0,
                "max_concurrency": 1,
            },
        }

    # --- application commands --------------------------------------------------------------

    def _command_scope(self, request: web.Request) -> int | None:
        if _int(request.match_info["app"]) != self.fake.application_id:
            raise DiscordError(403, 50001, "Missing Access")
        guild = request.match_info.get("guild")
        if guild is None:
            return None
        guild_id = _int(guild)
        if guild_id not in self.fake.guilds:
            raise DiscordError(403, 50001, "Missing Access")
        return guild_id

    async def get_commands(self, request: web.Request) -> Any:
        return self.fake.commands(self._command_scope(request))

    async def put_commands(self, request: web.Request) -> Any:
        scope = self._command_scope(request)
        body = request[CALL].json
        errors = FormErrors()
        check_commands(errors, body)
        if errors:
            raise _form_error(errors)
        return self.fake._store_commands(scope, body)

    async def post_command(self, request: web.Request) -> Any:
        scope = self._command_scope(request)
        body = request[CALL].json or {}
        errors = FormErrors()
        check_commands(errors, [body])
        if errors:
            raise _form_error(errors)
        existing = [
            c
            for c in self.fake.commands(scope)
            if (c["name"], c["type"]) != (body.get("name"), body.get("type", 1))
        ]
        stored = self.fake._store_commands(scope, [*existing, body], record_sync=False)
        return next(c for c in stored if c["name"] == body.get("name"))

    def _find_command(self, request: web.Request) -> tuple[int | None, dict[str, Any]]:
        scope = self._command_scope(request)
        cid = request.match_info["command"]
        for cmd in self.fake.commands(scope):
            if cmd["id"] == cid:
                return scope, cmd
        raise DiscordError(404, 10063, "Unknown application command")

    async def get_command(self, request: web.Request) -> Any:
        return self._find_command(request)[1]

    async def patch_command(self, request: web.Request) -> Any:
        scope, cmd = self._find_command(request)
        merged = {**cmd, **(request[CALL].json or {})}
        others = [c for c in self.fake.commands(scope) if c["id"] != cmd["id"]]
        stored = self.fake._store_commands(scope, [*others, merged], record_sync=False)
        return next(c for c in stored if c["id"] == cmd["id"])

    async def delete_command(self, request: web.Request) -> Any:
        scope, cmd = self._find_command(request)
        others = [c for c in self.fake.commands(scope) if c["id"] != cmd["id"]]
        self.fake._store_commands(scope, others, record_sync=False)
        return NO_CONTENT

    # --- interaction callbacks -------------------------------------------------------------

    async def interaction_callback(self, request: web.Request) -> Any:
        fake = self.fake
        call: RestCall = request[CALL]
        now = call.at
        handle = fake._handles.get(_int(request.match_info["id"]))
        if handle is None or handle.token != request.match_info["token"]:
            raise DiscordError(404, 10062, "Unknown interaction", violation="unknown_interaction")
        # Everything below runs without awaiting: two concurrent callbacks cannot both win.
        if handle.acked_at is not None:
            raise DiscordError(
                400,
                40060,
                "Interaction has already been acknowledged.",
                violation="already_acknowledged",
                interaction=handle,
            )
        if handle.deadline_missed(now):
            raise DiscordError(
                404,
                10062,
                "Unknown interaction",
                violation="late_callback",
                interaction=handle,
            )
        body = call.json if isinstance(call.json, dict) else {}
        ctype = body.get("type")
        data = body.get("data") or {}
        files = call.files
        errors = FormErrors()
        if ctype not in _ALLOWED_CALLBACKS.get(handle.type, ()):
            errors.add(
                ("type",),
                "INTERACTION_RESPONSE_TYPE_INVALID",
                f"Callback type {ctype} is not valid for interaction type {handle.type}",
            )
        elif ctype in (DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE) and handle.message is None:
            errors.add(("type",), "INTERACTION_NO_MESSAGE", "This interaction has no message")
        elif ctype in (CHANNEL_MESSAGE, UPDATE_MESSAGE):
            check_message(
                errors,
                ("data",),
                data,
                files,
                size_limit=fake.attachment_size_limit,
                create=ctype == CHANNEL_MESSAGE,
            )
            if ctype == CHANNEL_MESSAGE and is_empty_message(data, files):
                raise DiscordError(
                    400,
                    50006,
                    "Cannot send an empty message",
                    violation="empty_message",
                    interaction=handle,
                )
        elif ctype == MODAL:
            check_modal(errors, ("data",), data)
        elif ctype == AUTOCOMPLETE_RESULT:
            check_choices(errors, ("data",), data)
        if errors:
            raise _form_error(errors, interaction=handle)

        handle.acked_at = now
        handle._cancel_timers_for_ack()
        handle.callbacks.append(Callback(ctype, data, files, now))
        interaction: dict[str, Any] = {"id": str(handle.id), "type": handle.type}
        answer: dict[str, Any] = {"interaction": interaction}
        if ctype == CHANNEL_MESSAGE:
            msg = fake._interaction_message(handle, data, files, flags=int(data.get("flags") or 0))
            handle.original = msg
            handle.original_filled_at = now
            answer["resource"] = {"type": ctype, "message": msg.to_payload()}
        elif ctype == DEFERRED_CHANNEL_MESSAGE:
            flags = int(data.get("flags") or 0) & FLAG_EPHEMERAL
            msg = fake._interaction_message(handle, {}, [], flags=flags, loading=True)
            handle.original = msg
            answer["resource"] = {"type": ctype}
        elif ctype == DEFERRED_UPDATE_MESSAGE:
            handle.original = handle.message
        elif ctype == UPDATE_MESSAGE:
            assert handle.message is not None
            fake._edit_message(handle.message, data, files)
            handle.original = handle.message
            handle.original_filled_at = now
            answer["resource"] = {"type": ctype, "message": handle.message.to_payload()}
        elif ctype == MODAL:
            handle.modal = data
            fake._modals_opened.append(handle)
        elif ctype == AUTOCOMPLETE_RESULT:
            handle.choices = list(data.get("choices") or [])
        if handle.original is not None:
            interaction["response_message_id"] = str(handle.original.id)
            interaction["response_message_loading"] = handle.original.is_loading
            interaction["response_message_ephemeral"] = handle.original.is_ephemeral
        handle._changed()
        fake._interactions_changed.notify(handle)
        if request.query.get("with_response") in ("1", "true", "True"):
            return answer
        return NO_CONTENT

    # --- interaction webhooks ----------------------------------------------------------------

    def _webhook_handle(self, request: web.Request) -> InteractionHandle:
        fake = self.fake
        handle = fake._handles_by_token.get(request.match_info["token"])
        if handle is None or _int(request.match_info["app"]) != fake.application_id:
            raise DiscordError(404, 10015, "Unknown Webhook", violation="unknown_webhook")
        if not handle.token_valid(request[CALL].at):
            raise DiscordError(
                401,
                50027,
                "Invalid Webhook Token",
                violation="token_expired",
                interaction=handle,
            )
        if handle.acked_at is None:
            # Until the interaction is acknowledged, its webhook does not exist.
            raise DiscordError(
                404,
                10015,
                "Unknown Webhook",
                violation="webhook_before_ack",
                interaction=handle,
            )
        return handle

    def _webhook_message(self, handle: InteractionHandle, ref: str) -> FakeMessage:
        if ref == "@original":
            msg = handle.original
        else:
            msg = next(
                (m for m in [handle.original, *handle.followups] if m and m.id == _int(ref)),
                None,
            )
        if msg is None or msg.deleted:
            raise DiscordError(404, 10008, "Unknown Message", interaction=handle)
        return msg

    async def webhook_execute(self, request: web.Request) -> Any:
        fake = self.fake
        handle = self._webhook_handle(request)
        call: RestCall = request[CALL]
        data = call.json if isinstance(call.json, dict) else {}
        errors = FormErrors()
        check_message(
            errors, (), data, call.files, size_limit=fake.attachment_size_limit, create=True
        )
        if errors:
            raise _form_error(errors, interaction=handle)
        if is_empty_message(data, call.files):
            raise DiscordError(
                400,
                50006,
                "Cannot send an empty message",
                violation="empty_message",
                interaction=handle,
            )
        original = handle.original
        if (
            original is not None
            and original.is_loading
            and not original.deleted  # a deleted loading message is gone: followups are new
            and handle.response_type == DEFERRED_CHANNEL_MESSAGE
        ):
            # The first followup after a defer fills the loading message.
            msg = fake._edit_message(original, data, call.files, filling=True)
            handle.original_filled_at = call.at
        else:
            flags = int(data.get("flags") or 0)
            msg = fake._interaction_message(handle, data, call.files, flags=flags, followup=True)
        handle.followups.append(msg)
        handle._changed()
        if request.query.get("wait") in ("1", "true", "True"):
            return msg.to_payload()
        return NO_CONTENT

    async def webhook_get_message(self, request: web.Request) -> Any:
        handle = self._webhook_handle(request)
        return self._webhook_message(handle, request.match_info["message"]).to_payload()

    async def webhook_edit_message(self, request: web.Request) -> Any:
        fake = self.fake
        handle = self._webhook_handle(request)
        call: RestCall = request[CALL]
        msg = self._webhook_message(handle, request.match_info["message"])
        data = call.json if isinstance(call.json, dict) else {}
        errors = FormErrors()
        check_message(
            errors, (), data, call.files, size_limit=fake.attachment_size_limit, create=False
        )
        if errors:
            raise _form_error(errors, interaction=handle)
        filling = msg.is_loading
        if filling and is_empty_message(data, call.files):
            raise DiscordError(
                400,
                50006,
                "Cannot send an empty message",
                violation="empty_message",
                interaction=handle,
            )
        fake._edit_message(msg, data, call.files, filling=filling)
        if msg is handle.original and handle.original_filled_at is None:
            handle.original_filled_at = call.at
        handle.edits.append(Edit(msg, data, call.files, call.at))
        handle._changed()
        return msg.to_payload()

    async def webhook_delete_message(self, request: web.Request) -> Any:
        handle = self._webhook_handle(request)
        msg = self._webhook_message(handle, request.match_info["message"])
        self.fake._delete_message(msg)
        handle._changed()
        return NO_CONTENT

    # --- channels and messages ---------------------------------------------------------------

    def _channel(self, request: web.Request) -> Any:
        channel = self.fake.channels.get(_int(request.match_info["channel"]))
        if channel is None:
            raise DiscordError(404, 10003, "Unknown Channel")
        return channel

    def _message(self, request: web.Request) -> FakeMessage:
        channel = self._channel(request)
        msg = self.fake._messages.get(_int(request.match_info["message"]))
        if msg is None or msg.deleted or msg.channel_id != channel.id or msg.is_ephemeral:
            raise DiscordError(404, 10008, "Unknown Message")
        return msg

    async def get_channel(self, request: web.Request) -> Any:
        return self._channel(request).to_payload()

    async def get_messages(self, request: web.Request) -> Any:
        channel = self._channel(request)
        q = request.query
        limit = max(1, min(100, int(q.get("limit", 50))))
        msgs = [m for m in self.fake.messages(channel, include_ephemeral=False)]
        if "before" in q:
            msgs = [m for m in msgs if m.id < int(q["before"])]
        if "after" in q:
            msgs = [m for m in msgs if m.id > int(q["after"])][:limit]
        if "around" in q:
            around = int(q["around"])
            older = [m for m in msgs if m.id <= around][-(limit // 2 + 1) :]
            newer = [m for m in msgs if m.id > around][: limit - len(older)]
            msgs = older + newer
        msgs = msgs[-limit:]
        return [m.to_payload() for m in reversed(msgs)]

    async def get_message(self, request: web.Request) -> Any:
        return self._message(request).to_payload()

    async def create_message(self, request: web.Request) -> Any:
        fake = self.fake
        channel = self._channel(request)
        call: RestCall = request[CALL]
        data = call.json if isinstance(call.json, dict) else {}
        errors = FormErrors()
        check_message(errors, (), data, call.files, size_limit=fake.default_size_limit, create=True)
        if errors:
            raise _form_error(errors)
        if is_empty_message(data, call.files):
            raise DiscordError(
                400, 50006, "Cannot send an empty message", violation="empty_message"
            )
        reference = data.get("message_reference")
        if reference and fake._messages.get(_int(reference.get("message_id"))) is None:
            if reference.get("fail_if_not_exists", True):
                raise DiscordError(400, 50035, "Invalid Form Body", violation="invalid_form_body")
            reference = None
        flags = int(data.get("flags") or 0) & ~FLAG_EPHEMERAL
        msg = fake._new_message(
            channel,
            fake.bot_user,
            data,
            call.files,
            flags=flags,
            type=19 if reference else 0,
            reference=reference,
        )
        return msg.to_payload()

    async def edit_message(self, request: web.Request) -> Any:
        fake = self.fake
        msg = self._message(request)
        if msg.author is not fake.bot_user:
            raise DiscordError(403, 50005, "Cannot edit a message authored by another user")
        call: RestCall = request[CALL]
        data = call.json if isinstance(call.json, dict) else {}
        errors = FormErrors()
        check_message(
            errors, (), data, call.files, size_limit=fake.default_size_limit, create=False
        )
        if errors:
            raise _form_error(errors)
        fake._edit_message(msg, data, call.files)
        return msg.to_payload()

    async def delete_message(self, request: web.Request) -> Any:
        self.fake._delete_message(self._message(request))
        return NO_CONTENT

    async def bulk_delete(self, request: web.Request) -> Any:
        channel = self._channel(request)
        for mid in (request[CALL].json or {}).get("messages", []):
            msg = self.fake._messages.get(_int(mid))
            if msg is not None and msg.channel_id == channel.id and not msg.deleted:
                self.fake._delete_message(msg)
        return NO_CONTENT

    async def add_reaction(self, request: web.Request) -> Any:
        msg = self._message(request)
        emoji = request.match_info["emoji"]
        msg.reactions[emoji] = msg.reactions.get(emoji, 0) + 1
        return NO_CONTENT

    async def remove_reaction(self, request: web.Request) -> Any:
        msg = self._message(request)
        emoji = request.match_info["emoji"]
        if msg.reactions.get(emoji, 0) > 1:
            msg.reactions[emoji] -= 1
        else:
            msg.reactions.pop(emoji, None)
        return NO_CONTENT

    # --- guilds ----------------------------------------------------------------------------

    def _guild(self, request: web.Request) -> Any:
        guild = self.fake.guilds.get(_int(request.match_info["guild"]))
        if guild is None:
            raise DiscordError(404, 10004, "Unknown Guild")
        return guild

    async def get_guild(self, request: web.Request) -> Any:
        return self._guild(request).to_payload(full=False)

    async def get_guild_channels(self, request: web.Request) -> Any:
        return [c.to_payload() for c in self._guild(request).channels.values()]

    async def get_guild_roles(self, request: web.Request) -> Any:
        return [r.to_payload() for r in self._guild(request).roles.values()]

    async def get_member(self, request: web.Request) -> Any:
        guild = self._guild(request)
        member = guild.members.get(_int(request.match_info["user"]))
        if member is None:
            raise DiscordError(404, 10007, "Unknown Member")
        return member.to_payload()

    # --- attachments (outside the API) -------------------------------------------------------

    async def get_attachment(self, request: web.Request) -> web.StreamResponse:
        att = self.fake._attachments.get(_int(request.match_info["attachment"]))
        if att is None:
            raise web.HTTPNotFound()
        return web.Response(
            body=att.data, content_type=att.content_type or "application/octet-stream"
        )


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def _flatten_errors(tree: dict[str, Any], prefix: str = "") -> list[str]:
    out: list[str] = []
    for key, value in tree.items():
        if key == "_errors":
            out.extend(f"{prefix or '<root>'}: {e['message']}" for e in value)
        elif isinstance(value, dict):
            out.extend(_flatten_errors(value, f"{prefix}.{key}" if prefix else key))
    return out


async def _parse_body(request: web.Request) -> tuple[Any, list[UploadedFile]]:
    """JSON body, or multipart ``payload_json`` + file parts."""
    if not request.body_exists:
        return None, []
    ctype = request.headers.get("Content-Type", "")
    raw = await request.read()
    if ctype.startswith("multipart/"):
        return parse_multipart(raw, ctype)
    if not raw:
        return None, []
    if ctype.startswith("application/json") or raw[:1] in (b"{", b"["):
        return json.loads(raw), []
    return None, []


_PARAM = re.compile(r';\s*([\w*]+)=(?:"([^"]*)"|([^;]*))')


def _disposition(header: str) -> dict[str, str]:
    params = {}
    for key, quoted, bare in _PARAM.findall(header):
        value = quoted if quoted or not bare else bare.strip()
        if key.endswith("*"):  # RFC 5987: charset'lang'percent-encoded
            key = key[:-1]
            value = unquote(value.split("'", 2)[-1])
        params[key.lower()] = value
    return params


def parse_multipart(body: bytes, content_type: str) -> tuple[Any, list[UploadedFile]]:
    """Split a multipart/form-data body in one pass (aiohttp's part reader re-parses the
    Content-Disposition header on every access, which is slow under load)."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if match is None:
        raise ValueError("multipart body without a boundary")
    delimiter = b"--" + match.group(1).encode()
    payload: Any = None
    files: list[UploadedFile] = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, data = chunk.partition(b"\r\n\r\n")
        if data.endswith(b"\r\n"):
            data = data[:-2]
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        params = _disposition(headers.get("content-disposition", ""))
        field = params.get("name", "")
        if field == "payload_json":
            payload = json.loads(data)
        else:
            files.append(
                UploadedFile(
                    field=field,
                    filename=params.get("filename", field),
                    data=data,
                    content_type=headers.get("content-type"),
                )
            )
    return payload, files
