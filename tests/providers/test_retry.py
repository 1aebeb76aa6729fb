from __future__ import annotations

import pytest

from providers.errors import InvalidRequest, ProviderUnavailable, RateLimited
from providers.http import parse_retry_after
from providers.retry import RetryPolicy


class Flaky:
    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


def recording_policy(**kw: float) -> tuple[RetryPolicy, list[float]]:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    return RetryPolicy(sleep=sleep, **kw), waits  # type: ignore[arg-type]


async def test_transient_errors_are_retried_with_growing_backoff() -> None:
    policy, waits = recording_policy(base_delay=0.5)
    call = Flaky(ProviderUnavailable("503"), ProviderUnavailable("503"))
    assert await policy.run(call) == "done"
    assert call.calls == 3
    assert len(waits) == 2
    assert waits[1] > waits[0]


async def test_retry_after_is_honoured() -> None:
    policy, waits = recording_policy()
    call = Flaky(RateLimited("slow down", retry_after=2.5))
    assert await policy.run(call) == "done"
    assert waits == [2.5]


async def test_a_retry_after_longer_than_we_wait_fails_over_at_once() -> None:
    policy, waits = recording_policy(max_delay=4.0)
    with pytest.raises(RateLimited):
        await policy.run(Flaky(RateLimited("come back later", retry_after=60)))
    assert waits == []


async def test_permanent_errors_are_not_retried() -> None:
    policy, waits = recording_policy()
    call = Flaky(InvalidRequest("bad size"))
    with pytest.raises(InvalidRequest):
        await policy.run(call)
    assert call.calls == 1
    assert waits == []


async def test_gives_up_after_the_last_attempt() -> None:
    policy, _ = recording_policy(attempts=2)
    call = Flaky(*(ProviderUnavailable("down") for _ in range(5)))
    with pytest.raises(ProviderUnavailable):
        await policy.run(call)
    assert call.calls == 2


def test_parse_retry_after_reads_seconds_and_dates() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
