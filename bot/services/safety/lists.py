"""The block lists: the shipped default list, the operator's terms and a server's own terms.

The shipped list is `default_blocklist.txt` beside this module, in sections (`[sexual]`) that
name a `Category`; which categories are refused at which level is decided in `policy`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from functools import cache
from importlib.resources import files

from bot.services.safety.matcher import Term, TermMatcher
from bot.services.safety.normalize import preload

__all__ = [
    "DEFAULT_BLOCKLIST",
    "BlocklistError",
    "Category",
    "custom_matcher",
    "parse_blocklist",
    "parse_term_list",
    "shipped_lists",
    "shipped_matcher",
]

DEFAULT_BLOCKLIST = "default_blocklist.txt"


class Category(StrEnum):
    """Why a term is listed. The shipped sections, then the operator's and the server's terms."""

    ABSOLUTE = "absolute"  # sexual content involving minors, sexual violence
    HATE = "hate"  # slurs and hate slogans
    SEXUAL = "sexual"  # explicit sexual content
    GORE = "gore"  # extreme gore
    SUGGESTIVE = "suggestive"  # mildly sexual content
    DISTURBING = "disturbing"  # mild violence, death, drugs
    MINORS = "minors"  # words for children: refused only alongside sexual words
    OPERATOR = "operator"  # the bot operator's terms (CANVASBOT_BLOCKED_TERMS)
    SERVER = "server"  # the server's own terms


_SHIPPED = frozenset(Category) - {Category.OPERATOR, Category.SERVER}


class BlocklistError(ValueError):
    """A block-list file that cannot be read as one."""


def parse_blocklist(text: str, *, source: str = DEFAULT_BLOCKLIST) -> dict[Category, list[str]]:
    """Read a sectioned list: `[section]` headers, one term a line, `#` comments."""
    lists: dict[Category, list[str]] = {}
    section: Category | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            name = line[1:-1].strip().lower()
            if name not in _SHIPPED:
                raise BlocklistError(f"{source}:{number}: unknown section [{name}]")
            section = Category(name)
            lists.setdefault(section, [])
        elif section is None:
            raise BlocklistError(f"{source}:{number}: term before any [section]")
        else:
            lists[section].append(line)
    return lists


@cache
def shipped_lists() -> Mapping[Category, tuple[str, ...]]:
    """The shipped default list, by section."""
    text = files(__package__).joinpath(DEFAULT_BLOCKLIST).read_text(encoding="utf-8")
    return {category: tuple(terms) for category, terms in parse_blocklist(text).items()}


@cache
def shipped_matcher() -> TermMatcher:
    """A matcher over every shipped term, each labelled with its section; built once.

    Call it at startup: it also loads the look-alike table, so no user waits for either.
    """
    preload()
    return TermMatcher(
        Term(text, category) for category, terms in shipped_lists().items() for text in terms
    )


def parse_term_list(raw: str | None) -> tuple[str, ...]:
    """Terms from a comma-separated setting such as CANVASBOT_BLOCKED_TERMS, blanks dropped."""
    if not raw:
        return ()
    return tuple(term.strip() for term in raw.split(",") if term.strip())


def custom_matcher(operator_terms: Iterable[str], server_terms: Iterable[str]) -> TermMatcher:
    """A matcher over the operator's and a server's own terms."""
    return TermMatcher(
        [
            *(Term(text, Category.OPERATOR) for text in operator_terms),
            *(Term(text, Category.SERVER) for text in server_terms),
        ]
    )
