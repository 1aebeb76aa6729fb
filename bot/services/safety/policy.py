"""What a server's safety level refuses, and the verdict on one prompt.

Levels (`providers.base.SafetyLevel`):

* strict: everything below, and the mildly sexual and disturbing lists too;
* standard: the absolute and hate lists, explicit sexual content, extreme gore, and the
  operator's and the server's own terms;
* relaxed: only the absolute and hate lists and the operator's and server's terms. A server set to
  relaxed gets it in age-restricted channels only; elsewhere it is standard (`effective_level`).

Whatever the level, a prompt that pairs a word for children with a sexual or suggestive word is
refused as absolute. The negative prompt is checked against the lists that are refused whatever
the level (absolute, hate, operator, server): people list sexual words there to keep images clean.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from bot.services.display import for_display, reveal_invisible
from bot.services.safety.lists import Category, custom_matcher, shipped_matcher
from bot.services.safety.matcher import Field, Match, TermMatcher
from bot.services.safety.normalize import fold_with_offsets
from providers.base import SafetyLevel

__all__ = [
    "BLOCKED_AT",
    "NEGATIVE_PROMPT_CATEGORIES",
    "SafetyPolicy",
    "Verdict",
    "effective_level",
]

_ALWAYS = frozenset({Category.ABSOLUTE, Category.HATE, Category.OPERATOR, Category.SERVER})
_EXPLICIT = frozenset({Category.SEXUAL, Category.GORE})
_MATURE = frozenset({Category.SUGGESTIVE, Category.DISTURBING})
_SEXUALISING = frozenset({Category.SEXUAL, Category.SUGGESTIVE})

BLOCKED_AT: dict[SafetyLevel, frozenset[Category]] = {
    SafetyLevel.RELAXED: _ALWAYS,
    SafetyLevel.STANDARD: _ALWAYS | _EXPLICIT,
    SafetyLevel.STRICT: _ALWAYS | _EXPLICIT | _MATURE,
}
NEGATIVE_PROMPT_CATEGORIES = _ALWAYS

# Most serious first: the verdict names the most serious term found.
_SEVERITY = (
    Category.ABSOLUTE,
    Category.HATE,
    Category.SEXUAL,
    Category.GORE,
    Category.SERVER,
    Category.OPERATOR,
    Category.SUGGESTIVE,
    Category.DISTURBING,
    Category.MINORS,
)

# "12 year old", "12-year-old", "12yo", "12 y/o", "twelve year old", "sixteen-year-old" (ages
# under 18), on folded text. A tens word before a spelled unit ("twenty-one year old") is an
# adult: it is matched too (group `tens`) so that the unit alone is not read as the age.
_AGE_UNIT = r"\s*-?\s*(?:y\s*/?\s*o|(?:years?|yrs?)\s*-?\s*old)(?![a-z])"
_UNDER_18_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen"
    "|sixteen|seventeen"
)
_TENS_WORDS = "twenty|thirty|forty|fourty|fifty|sixty|seventy|eighty|ninety|hundred"
_MINOR_AGE = re.compile(
    rf"(?<![0-9.])(?:1[0-7]|[1-9]){_AGE_UNIT}"
    rf"|(?<![a-z])(?P<tens>(?:{_TENS_WORDS})[\s-]*)?(?:{_UNDER_18_WORDS}){_AGE_UNIT}"
)

_WHERE: dict[Field | None, str] = {
    "prompt": "prompt",
    "negative_prompt": "negative prompt",
    None: "prompt",
}
_USER_MESSAGES: dict[Category, str] = {
    Category.ABSOLUTE: (
        "Sorry, I can't make that. Your {where} asks for something Canvasbot never creates, "
        "in any server or channel."
    ),
    Category.HATE: (
        "Sorry, I can't make that. Your {where} includes a slur or hateful phrase, and "
        "Canvasbot doesn't use those anywhere."
    ),
    Category.SEXUAL: (
        "Sorry, I can't make that here. Your {where} asks for explicit content, which isn't "
        "allowed in this channel."
    ),
    Category.GORE: (
        "Sorry, I can't make that here. Your {where} asks for graphic violence, which isn't "
        "allowed in this channel."
    ),
    Category.SUGGESTIVE: (
        "Sorry, I can't make that here. This server uses strict content settings, and your "
        "{where} includes something they rule out. Try rephrasing it."
    ),
    Category.DISTURBING: (
        "Sorry, I can't make that here. This server uses strict content settings, and your "
        "{where} includes something they rule out. Try rephrasing it."
    ),
    Category.OPERATOR: (
        "Sorry, I can't make that. Your {where} includes a word this bot doesn't accept. "
        "Try rephrasing it."
    ),
    Category.SERVER: (
        "Sorry, I can't make that here. Your {where} includes a word this server has "
        "blocked. Try rephrasing it."
    ),
}
_MINORS_MESSAGE = (
    "Sorry, I can't make that. Canvasbot never creates sexual or suggestive images involving "
    "children, in any server or channel."
)
_EXCERPT_LIMIT = 80


def effective_level(
    server_level: SafetyLevel | str, channel_is_age_restricted: bool
) -> SafetyLevel:
    """The level that applies in a channel: relaxed only in age-restricted channels."""
    level = SafetyLevel(server_level)
    if level is SafetyLevel.RELAXED and not channel_is_age_restricted:
        return SafetyLevel.STANDARD
    return level


@dataclass(frozen=True, slots=True)
class Verdict:
    """Allowed, or blocked because of `match` (with `context`, the word for a child, if any)."""

    level: SafetyLevel
    category: Category | None = None
    match: Match | None = None
    context: Match | None = None

    @property
    def allowed(self) -> bool:
        return self.category is None

    @property
    def blocked(self) -> bool:
        return self.category is not None

    @property
    def user_message(self) -> str:
        """A kind explanation for the person who asked; it never repeats the term."""
        if self.category is None:
            return ""
        if self.context is not None:
            return _MINORS_MESSAGE
        field = self.match.field if self.match else None
        return _USER_MESSAGES[self.category].format(where=_WHERE[field])

    @property
    def moderator_detail(self) -> str:
        """What was found and where, for a moderators' log; safe to post in Discord as is."""
        if self.category is None or self.match is None:
            return f"Allowed at the {self.level} level."
        detail = f"Blocked ({self.category}) at the {self.level} level: {_describe(self.match)}"
        if self.context is not None:
            detail += f", together with {_describe(self.context)}"
        return detail + "."


