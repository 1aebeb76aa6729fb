"""The ledger across OS processes: limits hold under concurrent reservations, releases all count,
and a reservation left by a killed process is released by the next start once it expires.

Every worker is a real process (tests/bot/storage/reserve_worker.py) with its own connection(s),
firing its reservations at once with asyncio.gather; the test synchronises with the workers through
their stdin and stdout, never with sleeps. Each scenario's requests are all the same size, so the
number that fit is exact: one more would mean the limit was exceeded, one fewer that a reservation
or a release was lost.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.services.quotas import QuotaLimits, QuotaService
from bot.storage import open_store
from bot.storage.models import ReservationStatus, UsageSnapshot
from tests.bot.conftest import NOW

ROOT = Path(__file__).resolve().parents[3]
WORKERS = 4
TIMEOUT = 120  # seconds: a guard against a hung worker, not a synchronisation


class Worker:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, config: dict[str, Any]) -> Worker:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.bot.storage.reserve_worker",
            json.dumps(config),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        return cls(proc)

    async def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), TIMEOUT)
        if not line:
            assert self.proc.stderr is not None
            error = await asyncio.wait_for(self.proc.stderr.read(), TIMEOUT)
            pytest.fail(f"worker exited early:\n{error.decode(errors='replace')}")
        return json.loads(line)

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")

    async def finish(self) -> int:
        return await asyncio.wait_for(self.proc.wait(), TIMEOUT)

    def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()

    async def stop(self) -> None:
        """Kill it if it still runs, and reap it (so no pipe outlives the test's loop)."""
        self.kill()
        await self.finish()


def no_limits(**limits: Any) -> dict[str, Any]:
    base = dict.fromkeys(
        [
            "user_daily_images",
            "user_daily_usd",
            "cooldown_seconds",
            "max_concurrent",
            "guild_monthly_usd",
            "global_daily_usd",
        ]
    )
    return {**base, **limits}


@dataclass(frozen=True)
class Scenario:
    limit: str
    limits: dict[str, Any]
    request: Callable[[int, int], list[Any]]  # (worker, n) → [user, guild, images, usd]
    capacity: int  # how many of these requests fit the limit exactly
    measure: Callable[[UsageSnapshot], int]  # what the limit counts, read back from the store
    full: int  # `measure` when exactly `capacity` are held
    commits_free: bool = False  # a commit gives the limit back (only in-flight does)
    first: int = 16  # requests per worker in each wave
    second: int = 8
    probe: tuple[int, int | None] = field(default=(0, None))  # (user, guild) to read usage for


SCENARIOS = [
    Scenario(
        "global_daily_usd",
        no_limits(global_daily_usd=0.40),
        lambda w, n: [1000 * w + n, 100 + w, 1, 0.01],  # a user per request, a server per worker
        capacity=40,
        measure=lambda s: s.global_usd_micros_today,
        full=400_000,
        first=20,
        second=12,
    ),
    Scenario(
        "guild_monthly_usd",
        no_limits(guild_monthly_usd=0.25),
        lambda w, n: [1000 * w + n, 7, 1, 0.05],
        capacity=5,
        measure=lambda s: s.guild_usd_micros_month,
        full=250_000,
        probe=(0, 7),
    ),
    Scenario(
        "user_daily_images",
        no_limits(user_daily_images=30),
        lambda w, n: [42, 7, 2, 0.0],  # one user, from every process
        capacity=15,
        measure=lambda s: s.user_images_today,
        full=30,
        probe=(42, 7),
    ),
    Scenario(
        "concurrent",
        no_limits(max_concurrent=3),
        lambda w, n: [42, 7, 1, 0.01],
        capacity=3,
        measure=lambda s: s.user_in_flight,
        full=3,
        commits_free=True,
        probe=(42, 7),
    ),
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.limit)
async def test_limit_holds_and_releases_count_across_processes(
    store_url: str, scenario: Scenario
) -> None:
    async with open_store(store_url) as store:  # migrated once, before the workers start
        configs = [
            {
                "mode": "waves",
                "url": store_url,
                "now": NOW.isoformat(),
                "limits": scenario.limits,
                "first": [scenario.request(w, n) for n in range(scenario.first)],
                "second": [scenario.request(w, 500 + n) for n in range(scenario.second)],
            }
            for w in range(WORKERS)
        ]
        assert WORKERS * scenario.first > scenario.capacity  # demand exceeds the limit
        workers = [await Worker.start(config) for config in configs]
        try:

            async def usage() -> int:
                return scenario.measure(await store.usage_for(*scenario.probe, NOW))

            # Wave one: every process at once, far more than fits.
            first = [await w.read() for w in workers]
            held = sorted(rid for event in first for rid in event["ok"])
            refused = Counter(name for event in first for name in event["refused"])
            assert len(held) == scenario.capacity
            assert refused == {scenario.limit: WORKERS * scenario.first - scenario.capacity}
            assert await usage() == scenario.full

            # Owners commit half; every process releases the other half twice, concurrently.
            release, commit = held[::2], held[1::2]
            for worker, event in zip(workers, first, strict=True):
                worker.send({"commit": sorted(set(event["ok"]) & set(commit)), "release": release})
            settled = [await w.read() for w in workers]
            assert sum(e["committed"] for e in settled) == len(commit)
            assert sum(e["released"] for e in settled) == len(release)  # once each, not 4 × 2
            assert sum(e["released_committed"] for e in settled) == 0
            freed = len(release) + (len(commit) if scenario.commits_free else 0)
            assert await usage() == scenario.full - freed * scenario.full // scenario.capacity

            # Wave two: exactly what was given back fits again.
            for worker in workers:
                worker.send({"wave": "second"})
            second = [await w.read() for w in workers]
            assert sum(len(e["ok"]) for e in second) == freed
            assert await usage() == scenario.full

            rows = await store.export_usage(NOW.date())
            statuses = Counter(row.status for row in rows)
            assert statuses == {
                ReservationStatus.RELEASED: len(release),
                ReservationStatus.COMMITTED: len(commit),
                ReservationStatus.RESERVED: freed,
            }
            assert {r.reservation_id for r in rows if r.status == "released"} == set(release)

            for worker in workers:
                worker.send({"exit": True})
            assert [await w.finish() for w in workers] == [0] * WORKERS
        finally:
            await asyncio.gather(*(worker.stop() for worker in workers))


async def test_a_killed_process_leaves_a_reservation_the_next_start_releases(
    store_url: str,
) -> None:
    """Rule: a reservation carries `expires_at` (longer than any generation may run); the bot
    expires open ones past it at start-up and periodically. Whether the owner is alive cannot be
    known across hosts, so an unexpired reservation keeps counting even after its owner died."""
    async with open_store(store_url):
        pass  # migrated before the worker starts
    worker = await Worker.start(
        {
            "mode": "crash",
            "url": store_url,
            "now": NOW.isoformat(),
            "limits": no_limits(user_daily_usd=0.50),
            "ttl_seconds": 600,
            "request": [42, 7, 2, 0.08],
        }
    )
    try:
        event = await worker.read()  # reserved, and waiting: killed between reserve and commit
    finally:
        await worker.stop()
    assert worker.proc.returncode == -signal.SIGKILL
    expires_at = datetime.fromisoformat(event["expires_at"])
    assert expires_at == NOW + timedelta(seconds=600)

    async with open_store(store_url) as restarted:
        quotas = QuotaService(restarted, QuotaLimits(cooldown_seconds=0))
        early = expires_at - timedelta(seconds=1)
        assert await quotas.release_stale(now=early) == 0
        held = await restarted.usage_for(42, 7, early)
        assert (held.user_in_flight, held.user_usd_micros_today) == (1, 80_000)

        assert await quotas.release_stale(now=expires_at) == 1  # the next start, once expired
        reservation = await restarted.get_reservation(event["id"])
        assert reservation is not None
        assert reservation.status == ReservationStatus.EXPIRED
        freed = await restarted.usage_for(42, 7, expires_at)
        assert (freed.user_in_flight, freed.user_usd_micros_today) == (0, 0)

        assert await quotas.release_stale(now=expires_at + timedelta(hours=1)) == 0
        assert not await quotas.release(event["id"], now=expires_at)  # never released twice
