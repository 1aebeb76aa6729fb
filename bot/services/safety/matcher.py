"""Find block-listed terms in prompts, seeing through the usual ways of disguising them.

A `TermMatcher` is built once from its terms and reused for every prompt. Text is folded (see
`normalize`), cut into words, and each word is looked up, whole, in an index of the terms' forms:

* whole words only, so "class", "Scunthorpe" and "cocktail" never match "ass" or "cock";
* a term also matches its regular plural ("nudes", "orgies"); other forms are terms of their own;
* letters may be repeated ("nuuude", "kiiill"), never dropped ("as" is not "ass");
* a word with digits or symbols is also read as leetspeak ("s3x", "k1ll", "@ss", "$ex");
* runs of single letters are joined ("n u d e", "n.u.d.e", "n_u_d_e", "n|u|d|e"), and so are words
  split by one punctuation mark ("nu-de", "ki.ll"), but never words split by a space;
* a multi-word term ("gore scene") matches those words in a row, with any separators between
  them, or written as one word ("gorescene").

Terms are written in plain letters; they are folded the same way as prompts.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Literal

from bot.services.safety.normalize import fold, fold_with_offsets, leet_variants

__all__ = [
    "Field",
    "Match",
    "Term",
    "TermMatcher",
    "check_prompt",
    "normalize_term",
]

Field = Literal["prompt", "negative_prompt"]

_WORD = re.compile(r"[a-z0-9]+")
_REPEATS = re.compile(r"(.)\1+")
_LETTER_SYMBOLS = "@$!|"  # leetspeak letters that are not digits
_SYMBOLS_AS_SEPARATORS = "!|"  # trimmed from a word's ends: "kill!" is "kill", not "killi"
_SYMBOL_WORD = re.compile(r"(?<![a-z0-9@$!|])[a-z0-9]*+[@$!|][a-z0-9@$!|]*")
# A lone letter, digit, '@' or '$'; runs of them separated by at most three other characters
# (not a line break) spell a word.
_SINGLE_CHAR = re.compile(r"[a-z0-9@$]")
_SINGLE = r"(?<![a-z0-9@$])[a-z0-9@$](?![a-z0-9@$])"
_SINGLES_RUN = re.compile(rf"{_SINGLE}(?:[^a-z0-9@$\n]{{1,3}}{_SINGLE})+")
# Words split by single punctuation marks: "nu-de", "ki.ll".
_CHAIN = re.compile(r"(?<![a-z0-9])[a-z0-9]++(?:[-._*'`~+=:/\\][a-z0-9]++)+")
# "kIll": a capital I inside a lower-case word is an l in disguise (same length, same offsets).
_CAPITAL_I_AS_L = re.compile(r"(?<=[a-z])I+")
_SIBILANTS = ("s", "x", "z", "ch", "sh")
_ONE_LETTER_WORDS = frozenset("ai")  # "a n u d e": an article before a spelled-out word
_MAX_JOINED_WORDS = 4  # "nu-de" and "ki-ll-ing", not whole hyphenated sentences

_CACHE_SIZE = 1 << 14  # prompts reuse words; remember the per-word work

Runs = tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Term:
    """A block-listed term as written in its list, and the label of the list it came from."""

    text: str
    category: str = "custom"


@dataclass(frozen=True, slots=True)
class Match:
    """Where a term was found: `start`/`end` index the original text, `excerpt` is that slice."""

    term: str
    category: str
    start: int
    end: int
    excerpt: str
    field: Field | None = None


@dataclass(frozen=True, slots=True)
class _Pattern:
    """A term's words, each as skeleton (repeats squeezed) -> least run length of each letter."""

    term: Term
    words: tuple[dict[str, Runs], ...]


def normalize_term(text: str) -> str | None:
    """The canonical form of a term ("  Gore-Scene " -> "gore scene"), or None if unusable.

    Use it to validate and store terms a server adds; a term needs at least two letters or digits.
    """
    words = _WORD.findall(fold(text))
    if sum(len(word) for word in words) < 2:
        return None
    return " ".join(words)


