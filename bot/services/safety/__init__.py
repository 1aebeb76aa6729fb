"""Per-server content safety: block lists, disguise-proof matching, levels and verdicts.

Pure Python; never imports discord.
"""

from bot.services.safety.matcher import Match, Term, TermMatcher, check_prompt, normalize_term

__all__ = [
    "Match",
    "Term",
    "TermMatcher",
    "check_prompt",
    "normalize_term",
]
