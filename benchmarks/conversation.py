"""The conversational benchmark: N members press /generate at once; how fast does each see the bot
react, and how much of the wait is the bot's own? Canvasbot against the floor, alternately.

Sides (each a bot in its own process with its own loopback Discord, all alive for a round):
- `canvasbot`: `python -m bot` with the `local` provider at the given latency and image size;
- `floor`: benchmarks/floor_bot.py posting an image of the same size (like with like);
- `floor-tiny`: the floor posting a tiny image;
- `canvasbot@DIR`: Canvasbot from another source tree (e.g. `git archive` of an older commit
  unpacked in DIR), to compare two versions under the same alternation.

In every round each load level runs on every side in turn, the order rotating, so background
load on this shared machine falls on all sides alike; the figures quoted are medians of the
rounds' figures. See benchmarks/harness.py for the definitions.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from benchmarks.harness import (
    PROMPT,
    BotProcess,
    LevelResult,
    Load,
    base_env,
    discord_env,
    python,
)
from providers.local import render_preview
from tests.fakes.discord import FakeDiscord, FakeMember

__all__ = ["SIDES", "ConversationConfig", "run_conversation", "source_of"]

SIDES = ("canvasbot", "floor", "floor-tiny")
WARMUP = 5
# Quota limits (read by the quota service once it is wired in): generous, so none refuses.
GENEROUS_QUOTAS = {
    "CANVASBOT_USER_DAILY_IMAGES": "1000000",
    "CANVASBOT_USER_DAILY_USD": "1000000",
    "CANVASBOT_COOLDOWN_SECONDS": "0",
    "CANVASBOT_MAX_CONCURRENT_PER_USER": "1000",
    "CANVASBOT_GUILD_MONTHLY_USD": "1000000",
    "CANVASBOT_GLOBAL_DAILY_USD": "1000000",
}


@dataclass(frozen=True)
class ConversationConfig:
    levels: tuple[int, ...] = (1, 10, 100, 500)
    rounds: int = 3
    latency_ms: float = 1000.0
    image_bytes: int = 1_000_000
    sides: tuple[str, ...] = SIDES
    profile_dir: Path | None = None  # py-spy samples of Canvasbot, one file per level
    # False: every member asks for the same prompt and seed, so the local provider's picture
    # (standing in for a remote model's work) is not what is measured; True: all different.
    distinct_prompts: bool = False


@dataclass
class Side:
    name: str
    fake: FakeDiscord
    members: list[FakeMember]
    bot: BotProcess
    load: Load


def source_of(side: str) -> str | None:
    """The source tree of a `canvasbot@DIR` side (checked), else None."""
    if not side.startswith("canvasbot@"):
        return None
    source = os.path.abspath(side.split("@", 1)[1])
    if not os.path.isfile(os.path.join(source, "bot", "__main__.py")):
        raise ValueError(f"{source} holds no Canvasbot source tree (bot/__main__.py)")
    return source


def tiny_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (88, 101, 242)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def floor_image(image_bytes: int) -> bytes:
    """What Canvasbot's local provider makes for a square image of that size."""
    return render_preview("the floor", 1, 1024, 1024, size_bytes=image_bytes)


async def _start_side(
    name: str, config: ConversationConfig, workdir: Path, members: int
) -> tuple[Side, contextlib.AsyncExitStack]:
    stack = contextlib.AsyncExitStack()
    try:
        return await _start_side_in(stack, name, config, workdir, members), stack
    except BaseException:
        await stack.aclose()
        raise


async def _start_side_in(
    stack: contextlib.AsyncExitStack,
    name: str,
    config: ConversationConfig,
    workdir: Path,
    members: int,
) -> Side:
    fake = await stack.enter_async_context(FakeDiscord())
    people = [fake.add_member(fake.guild, name=f"member{i}") for i in range(members)]
    folder = workdir / name.replace("/", "_")
    folder.mkdir()
    env = base_env() | discord_env(fake)
    source = source_of(name)
    if source is not None:
        env["PYTHONPATH"] = source
    if name == "canvasbot" or source is not None:
        env |= GENEROUS_QUOTAS | {
            "CANVASBOT_PROVIDERS": "local",
            "CANVASBOT_LOCAL_LATENCY_MS": f"{config.latency_ms:g}",
            "CANVASBOT_LOCAL_IMAGE_BYTES": str(config.image_bytes),
            "CANVASBOT_DATABASE_URL": f"sqlite:///{folder / 'canvasbot.sqlite3'}",
            "CANVASBOT_LOG_LEVEL": "INFO",
        }
        argv, marker = [python(), "-m", "bot"], "ready as"
    else:
        image = tiny_jpeg() if name == "floor-tiny" else floor_image(config.image_bytes)
        (folder / "image.jpg").write_bytes(image)
        env |= {
            "FLOOR_LATENCY_MS": f"{config.latency_ms:g}",
            "FLOOR_IMAGE_PATH": str(folder / "image.jpg"),
        }
        argv, marker = [python(), "-m", "benchmarks.floor_bot"], "floor ready"
    bot = BotProcess(name, argv, env, folder)
    stack.push_async_callback(bot.stop)
    await bot.start(fake, marker)
    return Side(name, fake, people, bot, Load(fake, people, config.latency_ms))


async def run_conversation(
    config: ConversationConfig, report: Callable[[int, LevelResult], None]
) -> list[list[LevelResult]]:
    """Every round's results; `report(round, result)` is called as each level finishes."""
    rounds: list[list[LevelResult]] = []
    members = max(*config.levels, WARMUP)

    def options(i: int) -> dict[str, Any]:
        if config.distinct_prompts:
            return {"prompt": f"{PROMPT} #{i}"}
        return {"prompt": PROMPT, "seed": 42}

    for round_index in range(config.rounds):
        with tempfile.TemporaryDirectory(prefix="canvasbot-bench-") as tmp:
            async with contextlib.AsyncExitStack() as stack:
                started = await asyncio.gather(
                    *(_start_side(name, config, Path(tmp), members) for name in config.sides),
                    return_exceptions=True,
                )
                sides: list[Side] = []
                for item in started:
                    if not isinstance(item, BaseException):
                        side, side_stack = item
                        stack.push_async_exit(side_stack)
                        sides.append(side)
                for item in started:
                    if isinstance(item, BaseException):
                        raise item
                for side in sides:  # connections, caches and code paths warm, as in production
                    await side.load.run(side.name, WARMUP, bot=side.bot, options=options)
                results: list[LevelResult] = []
                for level_index, n in enumerate(config.levels):
                    for side in _rotated(sides, round_index + level_index):
                        await asyncio.sleep(0.5)  # let the previous side's process settle
                        profile = None
                        if config.profile_dir is not None and side.name.startswith("canvasbot"):
                            label = side.name.replace("/", "_")
                            profile = config.profile_dir / f"{label}-n{n}-r{round_index + 1}.txt"
                        result = await side.load.run(
                            side.name, n, bot=side.bot, options=options, profile=profile
                        )
                        results.append(result)
                        report(round_index, result)
                rounds.append(results)
    return rounds


def _rotated(items: Sequence[Side], by: int) -> list[Side]:
    k = by % len(items)
    return [*items[k:], *items[:k]]