@lru_cache(maxsize=_CACHE_SIZE)
def _runs(word: str) -> tuple[str, Runs]:
    """The word with repeats squeezed ("nuuude" -> "nude") and each letter's run length."""
    skeleton = _REPEATS.sub(r"\1", word)
    if len(skeleton) == len(word):
        return skeleton, (1,) * len(word)
    return skeleton, tuple(len(m.group()) for m in re.finditer(r"(.)\1*", word))


def _plurals(word: str) -> Iterator[str]:
    """The word and its regular plurals. Verb forms are listed as terms of their own: "spic" must
    not match "spiced", nor "cock" "cocked"."""
    yield word
    yield word + "s"
    if word.endswith(_SIBILANTS):
        yield word + "es"
    if word.endswith("y") and len(word) > 2 and word[-2] not in "aeiou":
        yield word[:-1] + "ies"


def _word_forms(word: str, *, plural: bool) -> dict[str, Runs]:
    forms: dict[str, Runs] = {}
    for form in _plurals(word) if plural else (word,):
        skeleton, runs = _runs(form)
        known = forms.get(skeleton)
        # Two forms with one skeleton ("ass", "asss"): the shorter runs are the real minimum.
        forms[skeleton] = runs if known is None else tuple(map(min, known, runs))
    return forms


def _patterns(term: Term, normalized: str) -> Iterator[_Pattern]:
    words = normalized.split(" ")
    yield _Pattern(
        term,
        tuple(_word_forms(word, plural=i == len(words) - 1) for i, word in enumerate(words)),
    )
    if len(words) > 1:
        yield _Pattern(term, (_word_forms("".join(words), plural=True),))


def _covers(runs: Runs, least: Runs) -> bool:
    return all(have >= need for have, need in zip(runs, least, strict=True))


