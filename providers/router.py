"""Ordered providers behind one call: skip those that cannot serve, fail over on provider faults.

Faults about the prompt itself (ContentBlocked, InvalidRequest) never fail over: another provider
would refuse it too, or worse, accept what the first refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from providers.base import GenerationRequest, ImageProvider, ProviderResult
from providers.catalog import ModelSpec
from providers.errors import ContentBlocked, InvalidRequest, ProviderError

__all__ = ["Attempt", "NoProviderAvailable", "RoutedResult", "Router"]


@dataclass(frozen=True, slots=True)
class Attempt:
    provider: str
    outcome: str  # succeeded | skipped | failed
    detail: str = ""


class NoProviderAvailable(ProviderError):
    """No configured provider can serve this request; `attempts` says why for each."""

    def __init__(self, message: str, attempts: Sequence[Attempt]) -> None:
        super().__init__(message)
        self.attempts = tuple(attempts)


@dataclass(frozen=True, slots=True)
class RoutedResult:
    result: ProviderResult
    attempts: tuple[Attempt, ...] = field(default_factory=tuple)


class Router:
    def __init__(self, providers: Sequence[ImageProvider]) -> None:
        if not providers:
            raise ValueError("the router needs at least one provider")
        self.providers = tuple(providers)

    @property
    def names(self) -> list[str]:
        return [provider.name for provider in self.providers]

    async def generate(self, request: GenerationRequest, model: ModelSpec) -> RoutedResult:
        attempts: list[Attempt] = []
        first_error: ProviderError | None = None
        for provider in self.providers:
            reason = provider.unsupported_reason(request, model)
            if reason:
                attempts.append(Attempt(provider.name, "skipped", reason))
                continue
            try:
                result = await provider.generate(request, model)
            except (ContentBlocked, InvalidRequest) as exc:
                exc.attempts = (*attempts, Attempt(provider.name, "failed", str(exc)))  # type: ignore[attr-defined]
                raise
            except ProviderError as exc:
                attempts.append(Attempt(provider.name, "failed", str(exc)))
                first_error = first_error or exc
                continue
            attempts.append(Attempt(provider.name, "succeeded"))
            return RoutedResult(result, tuple(attempts))
        if first_error is not None:
            first_error.attempts = tuple(attempts)  # type: ignore[attr-defined]
            raise first_error
        raise NoProviderAvailable(
            "no configured provider can serve this request: "
            + "; ".join(a.detail for a in attempts),
            attempts,
        )
