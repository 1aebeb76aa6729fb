"""The composition root's Discord-free half: settings → HTTP client → store → providers → services.

`open_app` is used by the bot and by `canvasbot generate`, so both run the same pipeline.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from bot.metrics import Metrics
from bot.services.generation import GenerationService
from bot.services.moderation import PEOPLE_CHOICES, SafetyService
from bot.services.quotas import QuotaService
from bot.services.safety import parse_term_list
from bot.settings import KNOWN_PROVIDERS, Settings
from bot.storage import Store, open_store
from providers.aimlapi import AimlApiProvider
from providers.base import ImageProvider
from providers.catalog import Catalog
from providers.fal import FalProvider
from providers.gemini import GeminiProvider
from providers.local import LocalProvider
from providers.memory import ImageMemory
from providers.replicate import ReplicateProvider
from providers.retry import RetryPolicy
from providers.router import HedgePolicy, Router
from providers.runcomfy import RunComfyProvider
from providers.runware import RunwareProvider

__all__ = ["App", "ConfigurationError", "build_providers", "open_app"]


PROVIDER_CLASSES: dict[str, type[Any]] = {
    "runware": RunwareProvider,
    "runcomfy": RunComfyProvider,
    "aimlapi": AimlApiProvider,
    "gemini": GeminiProvider,
    "fal": FalProvider,
    "replicate": ReplicateProvider,
}


class ConfigurationError(RuntimeError):
    """A setting is missing or wrong; the message names it."""


@dataclass(slots=True)
class App:
    settings: Settings
    http: httpx.AsyncClient
    store: Store
    catalog: Catalog
    router: Router
    generation: GenerationService
    safety: SafetyService
    # Room for result images, shared by the providers and the uploads (bot.services.staging).
    image_memory: ImageMemory
    quotas: QuotaService | None = None

    @property
    def metrics(self) -> Metrics | None:
        return self.generation.metrics


def build_providers(
    settings: Settings,
    http: httpx.AsyncClient,
    names: list[str] | None = None,
    *,
    memory: ImageMemory | None = None,
) -> list[ImageProvider]:
    """Providers in the order of CANVASBOT_PROVIDERS (or `names`), sharing `memory` (the room
    for result images; by default one sized by CANVASBOT_IMAGE_MEMORY_MB)."""
    try:
        names = names or settings.provider_names()
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
    retry = RetryPolicy()
    built: list[ImageProvider] = []
    for name in names:
        if name not in KNOWN_PROVIDERS:
            known = ", ".join(KNOWN_PROVIDERS)
            raise ConfigurationError(f"unknown provider {name!r} (known: {known})")
        if name == "local":
            built.append(
                LocalProvider(
                    latency_ms=settings.local_latency_ms, image_bytes=settings.local_image_bytes
                )
            )
            continue
        key = settings.provider_key(name)
        if not key:
            raise ConfigurationError(f"the {name} provider needs {KNOWN_PROVIDERS[name]} to be set")
        common = {
            "base_url": getattr(settings, f"{name}_base_url"),
            "retry": retry,
            "timeout": settings.provider_timeout_seconds,
        }
        extra = {"enhance_prompt": settings.aimlapi_enhance_prompt} if name == "aimlapi" else {}
        built.append(PROVIDER_CLASSES[name](http, key, **common, **extra))
    if memory is None:
        memory = ImageMemory(settings.image_memory_bytes)
    for provider in built:
        provider.memory = memory
    return built


def http_client() -> httpx.AsyncClient:
    """One pooled client for every provider: connections are reused across requests."""
    return httpx.AsyncClient(
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        headers={"User-Agent": "Canvasbot (+https://github.com/canvasbot/canvasbot)"},
        follow_redirects=True,
    )


@asynccontextmanager
async def open_app(
    settings: Settings, *, providers: list[str] | None = None, charge: bool = True
) -> AsyncIterator[App]:
    """Everything the bot needs, opened in order and closed in reverse. `charge=False` (the
    operator's own CLI runs) skips the quota ledger."""
    try:
        catalog = Catalog.load(settings.models_file)
    except (ValueError, OSError) as exc:
        raise ConfigurationError(f"CANVASBOT_MODELS_FILE: {exc}") from None
    async with http_client() as http:
        memory = ImageMemory(settings.image_memory_bytes)
        built = build_providers(settings, http, providers, memory=memory)
        store = open_store(settings.database_url)
        async with store:
            try:
                router = Router(
                    built, catalog=catalog, hedge=HedgePolicy(after_ms=settings.hedge_after_ms)
                )
                metrics = Metrics()
                metrics.live.breakers = lambda: [
                    (name, health.breaker.state.value) for name, health in router.health.items()
                ]
                quotas = QuotaService(store, settings.quota_limits()) if charge else None
                safety = SafetyService(
                    store,
                    default_level=settings.safety_level,
                    default_people=PEOPLE_CHOICES[settings.safety_people],
                    operator_terms=parse_term_list(settings.blocked_terms),
                )
                generation = GenerationService(
                    quotas=quotas,
                    metrics=metrics,
                    store=store,
                    router=router,
                    catalog=catalog,
                    default_model=settings.default_model,
                    safety=safety,
                )
            except KeyError as exc:
                raise ConfigurationError(f"CANVASBOT_DEFAULT_MODEL: {exc}") from None
            sweeper = None
            if quotas is not None:
                await quotas.release_stale()  # reservations a crashed process left open
                sweeper = asyncio.create_task(quotas.sweep_forever(), name="quota-sweeper")
                metrics.live.reservations_open = lambda: float(quotas.open_reservations)
            try:
                yield App(
                    settings,
                    http,
                    store,
                    catalog,
                    generation.router,
                    generation,
                    safety,
                    memory,
                    quotas,
                )
            finally:
                if sweeper is not None:
                    sweeper.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await sweeper
                for provider in built:
                    await provider.aclose()
