"""Canvasbot's load benchmarks: one command, one table.

    PYTHONPATH=. .venv/bin/python -m benchmarks.run                 # the full run (several minutes)
    PYTHONPATH=. .venv/bin/python -m benchmarks.run --quick         # a smoke check (under a minute)
    PYTHONPATH=. .venv/bin/python -m benchmarks.run --n 1,100 --rounds 5 --no-tail

Part 1 (benchmarks/conversation.py): N members press /generate at once against Canvasbot with the
`local` provider and against the floor bot; acknowledgement, bot overhead, send time, throughput
and peak RSS per N, as medians of the rounds. Part 2 (benchmarks/tail.py): end-to-end p50/p95/p99
when one provider stalls 8 s on 10% of calls, without and with hedging to a second provider.
Everything runs on 127.0.0.1; the bots run in their own processes (`python -m bot`). Linux only
(peak RSS comes from /proc).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import os
import platform
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from benchmarks.conversation import SIDES, ConversationConfig, run_conversation, source_of
from benchmarks.harness import LevelResult, median
from benchmarks.tail import TailConfig, TailResult, run_tail

__all__ = ["main"]

# The targets at N = 100 (differences from the floor) and at N = 500 (memory).
ACK_P99_TARGET_MS = 50.0
OVERHEAD_P99_TARGET_MS = 100.0
RSS_TARGET_MB = 250.0

COLUMNS = (
    ("ack_p50", "ack p50"),
    ("ack_p99", "ack p99"),
    ("ovh_p50", "overhead p50"),
    ("ovh_p99", "overhead p99"),
    ("send_p50", "send p50"),
    ("e2e_p99", "end-to-end p99"),
    ("throughput", "results/s"),
    ("rss_mb", "peak RSS MB"),
    ("cpu_ms", "bot CPU ms/result"),
    ("failures", "failed"),
)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import discord

    return (
        f"{os.cpu_count()} cores ({cpu}), Linux {platform.release()}, Python "
        f"{platform.python_version()}, discord.py {discord.__version__}"
    )


def _fmt(value: float, key: str) -> str:
    if math.isnan(value):
        return "—"
    if key == "failures":
        return f"{value:.0f}"
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}"


def _delta(value: float, key: str) -> str:
    if math.isnan(value):
        return "—"
    return ("+" if value >= 0 else "") + _fmt(value, key)


def medians(rounds: list[list[LevelResult]]) -> dict[tuple[str, int], dict[str, float]]:
    """(side, N) → each figure's median over the rounds."""
    per: dict[tuple[str, int], list[dict[str, float]]] = {}
    for results in rounds:
        for result in results:
            per.setdefault((result.side, result.n), []).append(result.figures())
    return {
        key: {name: median([f[name] for f in figures]) for name in figures[0]}
        for key, figures in per.items()
    }


