"""Plain records the store reads and writes; no database or discord types leak out of storage."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

__all__ = ["GenerationRecord", "GenerationStatus", "NewGeneration"]


class GenerationStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    BLOCKED = "blocked"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True, slots=True)
class NewGeneration:
    """What is known when a request arrives, before any provider is called."""

    user_id: int
    guild_id: int | None
    channel_id: int | None
    prompt: str
    negative_prompt: str | None
    aspect: str
    count: int
    requested_seed: int | None
    model: str
    private: bool = False
    kind: str = "generate"  # generate | vary | reseed
    parent_id: int | None = None
    interaction_id: int | None = None


@dataclass(frozen=True, slots=True)
class GenerationRecord:
    id: int
    user_id: int
    guild_id: int | None
    channel_id: int | None
    prompt: str
    negative_prompt: str | None
    aspect: str
    count: int
    requested_seed: int | None
    model: str
    private: bool
    kind: str
    parent_id: int | None
    status: GenerationStatus
    created_at: datetime
    interaction_id: int | None = None
    provider: str | None = None
    model_id: str | None = None
    seeds: tuple[int | None, ...] = field(default_factory=tuple)
    cost_usd: float | None = None
    cost_source: str | None = None
    error: str | None = None
    provider_latency_ms: float | None = None
    total_latency_ms: float | None = None
    finished_at: datetime | None = None
    message_id: int | None = None
