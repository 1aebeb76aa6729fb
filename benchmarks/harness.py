"""The pieces every load benchmark shares: a bot in its own process, load, timings, statistics.

A bot under test runs as a child process (`python -m bot`, or the floor bot) pointed at a loopback
FakeDiscord served by the benchmark process, which also drives the load and reads the timings the
fake records (all `time.perf_counter()` in the benchmark process):

- acknowledgement: INTERACTION_CREATE dispatched → the first callback's headers arrived;
- result: the `PATCH …/messages/@original` carrying the image: when its headers arrived (`at`,
  the bot started sending) and when its whole body had (`received_at`); `received_at - at` is
  the send (upload) time;
- overhead: `at - dispatched - latency`, i.e. result posted − provider latency − send time.

Peak RSS is the child's VmHWM from /proc (Linux), reset before each load level.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import statistics
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fakes.discord import FakeDiscord, FakeMember, InteractionHandle, RestCall

__all__ = [
    "ROOT",
    "BotProcess",
    "LevelResult",
    "Load",
    "base_env",
    "discord_env",
    "percentile",
]

ROOT = Path(__file__).resolve().parent.parent
PROMPT = "a lighthouse at dawn, watercolour"
START_TIMEOUT_S = 60.0
MIN_CPU_S = 0.1
STOP_TIMEOUT_S = 30.0


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(values: Sequence[float]) -> float:
    clean = [v for v in values if not math.isnan(v)]
    return statistics.median(clean) if clean else math.nan


def base_env() -> dict[str, str]:
    """A clean environment for a child: no stray keys or settings from the caller's shell."""
    keep = ("PATH", "HOME", "LANG", "TMPDIR")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def discord_env(fake: FakeDiscord) -> dict[str, str]:
    return {
        "DISCORD_TOKEN": fake.token,
        "DISCORD_API_BASE_URL": fake.api_base,
        "DISCORD_GATEWAY_URL": fake.gateway_url,
        "CANVASBOT_DEV_GUILD_ID": str(fake.guild.id),
    }


