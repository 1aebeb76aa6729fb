"""One OS process of the multi-process ledger tests: `python -m tests.bot.storage.reserve_worker`.

It opens its own store on the URL from its JSON config (argv[1]) and talks JSON lines: it writes an
event to stdout, then waits for the next command on stdin, so the test synchronises on messages,
never on sleeps.

mode "waves":
  → {"event": "wave", "ok": [ids], "refused": [limit names]}   every config request, at once
  ← {"commit": [own ids], "release": [ids, anyone's]}
  → {"event": "settled", "committed": n, "released": n, "released_committed": n}
       commits its ids at the estimate; releases every listed id twice, concurrently; then tries
       to release its committed ids again: the counts are how many calls returned True
  ← {"wave": "second"}  → {"event": "wave", ...} for the config's second wave
  ← {"exit": true}
mode "crash":
  → {"event": "reserved", "id": id, "expires_at": iso}   then waits to be killed
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime, timedelta
from typing import Any

from bot.storage import Store, open_store
from bot.storage.models import EffectiveLimits, QuotaRefusal, Reservation, ReservationRequest


def _store(url: str) -> Store:
    if url.startswith("postgres"):
        from bot.storage.postgres import PostgresStore

        return PostgresStore(url, max_size=4)  # the server is shared: keep the pool small
    return open_store(url)


def emit(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


async def command() -> dict[str, Any]:
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    if not line:
        raise SystemExit("stdin closed")
    return json.loads(line)


async def wave(
    store: Store, limits: EffectiveLimits, now: datetime, requests: list[list[Any]]
) -> dict[str, Any]:
    outcomes = await asyncio.gather(
        *(
            store.reserve(ReservationRequest(user, guild, images, usd), limits, now=now)
            for user, guild, images, usd in requests
        )
    )
    return {
        "event": "wave",
        "ok": [o.id for o in outcomes if isinstance(o, Reservation)],
        "refused": [o.limit.value for o in outcomes if isinstance(o, QuotaRefusal)],
    }


async def waves(store: Store, config: dict[str, Any]) -> None:
    limits = EffectiveLimits(**config["limits"])
    now = datetime.fromisoformat(config["now"])
    emit(await wave(store, limits, now, config["first"]))

    orders = await command()

    async def commit_at_estimate(rid: int) -> bool:
        reservation = await store.get_reservation(rid)
        assert reservation is not None
        return await store.commit_reservation(rid, reservation.est_usd, now=now)

    commits = await asyncio.gather(*(commit_at_estimate(rid) for rid in orders["commit"]))
    releases = await asyncio.gather(
        *(store.release_reservation(rid, "test", now=now) for rid in orders["release"] * 2)
    )
    again = await asyncio.gather(
        *(store.release_reservation(rid, "test", now=now) for rid in orders["commit"])
    )
    emit(
        {
            "event": "settled",
            "committed": sum(commits),
            "released": sum(releases),
            "released_committed": sum(again),
        }
    )

    await command()
    emit(await wave(store, limits, now, config["second"]))
    await command()


async def crash(store: Store, config: dict[str, Any]) -> None:
    user, guild, images, usd = config["request"]
    outcome = await store.reserve(
        ReservationRequest(user, guild, images, usd),
        EffectiveLimits(**config["limits"]),
        now=datetime.fromisoformat(config["now"]),
        ttl=timedelta(seconds=config["ttl_seconds"]),
    )
    assert isinstance(outcome, Reservation), outcome
    emit({"event": "reserved", "id": outcome.id, "expires_at": outcome.expires_at.isoformat()})
    await command()  # never answered: the test kills this process here


async def main(config: dict[str, Any]) -> None:
    async with _store(config["url"]) as store:
        if config["mode"] == "crash":
            await crash(store, config)
        else:
            await waves(store, config)


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
