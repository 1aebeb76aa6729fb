"""The tail benchmark: one provider stalls 8 s on 10% of its calls; what does hedging buy?

Canvasbot runs (in its own process, against the loopback Discord) with two providers in order,
Runware then AI/ML API, each the repository's loopback fake behind a latency middleware: provider A
answers in `latency_ms` except every `stall_every`th call, which takes `stall_s`; provider B always
answers in `latency_ms`. Members press /generate at a steady rate; each configuration of
CANVASBOT_HEDGE_AFTER_MS (0: no hedging; unset: adaptive, the provider's p90; or a fixed delay)
gets its own bot and fakes, run alternately, and reports end-to-end p50/p95/p99 (INTERACTION_CREATE
dispatched → result received) and how many calls went to the second provider.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from benchmarks.harness import BotProcess, Load, base_env, discord_env, percentile, python
from tests.fakes.aimlapi_fake import PATH as AIMLAPI_PATH
from tests.fakes.aimlapi_fake import AimlApiFake
from tests.fakes.discord import FakeDiscord
from tests.fakes.runware_fake import RunwareFake

__all__ = ["TailConfig", "TailResult", "run_tail"]

WARMUP = 10


@dataclass(frozen=True)
class TailConfig:
    requests: int = 200
    rate_per_s: float = 20.0
    rounds: int = 3
    latency_ms: float = 1000.0
    stall_s: float = 8.0
    stall_every: int = 10
    hedges: tuple[str, ...] = ("0", "adaptive")  # CANVASBOT_HEDGE_AFTER_MS; "adaptive": unset


@dataclass
class TailResult:
    label: str
    e2e_ms: list[float] = field(default_factory=list)
    second_provider_calls: int = 0
    failures: int = 0

    def figures(self) -> dict[str, float]:
        return {
            "p50": percentile(self.e2e_ms, 50),
            "p95": percentile(self.e2e_ms, 95),
            "p99": percentile(self.e2e_ms, 99),
            "max": max(self.e2e_ms) if self.e2e_ms else math.nan,
            "second": float(self.second_provider_calls),
            "failures": float(self.failures),
        }


def label_of(hedge: str) -> str:
    if hedge == "0":
        return "off (CANVASBOT_HEDGE_AFTER_MS=0)"
    if hedge == "adaptive":
        return "adaptive (default: A's p90)"
    return f"fixed {hedge} ms"


def delaying(
    path: str, latency_s: float, *, stall_s: float = 0.0, stall_every: int = 0
) -> Callable[[web.Request, Callable[[web.Request], Awaitable[web.StreamResponse]]], Awaitable]:
    """Middleware: POSTs to `path` wait `latency_s`, every `stall_every`th one `stall_s`."""
    calls = itertools.count(1)

    @web.middleware
    async def middleware(
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        if request.method == "POST" and request.path == path:
            await request.read()  # before a hedge's cancel can close the connection
            stalls = stall_every and next(calls) % stall_every == 0
            await asyncio.sleep(stall_s if stalls else latency_s)
        return await handler(request)

    return middleware


@dataclass
class _Setup:
    hedge: str
    fake: FakeDiscord
    second: AimlApiFake
    bot: BotProcess
    load: Load


async def _start(
    stack: contextlib.AsyncExitStack, hedge: str, config: TailConfig, workdir: Path
) -> _Setup:
    latency_s = config.latency_ms / 1000
    first = RunwareFake()
    first.app.middlewares.append(
        delaying("/v1", latency_s, stall_s=config.stall_s, stall_every=config.stall_every)
    )
    second = AimlApiFake()
    second.app.middlewares.append(delaying(AIMLAPI_PATH, latency_s))
    await stack.enter_async_context(first)
    await stack.enter_async_context(second)
    fake = await stack.enter_async_context(FakeDiscord())
    members = [
        fake.add_member(fake.guild, name=f"member{i}") for i in range(max(config.requests, WARMUP))
    ]
    folder = workdir / f"hedge-{hedge}"
    folder.mkdir()
    env = base_env() | discord_env(fake)
    env |= {
        "CANVASBOT_PROVIDERS": "runware,aimlapi",
        "RUNWARE_API_KEY": first.api_key,
        "RUNWARE_BASE_URL": first.url,
        "AIMLAPI_API_KEY": second.api_key,
        "AIMLAPI_BASE_URL": second.base_url,
        "CANVASBOT_DATABASE_URL": f"sqlite:///{folder / 'canvasbot.sqlite3'}",
        "CANVASBOT_LOG_LEVEL": "INFO",
    }
    if hedge != "adaptive":
        env["CANVASBOT_HEDGE_AFTER_MS"] = hedge
    bot = BotProcess(f"canvasbot (hedge {hedge})", [python(), "-m", "bot"], env, folder)
    stack.push_async_callback(bot.stop)
    await bot.start(fake, "ready as")
    # Provider latency is not subtracted here: these are end-to-end figures.
    return _Setup(hedge, fake, second, bot, Load(fake, members, 0.0))


async def run_tail(config: TailConfig, say: Callable[[str], None]) -> dict[str, list[TailResult]]:
    """label → one TailResult per round."""
    results: dict[str, list[TailResult]] = {label_of(h): [] for h in config.hedges}
    for round_index in range(config.rounds):
        with tempfile.TemporaryDirectory(prefix="canvasbot-tail-") as tmp:
            async with contextlib.AsyncExitStack() as stack:
                setups = [await _start(stack, h, config, Path(tmp)) for h in config.hedges]
                for setup in setups:
                    await setup.load.run(setup.hedge, WARMUP, rate_per_s=config.rate_per_s)
                k = round_index % len(setups)
                for setup in [*setups[k:], *setups[:k]]:
                    await asyncio.sleep(0.5)
                    before = len(setup.second.requests)
                    level = await setup.load.run(
                        setup.hedge,
                        config.requests,
                        rate_per_s=config.rate_per_s,
                        timeout_s=config.requests / config.rate_per_s + 60.0,
                    )
                    result = TailResult(
                        label_of(setup.hedge),
                        level.e2e_ms,
                        len(setup.second.requests) - before,
                        level.failures,
                    )
                    results[result.label].append(result)
                    f = result.figures()
                    say(
                        f"round {round_index + 1}  {result.label:<34} p50 {f['p50'] / 1000:5.2f} s"
                        f"  p95 {f['p95'] / 1000:5.2f} s  p99 {f['p99'] / 1000:5.2f} s  "
                        f"second provider {result.second_provider_calls}  failed {result.failures}"
                    )
    return results
