"""`canvasbot providers`: the configured providers, their models and capabilities, and their
recent record from a database seeded through the Store."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.storage import GenerationStatus, NewGeneration, open_store

SECRET = "sk-test-runware-not-a-real-key"


def attempt(provider: str, outcome: str, **extra: Any) -> dict[str, Any]:
    return {"provider": provider, "outcome": outcome, "detail": "", **extra}


async def seed(url: str) -> dict[str, int]:
    """Generations of the last hours; returns some of their ids by name."""
    ids: dict[str, int] = {}
    new = NewGeneration(1, 10, 20, "a lighthouse", None, "1:1", 1, None, "imagen-4-fast")
    async with open_store(url) as store:

        async def succeed(name: str, provider: str, latency: float, cost: float, **kw: Any) -> None:
            created = await store.create_generation(new)
            ids[name] = created.id
            await store.complete_generation(
                created.id,
                provider=provider,
                model_id="m",
                seeds=[1],
                cost_usd=cost,
                cost_source="reported",
                provider_latency_ms=latency,
                total_latency_ms=latency + 5,
                **kw,
            )

        await succeed(
            "failed_over",
            "runware",
            1000.0,
            0.02,
            attempts=[
                attempt("fal", "failed", error="RateLimited"),
                attempt("runware", "succeeded"),
            ],
        )
        await succeed(
            "hedged",
            "runware",
            3000.0,
            0.04,
            hedge_cost_usd=0.02,
            attempts=[
                attempt("runware", "hedged"),
                attempt("runware", "succeeded"),
                attempt("fal", "cancelled", cost_usd=0.02),
            ],
        )
        await succeed("elsewhere", "replicate", 2000.0, 0.02)
        blocked = await store.create_generation(new)
        await store.fail_generation(
            blocked.id,
            status=GenerationStatus.BLOCKED,
            error="blocked",
            provider="runware",
            attempts=[attempt("runware", "failed", error="ContentBlocked")],
        )
        ids["blocked"] = blocked.id
    return ids


def age(database: Path, generation_id: int, hours: float) -> None:
    """Move a generation back in time (the Store always stamps `now`)."""
    with sqlite3.connect(database) as conn:
        conn.execute(
            "UPDATE generations SET created_at = created_at - ? WHERE id = ?",
            (hours * 3600, generation_id),
        )


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A seeded SQLite database, and an environment holding only what these tests set
    (tests/conftest.py has already cleared every variable the bot reads)."""
    monkeypatch.chdir(tmp_path)  # no .env here
    path = tmp_path / "stats.sqlite3"
    ids = asyncio.run(seed(f"sqlite:///{path}"))
    age(path, ids["blocked"], 3)  # inside 24 h, outside 2 h
    monkeypatch.setenv("CANVASBOT_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("CANVASBOT_PROVIDERS", "runware,fal,local")
    monkeypatch.setenv("RUNWARE_API_KEY", SECRET)
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["providers", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_lists_providers_in_order_with_capabilities_models_and_figures(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "--json")
    assert code == 0, err
    assert SECRET not in out + err
    report = json.loads(out)
    assert (report["database"], report["database_error"], report["hours"]) == ("sqlite", None, 24)
    runware, fal, local = report["providers"]
    assert [(p["position"], p["name"]) for p in report["providers"]] == [
        (1, "runware"),
        (2, "fal"),
        (3, "local"),
    ]
    assert (runware["key_env_var"], runware["key_set"]) == ("RUNWARE_API_KEY", True)
    assert (fal["key_env_var"], fal["key_set"]) == ("FAL_KEY", False)
    assert (local["key_env_var"], local["key_set"]) == (None, None)

    assert runware["capabilities"] == {
        "seed_input": True,
        "seed_output": True,
        "max_images_per_call": 4,
        "max_prompt_chars": 3000,
        "negative_prompt": True,
        "reports_cost": True,
        "cancel": False,
        "safety_knobs": ["safety"],
        "max_concurrency": None,
    }
    assert (fal["capabilities"]["cancel"], fal["capabilities"]["max_concurrency"]) == (True, 10)
    assert runware["models"] == [
        {"key": "imagen-4-fast", "label": "Imagen 4 Fast", "id": "google:2@3", "price_usd": 0.02},
        {"key": "imagen-4", "label": "Imagen 4", "id": "google:2@1", "price_usd": 0.04},
        {"key": "imagen-4-ultra", "label": "Imagen 4 Ultra", "id": "google:2@2", "price_usd": 0.06},
    ]
    assert {m["price_usd"] for m in local["models"]} == {0.0}

    assert runware["stats"] == {
        "requests": 3,
        "successes": 2,
        "failures": 0,
        "refused": 1,
        "cancelled": 0,
        "error_rate": 0.0,
        "p50_ms": 1000.0,
        "p90_ms": 3000.0,
        "spend_usd": 0.06,
        "hedge_spend_usd": 0.0,
    }
    assert fal["stats"]["failures"] == fal["stats"]["cancelled"] == 1
    assert (fal["stats"]["error_rate"], fal["stats"]["hedge_spend_usd"]) == (1.0, 0.02)
    assert local["stats"]["requests"] == 0
    # Figures for a provider no longer configured are still shown, apart.
    assert [(o["name"], o["stats"]["spend_usd"]) for o in report["others"]] == [("replicate", 0.02)]


def test_since_narrows_the_window(database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--json", "--since", "2")
    assert code == 0
    runware = json.loads(out)["providers"][0]
    assert (runware["stats"]["requests"], runware["stats"]["refused"]) == (2, 0)


def test_text_shows_the_same_for_a_terminal(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys)
    assert code == 0, err
    assert SECRET not in out + err
    lines = [line.strip() for line in out.splitlines()]
    assert "figures for the last 24 h from the sqlite database" in lines[0]
    assert "1. runware (Runware) · RUNWARE_API_KEY: set" in lines
    assert "2. fal (fal) · FAL_KEY: NOT SET" in lines
    assert "3. local (offline preview) · no key needed" in lines
    assert "seeds: in yes, out yes · images per call: 4 · prompts up to 3000 characters" in lines
    assert "imagen-4-fast   Imagen 4 Fast   google:2@3  $0.0200 per image" in lines
    assert (
        "last 24 h: 3 requests (2 ok, 0 failed, 1 refused, 0 cancelled) · error rate 0.0% · "
        "p50 1.0 s · p90 3.0 s · spend $0.0600"
    ) in lines
    fal_figures = next(line for line in lines if line.startswith("last 24 h: 2 requests"))
    assert "error rate 100.0%" in fal_figures
    assert "cancelled hedges ~$0.0200" in fal_figures
    assert lines.count("last 24 h: no requests") == 1  # local
    assert any(line.startswith("not configured, in the database: replicate") for line in lines)


def test_an_unreachable_database_still_lists_the_providers_and_fails(
    database: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("asyncpg")
    monkeypatch.setenv("CANVASBOT_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    code, out, _ = run(capsys)
    assert code == 1
    assert "database unavailable: could not open the PostgreSQL database" in out
    assert "1. runware (Runware) · RUNWARE_API_KEY: set" in out
    assert "last 24 h" not in out


def test_an_unknown_provider_is_one_clear_line(
    database: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CANVASBOT_PROVIDERS", "runware,dalle")
    code, out, err = run(capsys)
    assert code == 2
    assert out == ""
    assert "unknown providers: dalle" in err
    assert err.strip().count("\n") == 0


def test_the_installed_command_runs_it(database: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "providers", "--json"],
        cwd=database.parent,
        env=dict(os.environ),  # the fixture's environment
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert [p["name"] for p in json.loads(done.stdout)["providers"]] == ["runware", "fal", "local"]
    assert SECRET not in done.stdout + done.stderr
