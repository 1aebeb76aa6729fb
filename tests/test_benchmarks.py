"""The benchmarks are not run by the test suite (they take minutes); this only checks that they
import and that their arithmetic and tables hold together."""

from __future__ import annotations

import math

from benchmarks.harness import LevelResult, percentile
from benchmarks.run import conversation_table, medians, parse_args, verdicts


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))


def test_quick_mode_is_small() -> None:
    args = parse_args(["--quick"])
    assert args.n == "1,10"
    assert args.rounds == 1


def test_the_table_shows_each_side_and_the_difference_from_the_floor() -> None:
    def level(side: str, overhead: float, rss: float) -> LevelResult:
        return LevelResult(
            side,
            100,
            ack_ms=[10.0, 20.0],
            overhead_ms=[overhead, overhead + 10],
            send_ms=[1.0],
            e2e_ms=[1000 + overhead],
            throughput=50.0,
            peak_rss_mb=rss,
            cpu_ms=1.0,
        )

    rounds = [[level("canvasbot", 40.0, 120.0), level("floor", 30.0, 60.0)]]
    table = medians(rounds)
    text = conversation_table(table, [100], ["canvasbot", "floor"])
    assert "| 100 | canvasbot |" in text
    assert "| 100 | **canvasbot − floor** | +0.0 | +0.0 | +10.0 | +10.0 |" in text
    assert any("overhead p99" in line and "met" in line for line in verdicts(table))
