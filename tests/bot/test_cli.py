"""The `canvasbot` command as a user runs it: a real subprocess in a scratch folder."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from PIL import Image

from tests.fakes.runware_fake import RunwareFake
from tests.fakes.scripting import jpeg_bytes
from tests.support.environment import without_bot_variables


def canvasbot(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = without_bot_variables(os.environ)
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=tmp_path,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_run_without_a_token_names_the_setting_and_the_offline_try(tmp_path: Path) -> None:
    done = canvasbot(tmp_path, "run")
    assert done.returncode != 0
    assert "DISCORD_TOKEN" in done.stderr
    assert "canvasbot generate" in done.stderr


def test_generate_writes_images_and_prints_json(tmp_path: Path) -> None:
    done = canvasbot(
        tmp_path,
        "generate",
        "a quiet harbour",
        "--count",
        "2",
        "--seed",
        "9",
        "--aspect",
        "4:3",
        "--out",
        "out",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["provider"] == "local"
    assert summary["cost_usd"] == 0
    assert [image["seed"] for image in summary["images"]] == [9, 10]
    for image in summary["images"]:
        assert Image.open(tmp_path / image["path"]).size == (1280, 896)
    assert (tmp_path / "canvasbot.sqlite3").exists()


def test_generate_with_bad_options_fails_with_one_clear_line(tmp_path: Path) -> None:
    done = canvasbot(tmp_path, "generate", "a" * 3001, "--out", "out")
    assert done.returncode != 0
    assert done.stderr.strip().count("\n") == 0
    assert "3000" in done.stderr


def test_doctor_reports_providers_and_database(tmp_path: Path) -> None:
    done = canvasbot(tmp_path, "doctor", RUNWARE_API_KEY="sk-test-not-a-real-key")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "RUNWARE_API_KEY: set" in done.stdout
    assert "active providers, in order: runware" in done.stdout
    assert "database: sqlite opens" in done.stdout
    assert "sk-test-not-a-real-key" not in done.stdout + done.stderr


async def run_async(tmp_path: Path, *args: str, **env: str) -> tuple[int, str, str]:
    clean = without_bot_variables(os.environ)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        *args,
        cwd=tmp_path,
        env={**clean, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_generate_through_runware_reports_its_cost_and_seeds(tmp_path: Path) -> None:
    async with RunwareFake() as runware:
        code, out, err = await run_async(
            tmp_path,
            "generate",
            "a tram depot in the rain",
            "--provider",
            "runware",
            "--count",
            "2",
            "--aspect",
            "16:9",
            "--out",
            "out",
            "--json",
            RUNWARE_API_KEY=runware.api_key,
            RUNWARE_BASE_URL=runware.url,
        )
    assert code == 0, err
    summary = json.loads(out)
    assert summary["provider"] == "runware"
    assert summary["model"] == "google:2@3"
    assert summary["cost_usd"] == 0.04
    # The bytes came inline (no download): each file holds the image served for its seed.
    assert [(tmp_path / image["path"]).read_bytes() for image in summary["images"]] == [
        jpeg_bytes(image["seed"]) for image in summary["images"]
    ]
    assert all(image["url"] is None for image in summary["images"])
    assert runware.tasks[0]["width"] == 1408


async def test_a_rejected_key_is_one_clear_line_naming_the_variable(tmp_path: Path) -> None:
    async with RunwareFake() as runware:
        code, out, err = await run_async(
            tmp_path,
            "generate",
            "a tram depot",
            "--out",
            "out",
            RUNWARE_API_KEY="rw-wrong-key-0000",
            RUNWARE_BASE_URL=runware.url,
        )
    assert code != 0
    assert "key was rejected" in err
    assert "RUNWARE_API_KEY" in err
    assert err.strip().count("\n") == 0
    assert "rw-wrong-key-0000" not in out + err


async def test_usage_exports_the_ledger_as_csv(tmp_path: Path) -> None:
    from bot.services.quotas import QuotaService
    from bot.storage import open_store

    url = f"sqlite:///{tmp_path / 'canvasbot.sqlite3'}"
    async with open_store(url) as store:
        quotas = QuotaService(store)
        kept = await quotas.reserve(11, 77, (), images=2, est_usd=0.04)
        await quotas.commit(kept.id, 0.04)
        dropped = await quotas.reserve(12, 88, (), images=1, est_usd=0.02)
        await quotas.release(dropped.id, "failed")
    today = datetime.now(UTC).date().isoformat()
    code, out, err = await run_async(
        tmp_path, "usage", "--since", today, "--csv", CANVASBOT_DATABASE_URL=url
    )
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["user_id"], r["status"]) for r in rows] == [("11", "committed"), ("12", "released")]
    code, out, _ = await run_async(
        tmp_path, "usage", "--since", today, "--guild", "77", "--csv", CANVASBOT_DATABASE_URL=url
    )
    assert [r["user_id"] for r in csv.DictReader(io.StringIO(out))] == ["11"]
    code, _, err = await run_async(tmp_path, "usage", "--since", "last week")
    assert code == 2
    assert "--since" in err
