"""Prometheus metrics (prometheus-client): what operators graph and alert on.

One `Metrics` object per process, on its own registry (tests make their own). Served on
CANVASBOT_METRICS_PORT when set; off by default.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["Metrics"]

LATENCY_BUCKETS = (0.25, 0.5, 1, 1.5, 2, 3, 4, 5, 7.5, 10, 15, 30, 60, 120)
ACK_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3)
BREAKER_VALUES = {"closed": 0, "half_open": 1, "open": 2}


class _LiveGauges(Collector):
    """Values read at scrape time: breaker states and open reservations."""

    def __init__(self) -> None:
        self.breakers: Callable[[], Iterable[tuple[str, str]]] = lambda: ()
        self.reservations_open: Callable[[], float] = lambda: 0.0

    def collect(self) -> Iterable[GaugeMetricFamily]:
        breaker = GaugeMetricFamily(
            "canvasbot_provider_breaker_state",
            "Circuit breaker per provider: 0 closed, 1 half-open, 2 open",
            labels=["provider"],
        )
        for provider, state in self.breakers():
            breaker.add_metric([provider], BREAKER_VALUES.get(state, 0))
        yield breaker
        yield GaugeMetricFamily(
            "canvasbot_reservations_open",
            "Quota reservations taken and not yet settled",
            value=self.reservations_open(),
        )


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.generations = Counter(
            "canvasbot_generations",
            "Generations by provider, model and outcome",
            ["provider", "model", "outcome"],
            registry=r,
        )
        self.generation_seconds = Histogram(
            "canvasbot_generation_seconds",
            "Request accepted → images ready, seconds",
            ["provider"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.provider_seconds = Histogram(
            "canvasbot_provider_seconds",
            "Time inside the provider call, seconds",
            ["provider"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.acknowledgement_seconds = Histogram(
            "canvasbot_acknowledgement_seconds",
            "Interaction created → deferred, seconds",
            buckets=ACK_BUCKETS,
            registry=r,
        )
        self.spend_usd = Counter(
            "canvasbot_spend_usd", "Dollars charged, by provider", ["provider"], registry=r
        )
        self.hedge_spend_usd = Counter(
            "canvasbot_hedge_spend_usd",
            "Estimated cost of cancelled hedges",
            ["provider"],
            registry=r,
        )
        self.in_flight = Gauge(
            "canvasbot_generations_in_flight", "Generations running now", registry=r
        )
        self.live = _LiveGauges()
        r.register(self.live)

    def serve(self, port: int, addr: str = "0.0.0.0") -> None:
        start_http_server(port, addr=addr, registry=self.registry)
