"""Settings from the environment and `.env` (pydantic-settings). Secrets are SecretStr.

No module-level instance: the composition root builds one and passes it down.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.services.quotas import QuotaLimits
from providers.local import LocalProvider

__all__ = ["KNOWN_PROVIDERS", "Settings"]

# Provider name → the environment variable holding its key (None: needs no key), in the
# default order of preference when CANVASBOT_PROVIDERS is unset.
KNOWN_PROVIDERS: dict[str, str | None] = {
    "runware": "RUNWARE_API_KEY",
    "fal": "FAL_KEY",
    "aimlapi": "AIMLAPI_API_KEY",
    "runcomfy": "RUNCOMFY_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "replicate": "REPLICATE_API_TOKEN",
    "local": None,
}


def _env(name: str, default: object = None, **kw: object) -> object:
    return Field(default, validation_alias=name, **kw)  # type: ignore[call-overload]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        case_sensitive=False,
    )

    # Discord
    discord_token: SecretStr | None = _env("DISCORD_TOKEN")
    dev_guild_id: int | None = _env("CANVASBOT_DEV_GUILD_ID")
    discord_api_base_url: str | None = _env("DISCORD_API_BASE_URL")
    discord_gateway_url: str | None = _env("DISCORD_GATEWAY_URL")

    # Generation
    providers: str | None = _env("CANVASBOT_PROVIDERS")
    default_model: str = _env("CANVASBOT_DEFAULT_MODEL", "imagen-4-fast")
    models_file: Path | None = _env("CANVASBOT_MODELS_FILE")
    provider_timeout_seconds: float = _env("CANVASBOT_PROVIDER_TIMEOUT_SECONDS", 60.0, gt=0)
    local_latency_ms: float = _env("CANVASBOT_LOCAL_LATENCY_MS", 0.0, ge=0)
    # 0: the preview's natural size (~50 KB); else padded to about this many bytes, like a real
    # provider's ~1 MB JPEG (benchmarks).
    local_image_bytes: int = _env("CANVASBOT_LOCAL_IMAGE_BYTES", 0, ge=0, le=10_000_000)
    # Unset: hedge after the provider's observed p90 latency (bounded); 0: never hedge.
    hedge_after_ms: float | None = _env("CANVASBOT_HEDGE_AFTER_MS", None, ge=0)

    # Interaction timing: progress edits while waiting; Discord's interaction token lifetime.
    progress_interval_seconds: float = _env("CANVASBOT_PROGRESS_INTERVAL_SECONDS", 3.0, gt=0)
    interaction_token_seconds: float = _env("CANVASBOT_INTERACTION_TOKEN_SECONDS", 900.0, gt=0)
    # Result images held in memory, from the provider's answer to the end of their upload: about
    # this many MB. Past it, providers wait for room before fetching or drawing another.
    image_memory_mb: float = _env("CANVASBOT_IMAGE_MEMORY_MB", 96.0, ge=0)

    # Quotas and budgets (UTC days and months); servers can override with /settings quota
    user_daily_images: int = _env("CANVASBOT_USER_DAILY_IMAGES", 25, ge=0)
    user_daily_usd: float = _env("CANVASBOT_USER_DAILY_USD", 0.50, ge=0)
    cooldown_seconds: float = _env("CANVASBOT_COOLDOWN_SECONDS", 5.0, ge=0)
    max_concurrent_per_user: int = _env("CANVASBOT_MAX_CONCURRENT_PER_USER", 2, ge=0)
    guild_monthly_usd: float = _env("CANVASBOT_GUILD_MONTHLY_USD", 20.0, ge=0)
    global_daily_usd: float = _env("CANVASBOT_GLOBAL_DAILY_USD", 10.0, ge=0)

    # Sharding: several processes, each running some shards, sharing one database
    shard_count: int | None = _env("CANVASBOT_SHARD_COUNT", None, ge=1)
    shard_ids: str | None = _env("CANVASBOT_SHARD_IDS", None)

    # Content safety: the level of servers that chose none, and the operator's own block list
    # (comma separated, added to the shipped list in every server).
    safety_level: Literal["strict", "standard", "relaxed"] = _env(
        "CANVASBOT_SAFETY_LEVEL", "standard"
    )
    blocked_terms: str | None = _env("CANVASBOT_BLOCKED_TERMS")
    # Whether images may show people, in servers that chose nothing (and in DMs).
    safety_people: Literal["allow_adults", "no_people"] = _env(
        "CANVASBOT_SAFETY_PEOPLE", "allow_adults"
    )

    # Storage
    database_url: str = _env("CANVASBOT_DATABASE_URL", "sqlite:///./canvasbot.sqlite3")

    # Logging, metrics, shutdown
    log_level: str = _env("CANVASBOT_LOG_LEVEL", "INFO")
    log_format: Literal["text", "json"] = _env("CANVASBOT_LOG_FORMAT", "text")
    metrics_port: int | None = _env("CANVASBOT_METRICS_PORT", None, ge=1, le=65535)
    shutdown_grace_seconds: float = _env("CANVASBOT_SHUTDOWN_GRACE_SECONDS", 20.0, ge=0)

    # Providers: a key and an endpoint each (endpoints change only for proxies and tests)
    runware_api_key: SecretStr | None = _env("RUNWARE_API_KEY")
    runware_base_url: str = _env("RUNWARE_BASE_URL", "https://api.runware.ai/v1")
    runcomfy_api_key: SecretStr | None = _env("RUNCOMFY_API_KEY")
    runcomfy_base_url: str = _env("RUNCOMFY_BASE_URL", "https://model-api.runcomfy.net")
    aimlapi_api_key: SecretStr | None = _env("AIMLAPI_API_KEY")
    aimlapi_base_url: str = _env("AIMLAPI_BASE_URL", "https://api.aimlapi.com")
    # AI/ML API can rewrite prompts with an LLM; off so users get what they typed.
    aimlapi_enhance_prompt: bool = _env("AIMLAPI_ENHANCE_PROMPT", False)
    gemini_api_key: SecretStr | None = _env("GEMINI_API_KEY")
    gemini_base_url: str = _env("GEMINI_BASE_URL", "https://generativelanguage.googleapis.com")
    fal_api_key: SecretStr | None = _env("FAL_KEY")
    fal_base_url: str = _env("FAL_BASE_URL", "https://queue.fal.run")
    replicate_api_key: SecretStr | None = _env("REPLICATE_API_TOKEN")
    replicate_base_url: str = _env("REPLICATE_BASE_URL", "https://api.replicate.com")

    @field_validator(
        "dev_guild_id",
        "models_file",
        "providers",
        "hedge_after_ms",
        "metrics_port",
        "shard_count",
        "shard_ids",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    def quota_limits(self) -> QuotaLimits:
        return QuotaLimits(
            user_daily_images=self.user_daily_images,
            user_daily_usd=self.user_daily_usd,
            cooldown_seconds=self.cooldown_seconds,
            max_concurrent_per_user=self.max_concurrent_per_user,
            guild_monthly_usd=self.guild_monthly_usd,
            global_daily_usd=self.global_daily_usd,
        )

    def shard_id_list(self) -> list[int] | None:
        """CANVASBOT_SHARD_IDS ("0,1" or "0-3") as a list; None: every shard in one process."""
        if not self.shard_ids:
            return None
        ids: list[int] = []
        for part in self.shard_ids.split(","):
            part = part.strip()
            if "-" in part:
                low, high = (int(x) for x in part.split("-", 1))
                ids.extend(range(low, high + 1))
            elif part:
                ids.append(int(part))
        if self.shard_count is None:
            raise ValueError("CANVASBOT_SHARD_IDS needs CANVASBOT_SHARD_COUNT")
        bad = [i for i in ids if not 0 <= i < self.shard_count]
        if bad:
            raise ValueError(f"CANVASBOT_SHARD_IDS {bad} are outside 0..{self.shard_count - 1}")
        return sorted(set(ids))

    @field_validator("safety_level", mode="before")
    @classmethod
    def _level_in_any_case(cls, value: object) -> object:
        if isinstance(value, str):
            return value.strip().lower() or "standard"
        return value

    @field_validator("safety_people", mode="before")
    @classmethod
    def _people_in_any_case(cls, value: object) -> object:
        if isinstance(value, str):
            return value.strip().lower() or "allow_adults"
        return value

    def provider_key(self, provider: str) -> str | None:
        """The key for `provider`, or None when it is unset or blank."""
        secret = getattr(self, f"{provider}_api_key", None)
        value = secret.get_secret_value().strip() if isinstance(secret, SecretStr) else ""
        return value or None

    @property
    def image_memory_bytes(self) -> int:
        """CANVASBOT_IMAGE_MEMORY_MB in bytes: the budget of providers.memory.ImageMemory."""
        return int(self.image_memory_mb * 1024 * 1024)

    def provider_names(self) -> list[str]:
        """CANVASBOT_PROVIDERS in order; by default every provider with a key, else `local`."""
        if self.providers:
            names = [n.strip().lower() for n in self.providers.split(",") if n.strip()]
            unknown = [n for n in names if n not in KNOWN_PROVIDERS]
            if unknown:
                raise ValueError(
                    f"CANVASBOT_PROVIDERS names unknown providers: {', '.join(unknown)} "
                    f"(known: {', '.join(KNOWN_PROVIDERS)})"
                )
            return list(dict.fromkeys(names))
        keyed = [n for n, env in KNOWN_PROVIDERS.items() if env and self.provider_key(n)]
        return keyed or [LocalProvider.name]

    def secrets(self) -> list[str]:
        """Every secret value, for scrubbing logs and messages."""
        values = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr) and value.get_secret_value():
                values.append(value.get_secret_value())
        return values
