"""InteractionHandle: what the bot did with one interaction the fake dispatched, and when."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._util import DEFAULT_TIMEOUT, Signal
from .models import FLAG_EPHEMERAL, FakeChannel, FakeGuild, FakeMessage, FakeUser, UploadedFile

if TYPE_CHECKING:
    from .fake import FakeDiscord

# Interaction types.
PING, APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 1, 2, 3, 4, 5
# Callback types.
CHANNEL_MESSAGE = 4
DEFERRED_CHANNEL_MESSAGE = 5
DEFERRED_UPDATE_MESSAGE = 6
UPDATE_MESSAGE = 7
AUTOCOMPLETE_RESULT = 8
MODAL = 9


class AckDeadlineMissed(AssertionError):
    """The interaction was not acknowledged within the ack deadline (Discord's 3 s)."""


@dataclass(eq=False)
class Callback:
    type: int
    data: dict[str, Any]
    files: list[UploadedFile]
    at: float


@dataclass(eq=False)
class Edit:
    message: FakeMessage
    payload: dict[str, Any]
    files: list[UploadedFile]
    at: float


@dataclass(eq=False)
class RestError:
    """An error answer the fake gave to a request made with this interaction's id or token."""

    status: int
    code: int
    message: str
    method: str
    path: str
    errors: dict[str, Any] | None = None
    at: float = field(default_factory=time.perf_counter)


class InteractionHandle:
    """One dispatched interaction. Timestamps are ``time.perf_counter()`` values.

    The response message (``original``) is the message the first callback created (type 4,
    or the loading message of a type 5 defer) or, for components, the clicked message
    (types 6 and 7). Every ``POST /webhooks/{app}/{token}`` is a followup, including the
    first one after a defer, which fills the loading message (so ``followups[0]`` is then
    the original message).
    """

    def __init__(
        self,
        fake: FakeDiscord,
        *,
        id: int,
        token: str,
        type: int,
        name: str,
        payload: dict[str, Any],
        user: FakeUser,
        guild: FakeGuild | None,
        channel: FakeChannel,
        shard_id: int,
        ack_deadline: float,
        token_ttl: float,
        message: FakeMessage | None = None,
    ) -> None:
        self._fake = fake
        self.id = id
        self.token = token
        self.type = type
        self.name = name
        self.payload = payload
        self.user = user
        self.guild = guild
        self.channel = channel
        self.shard_id = shard_id
        self.message = message  # the component's message, for clicks and modals from them
        self.ack_deadline = ack_deadline
        self.token_ttl = token_ttl
        self.dispatched_at = time.perf_counter()
        self.acked_at: float | None = None
        self.expired_at: float | None = None
        self.callbacks: list[Callback] = []
        self.errors: list[RestError] = []
        self.followups: list[FakeMessage] = []
        self.edits: list[Edit] = []
        self.original: FakeMessage | None = None
        self.original_filled_at: float | None = None
        self.modal: dict[str, Any] | None = None
        self.choices: list[dict[str, Any]] | None = None
        self._signal = Signal(fake._hub)
        loop = asyncio.get_running_loop()
        self._deadline_timer: asyncio.TimerHandle | None = loop.call_later(
            ack_deadline, self._deadline_timer_fired
        )
        self._ttl_timer: asyncio.TimerHandle | None = None
        self._ttl_passed = False

    def __repr__(self) -> str:
        return (
            f"<InteractionHandle {self.name!r} id={self.id} type={self.type} "
            f"acked={self.acked} callbacks={[c.type for c in self.callbacks]} "
            f"followups={len(self.followups)} errors={[(e.status, e.code) for e in self.errors]}>"
        )

    # --- state -----------------------------------------------------------------------------

    @property
    def acked(self) -> bool:
        return self.acked_at is not None

    @property
    def response_type(self) -> int | None:
        return self.callbacks[0].type if self.callbacks else None

    @property
    def deferred(self) -> bool:
        return self.response_type in (DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE_MESSAGE)

    @property
    def is_ephemeral(self) -> bool:
        if self.original is not None and self.response_type in (4, 5):
            return bool(self.original.flags & FLAG_EPHEMERAL)
        if self.callbacks:
            return bool(int(self.callbacks[0].data.get("flags") or 0) & FLAG_EPHEMERAL)
        return False

    @property
    def ack_latency_ms(self) -> float | None:
        if self.acked_at is None:
            return None
        return (self.acked_at - self.dispatched_at) * 1000.0

    @property
    def token_expires_at(self) -> float:
        return self.dispatched_at + self.token_ttl

    def token_valid(self, now: float | None = None) -> bool:
        return (time.perf_counter() if now is None else now) <= self.token_expires_at

    def deadline_missed(self, now: float | None = None) -> bool:
        """Whether a callback arriving at ``now`` is too late (Discord judges by arrival)."""
        if self.acked_at is not None:
            return False
        now = time.perf_counter() if now is None else now
        if now - self.dispatched_at <= self.ack_deadline:
            if self.expired_at is not None:
                # The timer fired while this in-time request was still being read.
                self._retract_expiry()
            return False
        if self.expired_at is None:
            self._deadline_passed()
        return True

    def _retract_expiry(self) -> None:
        self.expired_at = None
        self._fake.violations[:] = [
            v
            for v in self._fake.violations
            if not (v.kind == "ack_timeout" and v.interaction_id == self.id)
        ]

    def _deadline_timer_fired(self) -> None:
        self._deadline_timer = None
        # The loop clock and perf_counter may disagree by a hair; never expire early.
        remaining = self.dispatched_at + self.ack_deadline - time.perf_counter()
        if remaining > 0 and self.acked_at is None:
            loop = asyncio.get_running_loop()
            self._deadline_timer = loop.call_later(remaining, self._deadline_timer_fired)
            return
        self._deadline_passed()

    def _deadline_passed(self) -> None:
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
            self._deadline_timer = None
        if self.acked_at is not None or self.expired_at is not None:
            return
        self.expired_at = time.perf_counter()
        self._fake._record_violation(
            "ack_timeout",
            f"interaction {self.name!r} was not acknowledged within {self.ack_deadline}s",
            interaction_id=self.id,
        )
        self._changed()

    def _changed(self) -> None:
        self._signal.notify()

    def _cancel_timers_for_ack(self) -> None:
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
            self._deadline_timer = None

    def _cancel_timers(self) -> None:
        for timer in (self._deadline_timer, self._ttl_timer):
            if timer is not None:
                timer.cancel()
        self._deadline_timer = self._ttl_timer = None

    # --- awaitables ------------------------------------------------------------------------

    def _describe(self) -> str:
        return repr(self)

    def _raise_if_missed(self) -> None:
        if self.expired_at is not None and self.acked_at is None:
            raise AckDeadlineMissed(
                f"interaction {self.name!r} ({self.id}) was not acknowledged within "
                f"{self.ack_deadline}s; errors={[(e.status, e.code) for e in self.errors]}"
            )

    async def acknowledged(self, timeout: float | None = DEFAULT_TIMEOUT) -> Callback:
        """The first accepted callback. Fails at once if the ack deadline passes first."""

        def probe() -> Callback | None:
            if self.callbacks:
                return self.callbacks[0]
            self._raise_if_missed()
            return None

        return await self._signal.wait(probe, timeout, self._describe, now=probe)

    async def original_message(self, timeout: float | None = DEFAULT_TIMEOUT) -> FakeMessage:
        """The response message once it has real content (for a defer: once filled)."""

        def probe() -> FakeMessage | None:
            if self.original is not None and self.original_filled_at is not None:
                return self.original
            self._raise_if_missed()
            return None

        return await self._signal.wait(probe, timeout, self._describe, now=probe)

    async def followup(self, n: int = 0, timeout: float | None = DEFAULT_TIMEOUT) -> FakeMessage:
        """The n-th (0-based) message posted through the interaction webhook."""

        def probe() -> FakeMessage | None:
            if len(self.followups) > n:
                return self.followups[n]
            self._raise_if_missed()
            return None

        return await self._signal.wait(
            probe, timeout, lambda: f"followup {n} of {self!r}", now=probe
        )

    async def edit(self, n: int = 0, timeout: float | None = DEFAULT_TIMEOUT) -> Edit:
        """The n-th (0-based) PATCH of a message through the interaction webhook."""

        def probe() -> Edit | None:
            return self.edits[n] if len(self.edits) > n else None

        return await self._signal.wait(probe, timeout, lambda: f"edit {n} of {self!r}", now=probe)

    async def modal_opened(self, timeout: float | None = DEFAULT_TIMEOUT) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            if self.modal is not None:
                return self.modal
            self._raise_if_missed()
            return None

        return await self._signal.wait(probe, timeout, self._describe, now=probe)

    async def autocomplete_choices(
        self, timeout: float | None = DEFAULT_TIMEOUT
    ) -> list[dict[str, Any]]:
        def probe() -> list[dict[str, Any]] | None:
            if self.choices is not None:
                return self.choices
            self._raise_if_missed()
            return None

        return await self._signal.wait(probe, timeout, self._describe, now=probe)

    async def error(
        self, code: int | None = None, timeout: float | None = DEFAULT_TIMEOUT
    ) -> RestError:
        """The first error answer (optionally with this Discord error code)."""

        def probe() -> RestError | None:
            for err in self.errors:
                if code is None or err.code == code:
                    return err
            return None

        return await self._signal.wait(
            probe, timeout, lambda: f"error {code} for {self!r}", now=probe
        )

    async def ack_deadline_passed(self, timeout: float | None = DEFAULT_TIMEOUT) -> float:
        """Resolves when the ack deadline passed without an ack (the time it was noticed)."""
        return await self._signal.wait(
            lambda: self.expired_at,
            timeout,
            lambda: f"the ack deadline of {self!r}",
            now=lambda: self.expired_at,
        )

    async def token_expired(self, timeout: float | None = DEFAULT_TIMEOUT) -> None:
        """Resolves once the interaction token's lifetime (``token_ttl``) is over."""
        if not self._ttl_passed and self._ttl_timer is None:
            delay = max(0.0, self.token_expires_at - time.perf_counter())
            self._ttl_timer = asyncio.get_running_loop().call_later(delay, self._ttl_over)

        def probe() -> bool | None:
            return True if self._ttl_passed else None

        await self._signal.wait(probe, timeout, lambda: f"token expiry of {self!r}", now=probe)

    def _ttl_over(self) -> None:
        self._ttl_timer = None
        # call_later may fire a hair early against perf_counter; trust the clock, re-arm.
        remaining = self.token_expires_at - time.perf_counter()
        if remaining > 0:
            self._ttl_timer = asyncio.get_running_loop().call_later(remaining, self._ttl_over)
            return
        self._ttl_passed = True
        self._changed()