class TermMatcher:
    """A block list, indexed once, that finds its terms in any text.

    >>> TermMatcher.from_terms(["nude"]).match("a n.u.d.3 statue").term
    'nude'
    """

    __slots__ = ("_candidates", "_index", "_patterns", "_terms")

    def __init__(self, terms: Iterable[Term] = ()) -> None:
        self._terms: dict[tuple[str, str], Term] = {}
        self._patterns: dict[tuple[str, str], tuple[_Pattern, ...]] = {}
        self._index: dict[str, list[_Pattern]] = {}
        self._candidates: dict[str, bool] = {}
        for term in terms:
            normalized = normalize_term(term.text)
            if normalized is not None:
                self._add((normalized, term.category), term, tuple(_patterns(term, normalized)))

    def _add(self, key: tuple[str, str], term: Term, patterns: tuple[_Pattern, ...]) -> None:
        if key in self._terms:
            return
        self._terms[key] = term
        self._patterns[key] = patterns
        for pattern in patterns:
            for skeleton in pattern.words[0]:
                self._index.setdefault(skeleton, []).append(pattern)

    @classmethod
    def from_terms(cls, terms: Iterable[str], category: str = "custom") -> TermMatcher:
        """A matcher for plain strings, all labelled with one category."""
        return cls(Term(text, category) for text in terms)

    def __or__(self, other: TermMatcher) -> TermMatcher:
        """One matcher holding the terms of both; the indexes are merged, not rebuilt."""
        merged = TermMatcher()
        merged._terms = dict(self._terms)
        merged._patterns = dict(self._patterns)
        merged._index = {skeleton: list(found) for skeleton, found in self._index.items()}
        for key, term in other._terms.items():
            merged._add(key, term, other._patterns[key])
        return merged

    def __len__(self) -> int:
        return len(self._terms)

    def __repr__(self) -> str:
        return f"TermMatcher({len(self)} terms)"

    @property
    def terms(self) -> tuple[Term, ...]:
        return tuple(self._terms.values())

    def match(self, text: str) -> Match | None:
        """The first term found in `text` (by position), or None."""
        return next(iter(self.find_all(text, first_only=True)), None)

    def find_all(self, text: str, *, first_only: bool = False) -> list[Match]:
        """Every term found in `text`, in order of position; a term found twice is listed twice."""
        if not self._terms or not text:
            return []
        found: dict[tuple[int, int, str, str], Term] = {}
        for folded in _readings(text):
            for start, end, term in self._scan(folded):
                found.setdefault((start, end, term.text, term.category), term)
        if not found:
            return []
        keys = sorted(found, key=lambda key: (key[0], -key[1]))
        if first_only:
            keys = keys[:1]
        _, offsets = fold_with_offsets(text)
        matches = []
        for key in keys:
            start, end = offsets[key[0]], offsets[key[1] - 1] + 1
            term = found[key]
            matches.append(Match(term.text, term.category, start, end, text[start:end]))
        return matches

    def _scan(self, folded: str) -> Iterator[tuple[int, int, Term]]:
        """(start, end, term) in folded-text positions, in no particular order."""
        words = _WORD.findall(folded)
        # Prompts repeat their words: look each distinct word up once, then find where it was.
        hits = {word for word in set(words) if self._is_candidate(word)}
        found = [
            (i, last, pattern.term)
            for i, word in enumerate(words)
            if word in hits
            for pattern in self._lookup(_forms(word))
            if (last := _rest_matches(words, i, pattern)) is not None
        ]
        if found:
            spans = [word.span() for word in _WORD.finditer(folded)]
            for first, last, term in found:
                yield spans[first][0], spans[last][1], term
        for start, end, word in _joined_words(folded):
            if self._is_candidate(word):
                for pattern in self._lookup(_forms(word)):
                    if len(pattern.words) == 1:
                        yield start, end, pattern.term

    def _is_candidate(self, word: str) -> bool:
        """Whether any reading of `word` starts some term (remembered: prompts share words)."""
        known = self._candidates.get(word)
        if known is None:
            known = any(True for _ in self._lookup(_forms(word)))
            if len(self._candidates) >= _CACHE_SIZE:
                self._candidates.clear()
            self._candidates[word] = known
        return known

    def _lookup(self, forms: Iterable[str]) -> Iterator[_Pattern]:
        """Patterns whose first word is one of `forms`, with no letter repeated too few times."""
        for form in forms:
            skeleton, runs = _runs(form)
            for pattern in self._index.get(skeleton, ()):
                if _covers(runs, pattern.words[0][skeleton]):
                    yield pattern


def _readings(text: str) -> Iterator[str]:
    """The folded text, and if a capital I follows a small letter ("kIll"), with it read as l."""
    yield fold(text)
    if _CAPITAL_I_AS_L.search(text):
        yield fold(_CAPITAL_I_AS_L.sub(lambda found: "l" * len(found.group()), text))


@lru_cache(maxsize=_CACHE_SIZE)
def _forms(word: str) -> tuple[str, ...]:
    """The word and its leetspeak readings."""
    return (word, *leet_variants(word))


def _rest_matches(words: list[str], position: int, pattern: _Pattern) -> int | None:
    """Index of the last prompt word if the pattern's other words follow `position`."""
    last = position + len(pattern.words) - 1
    if last >= len(words):
        return None
    for offset, forms in enumerate(pattern.words[1:], start=1):
        if not any(
            skeleton in forms and _covers(runs, forms[skeleton])
            for skeleton, runs in map(_runs, _forms(words[position + offset]))
        ):
            return None
    return last


