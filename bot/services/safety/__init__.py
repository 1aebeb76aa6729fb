"""Per-server content safety: block lists, disguise-proof matching, levels and verdicts.

Pure Python; never imports discord. A prompt is checked here before any provider is called:

    policy = SafetyPolicy.from_settings(server.level, operator_terms, server.blocked_terms)
    verdict = policy.check(prompt, negative, level=effective_level(server.level, channel_nsfw))
    if verdict.blocked:
        ...  # reply verdict.user_message; log verdict.moderator_detail
"""

from bot.services.safety.lists import (
    Category,
    custom_matcher,
    parse_term_list,
    shipped_lists,
    shipped_matcher,
)
from bot.services.safety.matcher import Match, Term, TermMatcher, check_prompt, normalize_term
from bot.services.safety.policy import BLOCKED_AT, SafetyPolicy, Verdict, effective_level

__all__ = [
    "BLOCKED_AT",
    "Category",
    "Match",
    "SafetyPolicy",
    "Term",
    "TermMatcher",
    "Verdict",
    "check_prompt",
    "custom_matcher",
    "effective_level",
    "normalize_term",
    "parse_term_list",
    "shipped_lists",
    "shipped_matcher",
]
