"""Per-provider figures from recorded generations, computed the same way for every engine.

Each engine reads the generations since a moment (`GenerationFacts`, one per row) and hands them
to `provider_stats`. A row's `attempts` say which providers were called and how each call ended;
a row recorded before attempts were (migration 0003) counts once, for its own provider and status.
Percentiles are nearest-rank, like the router's p90 (providers/health.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.storage.models import GenerationStatus, ProviderStats

__all__ = ["REFUSALS", "GenerationFacts", "percentile", "provider_stats"]

# Errors about the prompt or the options, not the provider's health (the router neither fails
# over on them nor counts them against the circuit breaker).
REFUSALS = frozenset({"ContentBlocked", "InvalidRequest"})


@dataclass(frozen=True, slots=True)
class GenerationFacts:
    """The columns of one generation that the figures need."""

    provider: str | None
    status: str
    attempts: Sequence[Mapping[str, Any]]
    provider_latency_ms: float | None
    cost_usd: float | None


@dataclass
class _Tally:
    successes: int = 0
    failures: int = 0
    refused: int = 0
    cancelled: int = 0
    latencies: list[float] = field(default_factory=list)
    spend: float = 0.0
    hedge_spend: float = 0.0


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile (0 < fraction ≤ 1); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def provider_stats(rows: Iterable[GenerationFacts]) -> list[ProviderStats]:
    """One `ProviderStats` per provider that appears in `rows`, by name."""
    tallies: dict[str, _Tally] = {}

    def tally(name: str) -> _Tally:
        return tallies.setdefault(name, _Tally())

    for row in rows:
        if row.attempts:
            for attempt in row.attempts:
                name, outcome = attempt.get("provider"), attempt.get("outcome")
                if not isinstance(name, str) or not name:
                    continue
                if outcome == "succeeded":
                    tally(name).successes += 1
                elif outcome == "failed":
                    if attempt.get("error") in REFUSALS:
                        tally(name).refused += 1
                    else:
                        tally(name).failures += 1
                elif outcome == "cancelled":
                    tally(name).cancelled += 1
                    tally(name).hedge_spend += float(attempt.get("cost_usd") or 0.0)
                # skipped: never sent; hedged: a marker, its call ends in one of the above.
        elif row.provider:
            if row.status == GenerationStatus.SUCCEEDED:
                tally(row.provider).successes += 1
            elif row.status == GenerationStatus.FAILED:
                tally(row.provider).failures += 1
            elif row.status == GenerationStatus.BLOCKED:
                tally(row.provider).refused += 1
        if row.status == GenerationStatus.SUCCEEDED and row.provider:
            winner = tally(row.provider)
            if row.provider_latency_ms is not None:
                winner.latencies.append(float(row.provider_latency_ms))
            winner.spend += float(row.cost_usd or 0.0)
    return [
        ProviderStats(
            provider=name,
            requests=t.successes + t.failures + t.refused + t.cancelled,
            successes=t.successes,
            failures=t.failures,
            refused=t.refused,
            cancelled=t.cancelled,
            p50_ms=percentile(t.latencies, 0.5),
            p90_ms=percentile(t.latencies, 0.9),
            spend_usd=round(t.spend, 6),
            hedge_spend_usd=round(t.hedge_spend, 6),
        )
        for name, t in sorted(tallies.items())
    ]
