"""What `canvasbot providers` shows: each configured provider in order of preference, whether its
key is set (never the key), its capabilities, the catalog models it offers with ids and prices,
and its recent record from the database (calls, error rate, p50/p90 latency, spend).

`build_report` gathers it as plain JSON-able data; `render_text` lays it out for a terminal.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.app import PROVIDER_CLASSES
from bot.services.errors import provider_label
from bot.settings import KNOWN_PROVIDERS, Settings
from bot.storage import StoreError, open_store
from bot.storage.models import ProviderStats
from providers.base import Capabilities, ImageProvider
from providers.catalog import Catalog
from providers.local import LocalProvider

__all__ = ["build_report", "render_text"]


def _provider_class(name: str) -> type[ImageProvider]:
    return LocalProvider if name == LocalProvider.name else PROVIDER_CLASSES[name]


def _models(name: str, catalog: Catalog) -> list[dict[str, Any]]:
    offered = []
    for model in catalog.models():
        offer = (
            LocalProvider().offer_for(model)
            if name == LocalProvider.name
            else model.offers.get(name)
        )
        if offer is not None:
            offered.append(
                {
                    "key": model.key,
                    "label": model.label,
                    "id": offer.model_id,
                    "price_usd": offer.price_usd,
                }
            )
    return offered


def _stats(stats: ProviderStats) -> dict[str, Any]:
    values = asdict(stats)
    del values["provider"]
    values["error_rate"] = stats.error_rate
    return values


async def build_report(settings: Settings, catalog: Catalog, *, hours: float) -> dict[str, Any]:
    """The report for the configured providers; `hours` back from now for the figures.

    Raises ValueError when CANVASBOT_PROVIDERS names an unknown provider. A database that cannot
    be opened leaves the figures empty and says why under `database_error`.
    """
    names = settings.provider_names()
    since = datetime.now(UTC) - timedelta(hours=hours)
    recorded: dict[str, ProviderStats] = {}
    engine, database_error = None, None
    try:
        async with open_store(settings.database_url) as store:
            engine = store.engine
            recorded = {s.provider: s for s in await store.provider_stats(since)}
    except StoreError as exc:
        database_error = str(exc)
    providers = []
    for position, name in enumerate(names, start=1):
        env_var = KNOWN_PROVIDERS[name]
        capabilities: Capabilities = _provider_class(name).capabilities
        providers.append(
            {
                "position": position,
                "name": name,
                "label": provider_label(name),
                "key_env_var": env_var,
                "key_set": None if env_var is None else settings.provider_key(name) is not None,
                "capabilities": asdict(capabilities),
                "models": _models(name, catalog),
                "stats": _stats(recorded.get(name, ProviderStats(name))),
            }
        )
    return {
        "since": since.isoformat(),
        "hours": hours,
        "database": engine,
        "database_error": database_error,
        "providers": providers,
        # Providers the database has figures for that are not configured now.
        "others": [
            {"name": name, "stats": _stats(stats)}
            for name, stats in recorded.items()
            if name not in names
        ],
    }


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _capability_lines(caps: dict[str, Any]) -> list[str]:
    concurrency = caps["max_concurrency"]
    return [
        f"seeds: in {_yes(caps['seed_input'])}, out {_yes(caps['seed_output'])} · "
        f"images per call: {caps['max_images_per_call']} · "
        f"prompts up to {caps['max_prompt_chars']} characters",
        f"negative prompt: {_yes(caps['negative_prompt'])} · "
        f"reports cost: {_yes(caps['reports_cost'])} · cancel: {_yes(caps['cancel'])}",
        f"safety knobs: {', '.join(caps['safety_knobs']) or 'none'} · "
        f"concurrency: {'no limit set' if concurrency is None else f'{concurrency} at once'}",
    ]


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value / 1000:.1f} s"


def _figures(stats: dict[str, Any]) -> str:
    if not stats["requests"]:
        return "no requests"
    rate = stats["error_rate"]
    parts = [
        f"{stats['requests']} requests ({stats['successes']} ok, {stats['failures']} failed, "
        f"{stats['refused']} refused, {stats['cancelled']} cancelled)",
        f"error rate {'—' if rate is None else f'{rate:.1%}'}",
        f"p50 {_ms(stats['p50_ms'])}",
        f"p90 {_ms(stats['p90_ms'])}",
        f"spend ${stats['spend_usd']:.4f}",
    ]
    if stats["hedge_spend_usd"]:
        parts.append(f"cancelled hedges ~${stats['hedge_spend_usd']:.4f}")
    return " · ".join(parts)


def render_text(report: dict[str, Any]) -> str:
    hours = f"{report['hours']:g} h"
    if report["database_error"]:
        source = f"database unavailable: {report['database_error']}"
    else:
        source = f"figures for the last {hours} from the {report['database']} database"
    lines = [f"Providers in order of preference ({source}):"]
    for provider in report["providers"]:
        env_var = provider["key_env_var"]
        key = (
            "no key needed"
            if env_var is None
            else f"{env_var}: {'set' if provider['key_set'] else 'NOT SET'}"
        )
        lines += ["", f"{provider['position']}. {provider['name']} ({provider['label']}) · {key}"]
        lines += [f"   {line}" for line in _capability_lines(provider["capabilities"])]
        lines.append("   models:")
        models = provider["models"]
        widths = [max((len(m[k]) for m in models), default=0) for k in ("key", "label", "id")]
        for model in models:
            columns = [
                model[k].ljust(w) for k, w in zip(("key", "label", "id"), widths, strict=True)
            ]
            lines.append(f"     {'  '.join(columns)}  ${model['price_usd']:.4f} per image")
        if not provider["models"]:
            lines.append("     none in the catalog")
        if not report["database_error"]:
            lines.append(f"   last {hours}: {_figures(provider['stats'])}")
    for other in report["others"]:
        lines += [
            "",
            f"not configured, in the database: {other['name']}: {_figures(other['stats'])}",
        ]
    return "\n".join(lines)
