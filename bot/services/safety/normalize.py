"""Fold text to the plain lower-case Latin that block-list terms are written in.

Folding is done one code point at a time, so it can run through `str.translate` (fast) and still be
undone into positions of the original text when a match needs reporting (`fold_with_offsets`).

For each code point:

* invisible and format characters (zero-width space/joiners, word joiner, BOM, soft hyphen,
  bidi controls, variation selectors, tag characters, combining marks, Hangul fillers) vanish;
* control characters and Unicode spaces become an ASCII space, a separator;
* everything else is NFKD-decomposed (fullwidth and mathematical letters, ligatures, accents),
  its combining marks dropped, and any remaining non-ASCII letter that looks like an ASCII letter
  or digit (Cyrillic 'а', Greek 'Ο', Latin 'ł') replaced by it, from Unicode's confusables data
  as shipped by `confusable_homoglyphs`, plus a few visual look-alikes that data leaves out;
* the result is lower-cased.

Letter substitutions (leetspeak) are not folded here: '1' may stand for 'i' or 'l', and "2024" is
a year, so the matcher decides per word (see `leet_variants`).
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from itertools import product

__all__ = [
    "LEET_CHARS",
    "fold",
    "fold_char",
    "fold_with_offsets",
    "leet_variants",
    "preload",
]

# Default-ignorable characters that are not in the format (Cf) or mark (Mn, Me) categories.
_IGNORABLE = frozenset(
    [
        *(0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x3164, 0xFFA0),
        *range(0x180B, 0x1810),  # Mongolian free variation selectors and vowel separator
    ]
)
_DROPPED_CATEGORIES = frozenset({"Cf", "Mn", "Me"})
_SEPARATOR_CATEGORIES = frozenset({"Cc", "Zs", "Zl", "Zp"})

# Look-alikes that the confusables data maps only to other non-ASCII characters.
_EXTRA_LOOKALIKES = {
    "ε": "e",
    "ɛ": "e",
    "τ": "t",
    "ᴛ": "t",
    "т": "t",
    "κ": "k",
    "ĸ": "k",
    "ᴋ": "k",
    "к": "k",
    "χ": "x",
    "н": "h",
    "ʜ": "h",
    "м": "m",
    "ᴍ": "m",
    "в": "b",
    "ʙ": "b",
    "ð": "d",
    "ŀ": "l",
}

# Characters that stand in for letters in leetspeak; ambiguous ones list every reading.
_LEET: dict[str, tuple[str, ...]] = {
    "0": ("o",),
    "1": ("i", "l"),
    "3": ("e",),
    "4": ("a",),
    "5": ("s",),
    "7": ("t",),
    "8": ("b",),
    "9": ("g",),
    "@": ("a",),
    "$": ("s",),
    "!": ("i",),
    "|": ("l", "i"),
}
LEET_CHARS = frozenset(_LEET)
_MAX_VARIANTS = 16


@cache
def _lookalikes() -> dict[str, str]:
    """Non-ASCII character -> the ASCII letter or digit it is drawn like (lower case)."""
    from confusable_homoglyphs.confusables import confusables_data

    def ascii_of(glyph: str) -> str | None:
        base = "".join(ch for ch in glyph if unicodedata.category(ch) not in _DROPPED_CATEGORIES)
        return base if len(base) == 1 and base.isascii() and base.isalnum() else None

    table: dict[str, str] = {}
    for key, homoglyphs in confusables_data.items():
        if len(key) != 1:
            continue
        if key.isascii():
            if not key.isalnum():
                continue
            for entry in homoglyphs:
                glyph = entry["c"]
                if len(glyph) == 1 and not glyph.isascii():
                    table.setdefault(glyph, key)
        else:
            for entry in homoglyphs:
                target = ascii_of(entry["c"])
                if target is not None:
                    table[key] = target
                    break
    for glyph, target in list(table.items()):
        # Unicode's skeleton draws capital I as 'l'; an upper-case look-alike of it means 'i'.
        if target in "lI" and unicodedata.category(glyph) == "Lu":
            table[glyph] = "i"
        else:
            table[glyph] = target.lower()
    table.update(_named_letters())
    table.update(_EXTRA_LOOKALIKES)
    return table


# Letters drawn as small capitals, in squares or circles, or as flag halves, which neither NFKD nor
# the confusables data maps back to their letter.
_NAMED_LETTER = re.compile(
    r"(?:LATIN LETTER SMALL CAPITAL|(?:NEGATIVE )?(?:SQUARED|CIRCLED) LATIN CAPITAL LETTER"
    r"|REGIONAL INDICATOR SYMBOL LETTER) ([A-Z])"
)
_NAMED_LETTER_BLOCKS = ((0x0250, 0x02B0), (0x1D00, 0x1DC0), (0xA720, 0xA800), (0x1F100, 0x1F200))


def _named_letters() -> dict[str, str]:
    table = {}
    for first, end in _NAMED_LETTER_BLOCKS:
        for code in range(first, end):
            found = _NAMED_LETTER.fullmatch(unicodedata.name(chr(code), ""))
            if found:
                table[chr(code)] = found.group(1).lower()
    return table


def preload() -> None:
    """Load the look-alike table now (tens of milliseconds), not on the first non-ASCII prompt."""
    _lookalikes()


def fold_char(ch: str) -> str:
    """Fold one code point; '' when it is invisible, ' ' when it separates words."""
    code = ord(ch)
    if code < 0x80:
        return ch.lower()
    category = unicodedata.category(ch)
    if category in _DROPPED_CATEGORIES or code in _IGNORABLE:
        return ""
    if category in _SEPARATOR_CATEGORIES:
        return " "
    lookalikes = _lookalikes()
    out = []
    for part in unicodedata.normalize("NFKD", ch):
        if part.isascii():
            out.append(part.lower())
        elif unicodedata.category(part) in _DROPPED_CATEGORIES:
            continue
        elif part in lookalikes:
            out.append(lookalikes[part])
        else:
            folded = part.casefold()
            out.append("".join(lookalikes.get(c, c) for c in folded))
    return "".join(out)


class _FoldTable(dict[int, str]):
    """`str.translate` table that folds each new code point on first sight, then remembers it."""

    _LIMIT = 50_000  # a flood of distinct rare characters must not grow the table without end

    def __missing__(self, code: int) -> str:
        folded = fold_char(chr(code))
        if len(self) < self._LIMIT:
            self[code] = folded
        return folded


_TABLE = _FoldTable()


_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


def _fold_run(found: re.Match[str]) -> str:
    return found.group().translate(_TABLE)


def fold(text: str) -> str:
    """Fold `text` for matching (see the module docstring)."""
    if text.isascii():
        return text.lower()
    return _NON_ASCII.sub(_fold_run, text).lower()


def fold_with_offsets(text: str) -> tuple[str, list[int]]:
    """Fold `text` and return, for each folded character, the index it came from in `text`."""
    offsets: list[int] = []
    position = 0
    for run in _NON_ASCII.finditer(text):
        offsets.extend(range(position, run.start()))
        for index in range(run.start(), run.end()):
            offsets.extend([index] * len(_TABLE[ord(text[index])]))
        position = run.end()
    offsets.extend(range(position, len(text)))
    return fold(text), offsets


def leet_variants(word: str) -> list[str]:
    """The readings of a folded word with leetspeak undone, or [] if it should be taken as is.

    A word is read as leetspeak only when it has letters and no more digits than letters:
    "s3x" and "$ex" are, "a55" (a phone), "4k", and "1990" are not.
    """
    letters = digits = 0
    for ch in word:
        if ch.isdigit():
            digits += 1
        elif ch.isalpha():
            letters += 1
    if letters == 0 or digits > letters or (digits == 0 and not LEET_CHARS.intersection(word)):
        return []
    choices = [_LEET.get(ch, (ch,)) for ch in word]
    variants: list[str] = []
    for combo in product(*choices):
        variants.append("".join(combo))
        if len(variants) >= _MAX_VARIANTS:
            break
    return variants