def conversation_table(
    table: dict[tuple[str, int], dict[str, float]], levels: Sequence[int], sides: Sequence[str]
) -> str:
    head = ["N", "bot", *(title for _, title in COLUMNS)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for n in levels:
        for side in sides:
            row = table.get((side, n))
            if row is None:
                continue
            cells = [_fmt(row[key], key) for key, _ in COLUMNS]
            lines.append(f"| {n} | {side} | " + " | ".join(cells) + " |")
        bot, floor = table.get(("canvasbot", n)), table.get(("floor", n))
        if bot and floor:
            cells = [
                "" if key in ("failures",) else _delta(bot[key] - floor[key], key)
                for key, _ in COLUMNS
            ]
            lines.append(f"| {n} | **canvasbot − floor** | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdicts(table: dict[tuple[str, int], dict[str, float]]) -> list[str]:
    out = []
    bot, floor = table.get(("canvasbot", 100)), table.get(("floor", 100))
    if bot and floor:
        ack = bot["ack_p99"] - floor["ack_p99"]
        ovh = bot["ovh_p99"] - floor["ovh_p99"]
        out.append(
            f"N=100 acknowledgement p99 − floor: {ack:+.1f} ms "
            f"(target ≤ {ACK_P99_TARGET_MS:.0f}): {'met' if ack <= ACK_P99_TARGET_MS else 'MISSED'}"
        )
        out.append(
            f"N=100 overhead p99 − floor: {ovh:+.1f} ms (target ≤ {OVERHEAD_P99_TARGET_MS:.0f}): "
            f"{'met' if ovh <= OVERHEAD_P99_TARGET_MS else 'MISSED'}"
        )
    big = table.get(("canvasbot", 500))
    if big:
        rss = big["rss_mb"]
        out.append(
            f"N=500 Canvasbot peak RSS: {rss:.0f} MB (target < {RSS_TARGET_MB:.0f}): "
            f"{'met' if rss < RSS_TARGET_MB else 'MISSED'}"
        )
    return out


def tail_table(results: dict[str, list[TailResult]]) -> str:
    head = ["hedging", "p50", "p95", "p99", "max", "second-provider calls", "failed"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, rounds in results.items():
        figures = [r.figures() for r in rounds]
        row = {k: median([f[k] for f in figures]) for k in figures[0]}
        lines.append(
            f"| {label} | {row['p50'] / 1000:.2f} s | {row['p95'] / 1000:.2f} s | "
            f"{row['p99'] / 1000:.2f} s | {row['max'] / 1000:.2f} s | "
            f"{row['second']:.0f} | {row['failures']:.0f} |"
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--n", default="1,10,100,500", help="load levels (default 1,10,100,500)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds to take medians of")
    parser.add_argument("--latency-ms", type=float, default=1000.0, help="provider latency")
    parser.add_argument(
        "--image-bytes", type=int, default=1_000_000, help="JPEG size (0: the preview's ~50 KB)"
    )
    parser.add_argument(
        "--sides",
        default=",".join(SIDES),
        help="bots to measure, alternately (also canvasbot@DIR: Canvasbot from the source in DIR)",
    )
    parser.add_argument(
        "--distinct-prompts",
        action="store_true",
        help="every member a different prompt (the local provider then renders every image)",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke check: small and short")
    parser.add_argument("--no-tail", action="store_true", help="skip the tail benchmark")
    parser.add_argument("--tail-only", action="store_true", help="only the tail benchmark")
    parser.add_argument("--tail-requests", type=int, default=200, help="requests per tail run")
    parser.add_argument("--tail-rate", type=float, default=20.0, help="tail requests a second")
    parser.add_argument("--hedge-ms", default="", help="also hedge after this fixed delay (ms)")
    parser.add_argument("--json", type=Path, help="write every round's raw figures here")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="sample Canvasbot with py-spy (pip install '.[bench]') into DIR, one file per level",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.rounds = "1,10", 1
        args.tail_requests, args.tail_rate = 30, 15.0
    return args


async def amain(args: argparse.Namespace) -> int:
    levels = tuple(int(x) for x in args.n.split(",") if x.strip())
    sides = tuple(s.strip() for s in args.sides.split(",") if s.strip())
    unknown = [s for s in sides if s not in SIDES and not s.startswith("canvasbot@")]
    if unknown:
        print(f"unknown sides {unknown}; known: {', '.join(SIDES)}", file=sys.stderr)
        return 2
    try:
        for side in sides:
            source_of(side)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"# Canvasbot benchmarks, {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}")
    print(f"# {machine()}")
    raw: dict[str, object] = {}
    code = 0
    if not args.tail_only:
        config = ConversationConfig(
            levels=levels,
            rounds=args.rounds,
            latency_ms=args.latency_ms,
            image_bytes=args.image_bytes,
            sides=sides,
            profile_dir=args.profile,
            distinct_prompts=args.distinct_prompts,
        )
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
        print(
            f"\n## /generate under load: provider latency {args.latency_ms:g} ms, "
            f"images {args.image_bytes or 'natural size (~50 KB)'} bytes, "
            f"{args.rounds} round(s), sides alternating\n"
        )

        def report(round_index: int, result: LevelResult) -> None:
            f = result.figures()
            print(
                f"  round {round_index + 1}  N={result.n:<4} {result.side:<11} "
                f"ack p99 {f['ack_p99']:7.1f} ms  overhead p50/p99 {f['ovh_p50']:7.1f} / "
                f"{f['ovh_p99']:7.1f} ms  send p50 {f['send_p50']:6.1f} ms  "
                f"{f['throughput']:6.1f}/s  RSS {f['rss_mb']:5.0f} MB  CPU {f['cpu_ms']:5.1f} ms  "
                f"failed {result.failures}"
                + (f"  violations {len(result.violations)}" if result.violations else ""),
                flush=True,
            )

        rounds = await run_conversation(config, report)
        table = medians(rounds)
        print("\nMedians of the rounds (ms unless stated):\n")
        print(conversation_table(table, levels, sides))
        print()
        for line in verdicts(table):
            print(line)
        if any(r.failures or r.violations for results in rounds for r in results):
            code = 1
            for results in rounds:
                for r in results:
                    for violation in r.violations[:5]:
                        print(f"  {r.side} N={r.n}: {violation}")
        raw["conversation"] = [[asdict(r) for r in results] for results in rounds]
    if not args.no_tail:
        hedges = ["adaptive"] + [h for h in args.hedge_ms.split(",") if h.strip()]
        tail_config = TailConfig(
            requests=args.tail_requests,
            rate_per_s=args.tail_rate,
            rounds=args.rounds,
            hedges=("0", *hedges),
        )
        print(
            f"\n## Tail: provider A stalls {tail_config.stall_s:g} s on "
            f"every {tail_config.stall_every}th call, else {tail_config.latency_ms:g} ms; "
            f"provider B {tail_config.latency_ms:g} ms; {tail_config.requests} requests at "
            f"{tail_config.rate_per_s:g}/s, {tail_config.rounds} round(s)\n",
            flush=True,
        )
        tail = await run_tail(tail_config, lambda line: print("  " + line, flush=True))
        print("\nEnd to end (INTERACTION_CREATE → result received), medians of the rounds:\n")
        print(tail_table(tail))
        raw["tail"] = {k: [asdict(r) for r in v] for k, v in tail.items()}
    if args.json:
        args.json.write_text(json.dumps(raw, indent=1))
    return code


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(amain(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
