"""Canvasbot's provider library: image model hosts behind one contract.

Standalone: depends on httpx and pydantic only, never on the bot or discord.py.
"""

from providers.base import (
    MAX_SEED,
    Aspect,
    Capabilities,
    GeneratedImage,
    GenerationRequest,
    ImageProvider,
    PersonPolicy,
    ProviderResult,
    SafetyLevel,
    SafetyOptions,
)
from providers.catalog import Catalog, ModelOffer, ModelSpec, UnknownModel

__all__ = [
    "MAX_SEED",
    "Aspect",
    "Capabilities",
    "Catalog",
    "GeneratedImage",
    "GenerationRequest",
    "ImageProvider",
    "ModelOffer",
    "ModelSpec",
    "PersonPolicy",
    "ProviderResult",
    "SafetyLevel",
    "SafetyOptions",
    "UnknownModel",
]