class BotProcess:
    """A bot in a child process: started, watched until ready, measured, stopped."""

    def __init__(self, name: str, argv: Sequence[str], env: Mapping[str, str], cwd: Path) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.cwd = cwd
        self.log: deque[str] = deque(maxlen=200)
        self.proc: asyncio.subprocess.Process | None = None
        self._ready = asyncio.Event()
        self._marker = ""
        self._reader: asyncio.Task[None] | None = None

    async def start(self, fake: FakeDiscord, ready_marker: str) -> BotProcess:
        """Start it and wait until it is connected, has synced its commands and said
        `ready_marker` on stderr (on_ready, after discord.py's guild_ready_timeout)."""
        self._marker = ready_marker
        syncs = len(fake.syncs)
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv,
            cwd=self.cwd,
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        self._reader = asyncio.create_task(self._read_stderr())
        try:
            async with asyncio.timeout(START_TIMEOUT_S):
                exited = asyncio.create_task(self.proc.wait())
                ready = asyncio.create_task(self._ready.wait())
                await asyncio.wait({exited, ready}, return_when=asyncio.FIRST_COMPLETED)
                if not ready.done():
                    ready.cancel()
                    raise RuntimeError(f"{self.name} exited with {self.proc.returncode}")
                exited.cancel()
                await fake.wait_for_sync(fake.guild, count=syncs + 1, timeout=None)
        except (TimeoutError, RuntimeError) as exc:
            await self.stop()
            tail = "\n    ".join(list(self.log)[-15:])
            message = f"{self.name} did not start ({exc!r}); its log:\n    {tail}"
            raise RuntimeError(message) from exc
        return self

    async def _read_stderr(self) -> None:
        assert self.proc is not None
        assert self.proc.stderr is not None
        # Always drained, so a chatty bot never blocks on a full pipe.
        while line := await self.proc.stderr.readline():
            text = line.decode(errors="replace").rstrip()
            self.log.append(text)
            if self._marker and self._marker in text:
                self._ready.set()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def memory_kb(self) -> tuple[int, int]:
        """(current RSS, peak RSS) in KiB, from /proc (0, 0 where that is unavailable)."""
        values = {"VmRSS": 0, "VmHWM": 0}
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                key, _, rest = line.partition(":")
                if key in values:
                    values[key] = int(rest.split()[0])
        return values["VmRSS"], values["VmHWM"]

    def cpu_seconds(self) -> float:
        """User + system CPU time of the whole process (every thread) so far; NaN if unknown."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return math.nan
        # Fields 14 and 15 of stat(5); the split above starts at field 3.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def reset_peak(self) -> bool:
        """Reset the peak RSS (Linux clear_refs 5); False when not allowed."""
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
        except OSError:
            return False
        return True

    @contextlib.asynccontextmanager
    async def profiled(self, output: Path | None) -> AsyncIterator[None]:
        """Sample this process with py-spy (the `bench` extra) into `output` (collapsed stacks,
        for flame graphs) for the body of the block; nothing when `output` is None."""
        if output is None:
            yield
            return
        beside = Path(sys.executable).parent / "py-spy"
        spy = await asyncio.create_subprocess_exec(
            str(beside) if beside.exists() else "py-spy", "record", "--pid", str(self.pid),
            "--rate", "250", "--nonblocking", "--threads", "--format", "raw",
            "--output", str(output),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        await asyncio.sleep(0.5)  # attached
        try:
            yield
        finally:
            with contextlib.suppress(ProcessLookupError):
                spy.send_signal(signal.SIGINT)
            try:
                async with asyncio.timeout(STOP_TIMEOUT_S):
                    await spy.wait()
            except TimeoutError:
                spy.kill()
                await spy.wait()

    async def stop(self) -> None:
        proc = self.proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(STOP_TIMEOUT_S):
                    await proc.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                async with asyncio.timeout(5):
                    await self._reader


@dataclass
class LevelResult:
    """One load level against one bot: per-interaction timings in milliseconds."""

    side: str
    n: int
    ack_ms: list[float] = field(default_factory=list)
    overhead_ms: list[float] = field(default_factory=list)
    send_ms: list[float] = field(default_factory=list)
    e2e_ms: list[float] = field(default_factory=list)
    throughput: float = math.nan  # results per second, first dispatch → last result received
    peak_rss_mb: float = math.nan
    cpu_ms: float = math.nan  # the bot process's CPU time per result (every thread)
    failures: int = 0
    violations: list[str] = field(default_factory=list)

    def figures(self) -> dict[str, float]:
        return {
            "ack_p50": percentile(self.ack_ms, 50),
            "ack_p99": percentile(self.ack_ms, 99),
            "ovh_p50": percentile(self.overhead_ms, 50),
            "ovh_p99": percentile(self.overhead_ms, 99),
            "send_p50": percentile(self.send_ms, 50),
            "send_p99": percentile(self.send_ms, 99),
            "e2e_p50": percentile(self.e2e_ms, 50),
            "e2e_p95": percentile(self.e2e_ms, 95),
            "e2e_p99": percentile(self.e2e_ms, 99),
            "throughput": self.throughput,
            "rss_mb": self.peak_rss_mb,
            "cpu_ms": self.cpu_ms,
            "failures": float(self.failures),
        }


def _token_of(call: RestCall) -> str | None:
    # /webhooks/{application}/{token}/messages/@original
    parts = call.path.split("/")
    if (
        call.method == "PATCH"
        and call.files
        and len(parts) == 6
        and parts[1] == "webhooks"
        and parts[4:] == ["messages", "@original"]
    ):
        return parts[3]
    return None


class Load:
    """Presses /generate for a set of members at once (or at a rate) and collects the timings."""

    def __init__(self, fake: FakeDiscord, members: Sequence[FakeMember], latency_ms: float) -> None:
        self.fake = fake
        self.members = members
        self.latency_ms = latency_ms

    async def run(
        self,
        side: str,
        n: int,
        *,
        bot: BotProcess | None = None,
        rate_per_s: float | None = None,
        timeout_s: float | None = None,
        options: Callable[[int], dict[str, Any]] = lambda i: {"prompt": PROMPT},
        profile: Path | None = None,
    ) -> LevelResult:
        """`n` members press /generate (all at once, or `rate_per_s` a second) with
        `options(i)`; waits until every result arrived or `timeout_s` passed (failures count
        the missing ones)."""
        fake = self.fake
        if n > len(self.members):
            raise ValueError(f"{n} presses need {n} members; the fake has {len(self.members)}")
        fake.forget_history()
        if bot is not None:
            bot.reset_peak()
        cpu_before = bot.cpu_seconds() if bot is not None else math.nan
        violations_before = len(fake.violations)
        handles: list[InteractionHandle] = []
        profiling = bot.profiled(profile) if bot is not None else contextlib.nullcontext()
        async with profiling:
            started = time.perf_counter()
            for i in range(n):
                if rate_per_s:
                    delay = started + i / rate_per_s - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                member = self.members[i]
                handles.append(await fake.slash("generate", options(i), user=member))
                await asyncio.sleep(0)  # let the gateway writer send it, as a click would
            results = await self._results(handles, timeout_s or 30.0 + n * 0.1)
        result = LevelResult(side, n)
        for handle in handles:
            call = results.get(handle.token)
            if handle.acked_at is not None:
                result.ack_ms.append((handle.acked_at - handle.dispatched_at) * 1000)
            if call is None or call.received_at is None:
                result.failures += 1
                continue
            result.send_ms.append((call.received_at - call.at) * 1000)
            result.e2e_ms.append((call.received_at - handle.dispatched_at) * 1000)
            result.overhead_ms.append((call.at - handle.dispatched_at) * 1000 - self.latency_ms)
        done = [c.received_at for c in results.values() if c.received_at is not None]
        if done:
            first = min(h.dispatched_at for h in handles)
            result.throughput = len(done) / max(1e-9, max(done) - first)
        await asyncio.sleep(0.2)  # whatever the bot does after posting (records) ends in its peak
        if bot is not None:
            result.peak_rss_mb = bot.memory_kb()[1] / 1024
            used = bot.cpu_seconds() - cpu_before
            if done and used >= MIN_CPU_S:  # /proc counts in ticks of 10 ms: no figure from a few
                result.cpu_ms = used * 1000 / len(done)
        result.violations = [str(v) for v in fake.violations[violations_before:]]
        fake.forget_history()
        return result

    async def _results(
        self, handles: list[InteractionHandle], timeout_s: float
    ) -> dict[str, RestCall]:
        wanted = {h.token for h in handles}
        found: dict[str, RestCall] = {}
        seen = 0
        deadline = time.perf_counter() + timeout_s
        while len(found) < len(wanted) and time.perf_counter() < deadline:
            await asyncio.sleep(0.02)
            requests = self.fake.requests
            for call in requests[seen:]:
                token = _token_of(call)
                if token in wanted:
                    found[token] = call
            seen = len(requests)
        return found


def python() -> str:
    return sys.executable
