"""The `canvasbot` command: run the bot, generate offline, check the set-up, migrate, and show
the providers with their recent record."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from pydantic import ValidationError

from bot.app import ConfigurationError, open_app
from bot.logs import configure_logging
from bot.services.errors import GenerationFailed, UserFacingError
from bot.services.generation import GenerationOptions, Outcome, Requester
from bot.services.quotas import QuotaService, UsageRow, write_usage_csv
from bot.settings import KNOWN_PROVIDERS, Settings
from bot.storage import StoreError, open_store
from providers.base import Aspect
from providers.catalog import Catalog

__all__ = ["main"]

CLI_USER_ID = 0  # generations from the command line are recorded as user 0

NO_TOKEN = """\
canvasbot: DISCORD_TOKEN is not set.
  Put it in a .env file or the environment (README: "Create the Discord application").
  To try Canvasbot without Discord:  canvasbot generate "a lighthouse at dawn" --out out/"""


def _fail(message: str, code: int = 1) -> int:
    print(f"canvasbot: {message}", file=sys.stderr)
    return code


def _load_settings() -> Settings:
    return Settings()


def cmd_run(_: argparse.Namespace) -> int:
    settings = _load_settings()
    if settings.discord_token is None or not settings.discord_token.get_secret_value().strip():
        print(NO_TOKEN, file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.secrets(), settings.log_format)
    from bot.runner import run_bot  # imports discord.py only when the bot really runs

    try:
        asyncio.run(run_bot(settings))
    except (ConfigurationError, StoreError) as exc:
        return _fail(str(exc), 2)
    except KeyboardInterrupt:
        pass
    return 0


async def _generate(args: argparse.Namespace, settings: Settings) -> Outcome:
    options = GenerationOptions(
        prompt=args.prompt,
        negative_prompt=args.negative,
        aspect=args.aspect,
        count=args.count,
        seed=args.seed,
        model=args.model,
    )
    providers = [args.provider] if args.provider else None
    async with open_app(settings, providers=providers, charge=False) as app:
        return await app.generation.generate(Requester(user_id=CLI_USER_ID), options)


def _write_outcome(outcome: Outcome, out: Path, *, as_json: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    images = []
    for index, image in enumerate(outcome.result.images, start=1):
        path = out / f"canvasbot-{outcome.record.id}-{index}.{image.extension}"
        path.write_bytes(image.data)
        images.append({"path": str(path), "seed": image.seed, "url": image.url})
    summary = {
        "provider": outcome.result.provider,
        "model": outcome.result.model_id,
        "cost_usd": outcome.result.cost_usd,
        "latency_ms": round(outcome.result.latency_ms, 1),
        "images": images,
    }
    if as_json:
        print(json.dumps(summary))
        return
    for item in images:
        print(f"{item['path']}  seed={item['seed']}")
    print(
        f"{summary['provider']} · {summary['model']} · ${outcome.result.cost_usd:.4f} · "
        f"{outcome.result.latency_ms / 1000:.1f} s"
    )


def cmd_generate(args: argparse.Namespace) -> int:
    settings = _load_settings()
    configure_logging("WARNING", settings.secrets())
    try:
        outcome = asyncio.run(_generate(args, settings))
    except GenerationFailed as exc:
        return _fail(exc.message)
    except UserFacingError as exc:
        return _fail(exc.message, 2)
    except (ConfigurationError, StoreError) as exc:
        return _fail(str(exc), 2)
    _write_outcome(outcome, Path(args.out), as_json=args.json)
    return 0


async def _doctor(settings: Settings) -> int:
    ok = True
    token = settings.discord_token
    print(f"DISCORD_TOKEN: {'set' if token and token.get_secret_value() else 'NOT SET'}")
    print(f"CANVASBOT_DEV_GUILD_ID: {settings.dev_guild_id or 'unset (commands sync globally)'}")
    for name, env_var in KNOWN_PROVIDERS.items():
        if env_var:
            print(f"{env_var}: {'set' if settings.provider_key(name) else 'unset'}")
    try:
        print(f"active providers, in order: {', '.join(settings.provider_names())}")
    except ValueError as exc:
        ok = False
        print(f"CANVASBOT_PROVIDERS: {exc}")
    print(f"default model: {settings.default_model}")
    try:
        async with open_store(settings.database_url) as store:
            versions = await store.applied_migrations()
        print(f"database: {store.engine} opens; migrations applied: {versions}")
    except StoreError as exc:
        ok = False
        print(f"database: FAILED: {exc}")
    return 0 if ok else 1


def cmd_doctor(args: argparse.Namespace) -> int:
    if args.quiet:
        with contextlib.redirect_stdout(io.StringIO()):
            return asyncio.run(_doctor(_load_settings()))
    return asyncio.run(_doctor(_load_settings()))


async def _migrate(settings: Settings) -> int:
    async with open_store(settings.database_url) as store:
        versions = await store.applied_migrations()
    print(f"{store.engine}: migrations applied: {versions}")
    return 0


def cmd_migrate(_: argparse.Namespace) -> int:
    try:
        return asyncio.run(_migrate(_load_settings()))
    except StoreError as exc:
        return _fail(str(exc), 2)


async def _usage(settings: Settings, since: date, guild: int | None) -> list[UsageRow]:
    async with open_store(settings.database_url) as store:
        return await QuotaService(store, settings.quota_limits()).export(since, guild)


def cmd_usage(args: argparse.Namespace) -> int:
    try:
        since = date.fromisoformat(args.since)
    except ValueError:
        return _fail(f"--since takes a date like 2026-11-01, not {args.since!r}", 2)
    try:
        rows = asyncio.run(_usage(_load_settings(), since, args.guild))
    except StoreError as exc:
        return _fail(str(exc), 2)
    if args.csv:
        write_usage_csv(rows, sys.stdout)
        return 0
    total = sum(row.actual_usd or 0.0 for row in rows if row.status == "committed")
    images = sum(row.actual_images or row.images for row in rows if row.status == "committed")
    print(f"{len(rows)} ledger rows since {since}: {images} images charged, ${total:.4f}")
    return 0


def cmd_providers(args: argparse.Namespace) -> int:
    from bot.provider_report import build_report, render_text

    settings = _load_settings()
    try:
        catalog = Catalog.load(settings.models_file)
    except (ValueError, OSError) as exc:
        return _fail(f"CANVASBOT_MODELS_FILE: {exc}", 2)
    try:
        report = asyncio.run(build_report(settings, catalog, hours=args.since))
    except ValueError as exc:
        return _fail(str(exc), 2)
    print(json.dumps(report, indent=2) if args.json else render_text(report))
    return 1 if report["database_error"] else 0


def _hours(text: str) -> float:
    try:
        hours = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of hours: {text!r}") from None
    if not 0 < hours <= 24 * 366:
        raise argparse.ArgumentTypeError("hours must be more than 0 and at most a year")
    return hours


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="canvasbot", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="run the bot (needs DISCORD_TOKEN)").set_defaults(func=cmd_run)
    gen = sub.add_parser("generate", help="generate images without Discord")
    gen.add_argument("prompt")
    gen.add_argument("--provider", choices=sorted(KNOWN_PROVIDERS))
    gen.add_argument("--model")
    gen.add_argument("--aspect", default=Aspect.SQUARE.value, choices=[a.value for a in Aspect])
    gen.add_argument("--count", type=int, default=1)
    gen.add_argument("--seed", type=int)
    gen.add_argument("--negative")
    gen.add_argument("--out", required=True, help="folder to write the images to")
    gen.add_argument("--json", action="store_true", help="print a JSON summary")
    gen.set_defaults(func=cmd_generate)
    doctor = sub.add_parser("doctor", help="check the configuration")
    doctor.add_argument("--quiet", action="store_true", help="only the exit code (health checks)")
    doctor.set_defaults(func=cmd_doctor)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)
    usage = sub.add_parser("usage", help="export the quota ledger")
    usage.add_argument("--since", required=True, help="first UTC day, e.g. 2026-11-01")
    usage.add_argument("--guild", type=int, help="only this server")
    usage.add_argument("--csv", action="store_true", help="one CSV line per ledger row")
    usage.set_defaults(func=cmd_usage)
    providers = sub.add_parser(
        "providers", help="the configured providers, their models, and their recent record"
    )
    providers.add_argument(
        "--since",
        type=_hours,
        default=24.0,
        metavar="HOURS",
        help="figures for the last HOURS (24)",
    )
    providers.add_argument("--json", action="store_true", help="print the report as JSON")
    providers.set_defaults(func=cmd_providers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not getattr(args, "func", None):
        args = build_parser().parse_args(["run", *(argv or [])])
    try:
        return int(args.func(args))
    except ValidationError as exc:
        return _fail(
            f"a setting is invalid: {exc.errors()[0].get('loc')} {exc.errors()[0].get('msg')}", 2
        )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