def _describe(match: Match) -> str:
    term = for_display(match.term, _EXCERPT_LIMIT, single_line=True)
    excerpt = for_display(reveal_invisible(match.excerpt), _EXCERPT_LIMIT, single_line=True)
    where = _WHERE[match.field]
    return (
        f'"{term}" ({match.category} list) in the {where} as "{excerpt}" '
        f"(characters {match.start}-{match.end})"
    )


def _minor_age(text: str) -> Match | None:
    folded, offsets = fold_with_offsets(text)
    found = next((m for m in _MINOR_AGE.finditer(folded) if not m.group("tens")), None)
    if found is None:
        return None
    start, end = offsets[found.start()], offsets[found.end() - 1] + 1
    return Match("age under 18", Category.MINORS, start, end, text[start:end], "prompt")


def _most_severe(matches: Iterable[Match]) -> Match | None:
    return min(
        matches, key=lambda m: (_SEVERITY.index(Category(m.category)), m.start), default=None
    )


class SafetyPolicy:
    """A server's block lists at its level. Build once per server settings; check each prompt."""

    __slots__ = ("_matcher", "level")

    def __init__(
        self, level: SafetyLevel | str = SafetyLevel.STANDARD, matcher: TermMatcher | None = None
    ) -> None:
        self.level = SafetyLevel(level)
        self._matcher = shipped_matcher() if matcher is None else matcher
        unknown = {term.category for term in self._matcher.terms} - set(Category)
        if unknown:
            raise ValueError(f"terms with unknown categories: {sorted(unknown)}")

    @classmethod
    def from_settings(
        cls,
        level: SafetyLevel | str = SafetyLevel.STANDARD,
        extra_terms: Iterable[str] = (),
        server_terms: Iterable[str] = (),
    ) -> SafetyPolicy:
        """The shipped lists, plus the operator's `extra_terms` and the server's own terms."""
        custom = custom_matcher(extra_terms, server_terms)
        matcher = shipped_matcher() | custom if len(custom) else shipped_matcher()
        return cls(level, matcher)

    def __repr__(self) -> str:
        return f"SafetyPolicy({self.level}, {self._matcher!r})"

    def check(
        self,
        prompt: str,
        negative_prompt: str | None = None,
        *,
        level: SafetyLevel | str | None = None,
    ) -> Verdict:
        """Judge a prompt at `level` (default: the policy's own; pass `effective_level(...)`)."""
        level = self.level if level is None else SafetyLevel(level)
        refused = BLOCKED_AT[level]
        found = [replace(m, field="prompt") for m in self._matcher.find_all(prompt)]

        sexual = _most_severe(m for m in found if m.category in _SEXUALISING)
        if sexual is not None:
            minor = next((m for m in found if m.category == Category.MINORS), None)
            minor = minor or _minor_age(prompt)
            if minor is not None:
                return Verdict(level, Category.ABSOLUTE, sexual, context=minor)

        worst = _most_severe(m for m in found if m.category in refused)
        if worst is None and negative_prompt:
            worst = _most_severe(
                replace(m, field="negative_prompt")
                for m in self._matcher.find_all(negative_prompt)
                if m.category in refused & NEGATIVE_PROMPT_CATEGORIES
            )
        if worst is None:
            return Verdict(level)
        return Verdict(level, Category(worst.category), worst)
