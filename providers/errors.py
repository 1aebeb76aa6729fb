"""The one error tree every provider client maps its failures into.

    ProviderError
     ├── InvalidRequest          400-class: the request itself is wrong; never retried
     ├── AuthenticationFailed    the key was rejected; names the environment variable
     ├── InsufficientCredits     the operator's account is out of balance
     ├── ContentBlocked          the provider's own safety refused; never charged, never failed over
     ├── ModelUnavailable        retired or unknown model
     ├── BadResponse             the answer could not be understood
     └── TransientError          worth retrying, then failing over
          ├── RateLimited        429, with the server's retry_after when it sent one
          └── ProviderUnavailable  5xx and 408, timeouts, connection errors

Messages never contain keys: clients build them from status codes and the provider's own
error text, and `redact` strips anything that looks like the key before it is stored.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationFailed",
    "BadResponse",
    "ContentBlocked",
    "InsufficientCredits",
    "InvalidRequest",
    "ModelUnavailable",
    "ProviderError",
    "ProviderUnavailable",
    "RateLimited",
    "TransientError",
    "redact",
]


class ProviderError(Exception):
    """Base of every provider failure. `provider` is the provider's name (``runware`` …)."""

    def __init__(self, message: str, *, provider: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.status = status

    def __str__(self) -> str:
        return f"{self.provider}: {self.message}" if self.provider else self.message


class InvalidRequest(ProviderError):
    """The provider refused the request's options; sending it again would not help."""


class AuthenticationFailed(ProviderError):
    """The operator's key was rejected."""

    def __init__(
        self, message: str, *, provider: str = "", env_var: str = "", status: int | None = None
    ) -> None:
        super().__init__(message, provider=provider, status=status)
        self.env_var = env_var


class InsufficientCredits(ProviderError):
    """The operator's account with the provider has no balance left."""


class ContentBlocked(ProviderError):
    """The provider's safety system refused the prompt or withheld the output."""

    def __init__(
        self, message: str, *, provider: str = "", reason: str = "", status: int | None = None
    ) -> None:
        super().__init__(message, provider=provider, status=status)
        self.reason = reason or message


class ModelUnavailable(ProviderError):
    """The model is retired, unknown to this provider, or not offered any more."""

    def __init__(
        self, message: str, *, provider: str = "", model: str = "", status: int | None = None
    ) -> None:
        super().__init__(message, provider=provider, status=status)
        self.model = model


class BadResponse(ProviderError):
    """The provider answered, but not in a shape we understand."""


class TransientError(ProviderError):
    """A failure that may go away: retried with backoff, then failed over."""


class RateLimited(TransientError):
    """HTTP 429 or the provider's own rate-limit code."""

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        retry_after: float | None = None,
        status: int | None = 429,
    ) -> None:
        super().__init__(message, provider=provider, status=status)
        self.retry_after = retry_after


class ProviderUnavailable(TransientError):
    """5xx or 408, a timeout or a connection error."""


def redact(text: str, *secrets: str | None) -> str:
    """Remove every secret from `text` (keys sometimes come back inside error messages)."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return text