@lru_cache(maxsize=_CACHE_SIZE)
def _spelled_words(run: str) -> tuple[tuple[int, int, str], ...]:
    """The words a run of single characters may spell, with their spans in the run.

    The run is cut where the separator changes ("g o r e, a" is "gore" and "ea"), and a piece
    that starts with the word "a" or "i" is also read without it ("a n u d e" is "nude").
    """
    chars = [(m.start(), m.group()) for m in _SINGLE_CHAR.finditer(run)]
    gaps = [run[a[0] + 1 : b[0]] for a, b in itertools.pairwise(chars)]
    # Each stretch of equal gaps is a piece; a letter where the gap changes belongs to both.
    pieces: list[list[tuple[int, str]]] = []
    first = 0
    for i in range(1, len(gaps) + 1):
        if i == len(gaps) or gaps[i] != gaps[first]:
            pieces.append(chars[first : i + 1])
            first = i
    words = []
    for piece in pieces:
        if len(piece) > 1:
            words.append((piece[0][0], piece[-1][0] + 1, "".join(ch for _, ch in piece)))
        if len(piece) > 2 and piece[0][1] in _ONE_LETTER_WORDS:
            words.append((piece[1][0], piece[-1][0] + 1, "".join(ch for _, ch in piece[1:])))
    return tuple(words)


@lru_cache(maxsize=_CACHE_SIZE)
def _chain_joins(chain: str) -> tuple[tuple[int, int, str], ...]:
    """Stretches of two to four parts of "a-b.c" joined up, with their spans in the chain."""
    parts = [(m.start(), m.end(), m.group()) for m in _WORD.finditer(chain)]
    joins = []
    for first in range(len(parts) - 1):
        for last in range(first + 1, min(first + _MAX_JOINED_WORDS, len(parts))):
            stretch = parts[first : last + 1]
            if all(end - start == 1 for start, end, _ in stretch):
                continue  # spelled out letter by letter: read whole by _spelled_words
            joined = "".join(part for _, _, part in stretch)
            joins.append((parts[first][0], parts[last][1], joined))
    return tuple(joins)


def _joined_words(folded: str) -> Iterator[tuple[int, int, str]]:
    """Words hidden by spacing, punctuation or symbols, with their spans in `folded`.

    Runs of single characters ("n u d e", "n.u.d.e", "n|u|d|e", "$ e x"); words split by one
    punctuation mark ("nu-de", every stretch of two to four parts); words with symbols read as
    letters ("@ss", "$ex", "k!ll").
    """
    for run in _SINGLES_RUN.finditer(folded):
        base = run.start()
        for start, end, joined in _spelled_words(run.group()):
            yield base + start, base + end, joined
    for chain in _CHAIN.finditer(folded):
        base = chain.start()
        for start, end, joined in _chain_joins(chain.group()):
            yield base + start, base + end, joined
    if any(symbol in folded for symbol in _LETTER_SYMBOLS):
        for found in _SYMBOL_WORD.finditer(folded):
            word = found.group()
            core = word.strip(_SYMBOLS_AS_SEPARATORS)
            if core and any(symbol in core for symbol in _LETTER_SYMBOLS):
                start = found.start() + len(word) - len(word.lstrip(_SYMBOLS_AS_SEPARATORS))
                yield start, start + len(core), core


def check_prompt(
    prompt: str,
    negative_prompt: str | None,
    matcher: TermMatcher | Iterable[str],
    *,
    negative_matcher: TermMatcher | None = None,
) -> Match | None:
    """The first block-listed term in the prompt, else in the negative prompt, else None.

    The negative prompt is checked with `negative_matcher` when given, else with `matcher`.
    Build the `TermMatcher` once and pass it; a plain list of terms is indexed on every call.
    """
    if not isinstance(matcher, TermMatcher):
        matcher = TermMatcher.from_terms(matcher)
    found = matcher.match(prompt)
    if found is not None:
        return replace(found, field="prompt")
    if negative_prompt:
        found = (negative_matcher or matcher).match(negative_prompt)
        if found is not None:
            return replace(found, field="negative_prompt")
    return None
