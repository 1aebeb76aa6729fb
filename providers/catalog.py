"""The model catalog: model ids, sizes and prices as data (models.toml), never as code.

The shipped file is read first; an operator's file (CANVASBOT_MODELS_FILE) is merged over it key by
key, so it can add a successor model, change a price or id, or retire a model without a release.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["Catalog", "CatalogError", "ModelOffer", "ModelSpec", "UnknownModel"]


class CatalogError(ValueError):
    """The catalog file is malformed."""


class UnknownModel(KeyError):
    """No model by that key (or it is retired)."""

    def __init__(self, key: str, known: Iterable[str]) -> None:
        super().__init__(key)
        self.key = key
        self.known = tuple(known)

    def __str__(self) -> str:
        return f"unknown model {self.key!r}; available: {', '.join(self.known) or 'none'}"


@dataclass(frozen=True, slots=True)
class ModelOffer:
    """One provider's name and price for one model."""

    provider: str
    model_id: str
    price_usd: float


@dataclass(frozen=True, slots=True)
class ModelSpec:
    key: str
    label: str
    price_usd: float
    max_images: int
    sizes: Mapping[str, tuple[int, int]]
    offers: Mapping[str, ModelOffer] = field(default_factory=dict)
    fallback: str | None = None
    retired: bool = False

    def size_for(self, aspect: str) -> tuple[int, int]:
        try:
            return self.sizes[aspect]
        except KeyError:
            raise CatalogError(f"{self.label} has no size for aspect {aspect}") from None


def _deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


class Catalog:
    def __init__(self, models: Mapping[str, ModelSpec]) -> None:
        self._models = dict(models)

    @classmethod
    def load(cls, override: Path | str | None = None) -> Catalog:
        """The shipped catalog, with the operator's file merged over it when given."""
        shipped = resources.files("providers").joinpath("models.toml").read_text("utf-8")
        data = tomllib.loads(shipped)
        if override:
            path = Path(override)
            try:
                data = _deep_merge(data, tomllib.loads(path.read_text("utf-8")))
            except FileNotFoundError:
                raise CatalogError(f"models file not found: {path}") from None
            except tomllib.TOMLDecodeError as exc:
                raise CatalogError(f"models file {path} is not valid TOML: {exc}") from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Catalog:
        size_sets = {
            name: {aspect: (int(wh[0]), int(wh[1])) for aspect, wh in sizes.items()}
            for name, sizes in data.get("size_sets", {}).items()
        }
        models: dict[str, ModelSpec] = {}
        for key, raw in data.get("models", {}).items():
            try:
                sizes = raw["sizes"]
                sizes = (
                    size_sets[sizes]
                    if isinstance(sizes, str)
                    else {a: (int(w), int(h)) for a, (w, h) in sizes.items()}
                )
                price = float(raw["price_usd"])
                offers = {
                    provider: ModelOffer(
                        provider=provider,
                        model_id=str(offer["id"]),
                        price_usd=float(offer.get("price_usd", price)),
                    )
                    for provider, offer in raw.get("providers", {}).items()
                }
                models[key] = ModelSpec(
                    key=key,
                    label=str(raw.get("label", key)),
                    price_usd=price,
                    max_images=int(raw.get("max_images", 4)),
                    sizes=sizes,
                    offers=offers,
                    fallback=raw.get("fallback"),
                    retired=bool(raw.get("retired", False)),
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise CatalogError(f"model {key!r} in the catalog is malformed: {exc!r}") from None
        return cls(models)

    def get(self, key: str) -> ModelSpec:
        """The model by key; retired models are unknown to users."""
        model = self._models.get(key)
        if model is None or model.retired:
            raise UnknownModel(key, self.keys())
        return model

    def label_for(self, key: str) -> str:
        """The model's label, even for a retired model (history shows what was used)."""
        model = self._models.get(key)
        return model.label if model else key

    def keys(self) -> list[str]:
        return [key for key, model in self._models.items() if not model.retired]

    def models(self) -> list[ModelSpec]:
        return [model for model in self._models.values() if not model.retired]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in self.keys()
