"""The provider contract: one request model, one result model, one abstract class.

`ImageProvider.generate` validates what every provider shares (is the model offered here, does the
request fit this provider's limits) and times the call; a subclass implements `_generate` only.
"""

from __future__ import annotations

import random
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from providers.catalog import ModelOffer, ModelSpec
from providers.errors import InvalidRequest
from providers.memory import ImageMemory

__all__ = [
    "MAX_SEED",
    "PROMPT_MAX_CHARS",
    "PROMPT_MIN_CHARS",
    "Aspect",
    "Capabilities",
    "GeneratedImage",
    "GenerationRequest",
    "ImageProvider",
    "PersonPolicy",
    "ProviderResult",
    "SafetyLevel",
    "SafetyOptions",
]

MAX_SEED = 4_294_967_295
PROMPT_MIN_CHARS = 2
PROMPT_MAX_CHARS = 3000


class Aspect(StrEnum):
    SQUARE = "1:1"
    WIDE = "16:9"
    TALL = "9:16"
    LANDSCAPE = "4:3"
    PORTRAIT = "3:4"


class SafetyLevel(StrEnum):
    STRICT = "strict"
    STANDARD = "standard"
    RELAXED = "relaxed"


class PersonPolicy(StrEnum):
    ALLOW_ADULT = "allow_adult"
    DONT_ALLOW = "dont_allow"


class SafetyOptions(BaseModel):
    """What the server's safety settings ask of the provider's own filters."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    level: SafetyLevel = SafetyLevel.STANDARD
    people: PersonPolicy = PersonPolicy.ALLOW_ADULT


class GenerationRequest(BaseModel):
    """One generation as the user asked for it. Invalid options fail here, before any call."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt: str = Field(min_length=PROMPT_MIN_CHARS, max_length=PROMPT_MAX_CHARS)
    negative_prompt: str | None = Field(default=None, max_length=PROMPT_MAX_CHARS)
    aspect: Aspect = Aspect.SQUARE
    count: int = Field(default=1, ge=1, le=4)
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)
    model: str
    safety: SafetyOptions = SafetyOptions()

    @field_validator("prompt")
    @classmethod
    def _prompt_has_words(cls, value: str) -> str:
        if len(value.strip()) < PROMPT_MIN_CHARS:
            raise ValueError("the prompt needs at least two visible characters")
        return value

    @field_validator("negative_prompt")
    @classmethod
    def _blank_negative_is_none(cls, value: str | None) -> str | None:
        return value if value and value.strip() else None


@dataclass(frozen=True, slots=True, weakref_slot=True)  # weakref: ImageMemory tracks it
class GeneratedImage:
    """One image, always with its bytes (downloaded when the provider answers with a URL)."""

    data: bytes = field(repr=False)
    mime_type: str
    seed: int | None
    width: int | None = None
    height: int | None = None
    url: str | None = None
    flagged_nsfw: bool = False
    cost_usd: float | None = None

    @property
    def extension(self) -> str:
        return {"image/png": "png", "image/webp": "webp"}.get(self.mime_type, "jpg")


@dataclass(frozen=True, slots=True)
class ProviderResult:
    provider: str
    model_key: str
    model_id: str
    images: tuple[GeneratedImage, ...]
    cost_usd: float
    cost_source: Literal["reported", "catalog"]
    latency_ms: float
    offline_preview: bool = False


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a provider can do; the router reads these to skip providers that cannot serve."""

    seed_input: bool
    seed_output: bool
    max_images_per_call: int
    max_prompt_chars: int = PROMPT_MAX_CHARS
    negative_prompt: bool = False
    reports_cost: bool = False
    cancel: bool = False
    safety_knobs: tuple[str, ...] = ()
    max_concurrency: int | None = None


class ImageProvider(ABC):
    """An image model host. Subclasses set the class attributes and implement `_generate`."""

    name: ClassVar[str]
    key_env_var: ClassVar[str | None] = None
    capabilities: ClassVar[Capabilities]
    offline_preview: ClassVar[bool] = False
    # Shared room for result images (set by the owner; None: unbounded).
    memory: ImageMemory | None = None

    def offer_for(self, model: ModelSpec) -> ModelOffer | None:
        """This provider's id and price for `model`, or None when it does not offer it."""
        return model.offers.get(self.name)

    def unsupported_reason(self, request: GenerationRequest, model: ModelSpec) -> str | None:
        """Why this provider cannot serve `request` (for the router to skip it), or None."""
        caps = self.capabilities
        if self.offer_for(model) is None:
            return f"{self.name} does not offer {model.label}"
        if len(request.prompt) > caps.max_prompt_chars:
            return f"{self.name} takes prompts of at most {caps.max_prompt_chars} characters"
        if request.seed is not None and not caps.seed_input:
            return f"{self.name} cannot use a chosen seed"
        if request.negative_prompt and not caps.negative_prompt:
            return f"{self.name} does not support a negative prompt"
        return None

    async def generate(self, request: GenerationRequest, model: ModelSpec) -> ProviderResult:
        reason = self.unsupported_reason(request, model)
        if reason:
            raise InvalidRequest(reason, provider=self.name)
        offer = self.offer_for(model)
        assert offer is not None  # unsupported_reason checked it
        if (
            request.seed is None
            and self.capabilities.seed_input
            and not self.capabilities.seed_output
        ):
            # The provider takes a seed but does not report one: choose it so the user sees it.
            request = request.model_copy(update={"seed": random.randint(0, 2**31 - 1)})
        started = time.perf_counter()
        images = tuple(await self._generate(request, model, offer))
        if self.memory is not None:
            for image in images:
                self.memory.track(image)
        latency_ms = (time.perf_counter() - started) * 1000
        reported = [image.cost_usd for image in images]
        if images and all(cost is not None for cost in reported):
            cost, source = float(sum(c for c in reported if c is not None)), "reported"
        else:
            cost, source = offer.price_usd * len(images), "catalog"
        return ProviderResult(
            provider=self.name,
            model_key=model.key,
            model_id=offer.model_id,
            images=images,
            cost_usd=round(cost, 6),
            cost_source=source,  # type: ignore[arg-type]
            latency_ms=latency_ms,
            offline_preview=self.offline_preview,
        )

    @abstractmethod
    async def _generate(
        self, request: GenerationRequest, model: ModelSpec, offer: ModelOffer
    ) -> list[GeneratedImage]:
        """Call the provider and return the images (with bytes)."""

    async def aclose(self) -> None:
        """Release anything the provider holds (the shared HTTP client is closed by its owner)."""
        return None
