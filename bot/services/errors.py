"""User-facing errors: what went wrong and what to do, in plain words, never a traceback.

Internal failures (provider errors, storage errors) are translated here, in one place, so every
entry point — slash command, button, CLI — tells the user the same thing.
"""

from __future__ import annotations

from bot.services.safety import Verdict
from bot.storage import GenerationRecord
from providers.errors import (
    AuthenticationFailed,
    BadResponse,
    ContentBlocked,
    InsufficientCredits,
    InvalidRequest,
    ModelUnavailable,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
)
from providers.router import NoProviderAvailable

__all__ = [
    "GenerationFailed",
    "ImagesWithheld",
    "InvalidOptions",
    "NothingToVary",
    "PromptBlocked",
    "QuotaRefused",
    "UserFacingError",
    "explain_provider_error",
    "provider_label",
]

PROVIDER_LABELS = {
    "runware": "Runware",
    "runcomfy": "RunComfy",
    "aimlapi": "AI/ML API",
    "gemini": "Gemini API",
    "fal": "fal",
    "replicate": "Replicate",
    "local": "offline preview",
}


def provider_label(name: str | None) -> str:
    return PROVIDER_LABELS.get(name or "", name or "the image provider")


class UserFacingError(Exception):
    """An error whose message is written for the person who asked (safe to show as is)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidOptions(UserFacingError):
    """The command's options are out of range; caught before anything is spent."""


class NothingToVary(UserFacingError):
    def __init__(self) -> None:
        super().__init__("You have no finished generation to work from yet. Try `/generate` first.")


class QuotaRefused(UserFacingError):
    """A limit refused the request before any provider was called; `cause` says which."""

    def __init__(self, message: str, cause: Exception) -> None:
        super().__init__(message)
        self.cause = cause


class GenerationFailed(UserFacingError):
    """The provider(s) failed; `cause` is kept for logs and records."""

    def __init__(self, message: str, cause: ProviderError) -> None:
        super().__init__(message)
        self.cause = cause


NOT_CHARGED = "Nothing was charged."


class PromptBlocked(UserFacingError):
    """The server's safety settings refused the prompt before anything was spent.

    `verdict` has the kind words (`user_message`) and what moderators need (`moderator_detail`);
    `record` is the generation, recorded as blocked (who, where, the prompts, the kind);
    `modlog_channel_id` is where the server wants such requests reported (None: nowhere).
    """

    def __init__(
        self,
        verdict: Verdict,
        record: GenerationRecord | None = None,
        *,
        modlog_channel_id: int | None = None,
    ) -> None:
        super().__init__(f"{verdict.user_message} {NOT_CHARGED}")
        self.verdict = verdict
        self.record = record
        self.modlog_channel_id = modlog_channel_id


class ImagesWithheld(UserFacingError):
    """The provider's safety check flagged every image, and this channel may not show them."""

    def __init__(self, count: int) -> None:
        them = "the image" if count == 1 else f"all {count} images"
        super().__init__(
            f"The image provider's safety check flagged {them}, so I didn't post "
            f"{'it' if count == 1 else 'them'} here. {NOT_CHARGED} Try rewording your prompt."
        )
        self.count = count


def explain_provider_error(error: ProviderError, model_label: str = "the model") -> str:
    """One kind sentence or two for each kind of failure."""
    who = provider_label(error.provider)
    match error:
        case AuthenticationFailed():
            hint = f" (operator: check `{error.env_var}`)" if error.env_var else ""
            return (
                f"The operator's {who} key was rejected{hint}. {NOT_CHARGED} "
                "Please let the server's admins know."
            )
        case InsufficientCredits():
            return (
                f"The operator's {who} account is out of credit. {NOT_CHARGED} "
                "Please let the server's admins know."
            )
        case RateLimited():
            return f"{who} is busy right now (rate limited). {NOT_CHARGED} Try again in a minute."
        case ProviderUnavailable() if "timed out" in error.message:
            return f"{who} did not answer in time. {NOT_CHARGED} Please try again."
        case ProviderUnavailable():
            return f"{who} is having trouble right now. {NOT_CHARGED} Please try again shortly."
        case ContentBlocked():
            return f"{who}'s safety filter declined this prompt. {NOT_CHARGED} Try rewording it."
        case ModelUnavailable():
            return (
                f"{model_label} is not available from {who} any more (it may have been "
                f"retired). {NOT_CHARGED} Try another model."
            )
        case NoProviderAvailable():
            reasons = "; ".join(a.detail for a in error.attempts if a.detail) or error.message
            return f"No configured image provider can do this: {reasons}. {NOT_CHARGED}"
        case InvalidRequest():
            return f"{who} could not accept these options: {error.message}. {NOT_CHARGED}"
        case BadResponse():
            return f"{who} sent back an answer we could not read. {NOT_CHARGED} Please try again."
        case _:
            return f"{who} failed: {error.message}. {NOT_CHARGED}"
