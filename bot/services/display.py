"""Showing user text (prompts, server terms, names) safely inside Discord messages.

Pure functions, no discord import. `for_display` is the usual entry point; it runs, in order:

1. `clean_text`: drop control and invisible/format characters (zero-width characters, bidi
   overrides and isolates, tag characters), keeping the joiners and variation selectors inside
   emoji; cap stacked combining marks ("Zalgo"); collapse whitespace runs and floods of the same
   emoji or symbol;
2. `neutralize_mentions`: `@everyone`, `@here`, `<@123>`, `<@&123>`, `<#123>` and `</cmd:123>`
   are rewritten with a fullwidth '＠', '＃' or '／' so they read the same and can never ping or
   link (the bot also sends with no allowed mentions; this is defence in depth);
3. `escape_markdown`: formatting characters, line-start markers and masked links render
   literally;
4. `truncate`: cut on a character-cluster boundary, within the limit, ending with '…'.

Discord measures message lengths in code points, as Python's `len` does.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

__all__ = [
    "ELLIPSIS",
    "clean_text",
    "collapse_floods",
    "collapse_whitespace",
    "escape_markdown",
    "for_display",
    "grapheme_clusters",
    "neutralize_mentions",
    "reveal_invisible",
    "strip_invisible",
    "truncate",
]

ELLIPSIS = "…"
ZWJ = "\u200d"
_VARIATION_SELECTORS = frozenset("\ufe0e\ufe0f")
_KEYCAP = "\u20e3"
_SKIN_TONES = range(0x1F3FB, 0x1F400)
_REGIONAL_INDICATORS = range(0x1F1E6, 0x1F200)
# Default-ignorable characters outside the Cf category: they draw nothing.
_IGNORABLE = frozenset(
    "\u034f\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180e\u180f\u3164\uffa0"
    "\ufe00\ufe01\ufe02\ufe03\ufe04\ufe05\ufe06\ufe07\ufe08\ufe09\ufe0a\ufe0b\ufe0c\ufe0d"
)
_MAX_MARKS = 2
_MAX_REPEAT = 3
_MAX_EMOJI_RUN = 10


def _is_pictographic(ch: str) -> bool:
    code = ord(ch)
    return 0x1F000 <= code <= 0x1FAFF or unicodedata.category(ch) == "So"


def _is_extender(ch: str) -> bool:
    """Characters that belong to the cluster before them."""
    code = ord(ch)
    return (
        unicodedata.category(ch) in ("Mn", "Me", "Mc")
        or ch in _VARIATION_SELECTORS
        or code in _SKIN_TONES
        or 0xE0020 <= code <= 0xE007F  # emoji tag sequences (subdivision flags)
    )


def _is_pair(first: str, second: str) -> bool:
    """CR LF, a surrogate pair, or two regional indicators (a flag)."""
    return (
        (first == "\r" and second == "\n")
        or ("\ud800" <= first <= "\udbff" and "\udc00" <= second <= "\udfff")
        or (ord(first) in _REGIONAL_INDICATORS and ord(second) in _REGIONAL_INDICATORS)
    )


def grapheme_clusters(text: str) -> Iterator[str]:
    """Split text into user-perceived characters, approximately (no full UAX #29).

    Keeps together: a base and its combining marks, variation selectors and skin tones; emoji
    joined by ZWJ; pairs of regional indicators (flags); surrogate pairs; CR LF.
    """
    i, n = 0, len(text)
    while i < n:
        start = i
        ch = text[i]
        i += 1
        if i < n and _is_pair(ch, text[i]):
            i += 1
        while i < n:
            if _is_extender(text[i]):
                i += 1
            elif text[i] == ZWJ and i + 1 < n and not text[i + 1].isspace():
                i += 2
            else:
                break
        yield text[start:i]


def _is_invisible(ch: str) -> bool:
    category = unicodedata.category(ch)
    return (
        (category == "Cc" and ch not in "\n\t")
        or category in ("Cf", "Cs")
        or ch in _IGNORABLE
        or ch in "\u2028\u2029"  # line and paragraph separators
        or "\U000e0100" <= ch <= "\U000e01ef"  # variation selectors 17-256
    )


def strip_invisible(text: str) -> str:
    """Remove control and invisible characters; emoji keep their joiners and selectors.

    Removed: C0/C1 controls (tabs become spaces, newlines stay), format characters (zero-width
    space, joiners outside emoji, word joiner, BOM, soft hyphen, LRM/RLM, bidi embeddings,
    overrides and isolates U+202A-U+202E and U+2066-U+2069, tag characters), lone surrogates,
    line/paragraph separators, Hangul fillers, and variation selectors outside emoji.
    """
    out: list[str] = []
    for i, ch in enumerate(text):
        if ch == "\t":
            out.append(" ")
        elif ch == ZWJ:
            before = out[-1] if out else ""
            after = text[i + 1] if i + 1 < len(text) else ""
            if before and after and _is_emojiish(before) and _is_pictographic(after):
                out.append(ch)
        elif ch in _VARIATION_SELECTORS:
            if out and (_is_emojiish(out[-1]) or out[-1] in "0123456789#*"):
                out.append(ch)
        elif 0xE0020 <= ord(ch) <= 0xE007F:
            if out and (_is_pictographic(out[-1]) or 0xE0020 <= ord(out[-1]) <= 0xE007F):
                out.append(ch)  # subdivision flags: black flag + tag letters
        elif not _is_invisible(ch):
            out.append(ch)
    return "".join(out)


def _is_emojiish(ch: str) -> bool:
    return _is_pictographic(ch) or ch in _VARIATION_SELECTORS or ord(ch) in _SKIN_TONES


def _cap_marks(text: str, limit: int = _MAX_MARKS) -> str:
    """Keep at most `limit` combining marks on any character (after composing what composes)."""
    out: list[str] = []
    marks = 0
    for ch in unicodedata.normalize("NFC", text):
        if unicodedata.category(ch) in ("Mn", "Me"):
            marks += 1
            if marks > limit:
                continue
        else:
            marks = 0
        out.append(ch)
    return "".join(out)


_HORIZONTAL_SPACE = re.compile(r"[^\S\n]+")
_SPACE_AROUND_NEWLINE = re.compile(r" *\n *")
_BLANK_LINES = re.compile(r"\n{3,}")


def collapse_whitespace(text: str, *, single_line: bool = False) -> str:
    """One space for any run of spaces, at most one blank line, no space at the ends.

    With `single_line`, newlines become spaces too (for titles and one-line fields).
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if single_line:
        text = text.replace("\n", " ")
    text = _HORIZONTAL_SPACE.sub(" ", text)
    text = _SPACE_AROUND_NEWLINE.sub("\n", text)
    text = _BLANK_LINES.sub("\n\n", text)
    return text.strip()


def collapse_floods(
    text: str, *, max_repeat: int = _MAX_REPEAT, max_emoji_run: int = _MAX_EMOJI_RUN
) -> str:
    """Cap repeats of one emoji or symbol ("🔥🔥🔥🔥🔥🔥" -> "🔥🔥🔥") and long runs of emoji.

    Letters, digits and spaces are left alone: "nooooo" is the user's own spelling.
    """
    out: list[str] = []
    previous = ""
    repeat = emoji_run = 0
    for cluster in grapheme_clusters(text):
        floodable = not cluster[0].isalnum() and not cluster.isspace()
        repeat = repeat + 1 if cluster == previous else 1
        previous = cluster
        emoji_run = emoji_run + 1 if _is_pictographic(cluster[0]) else 0
        if floodable and (repeat > max_repeat or emoji_run > max_emoji_run):
            continue
        out.append(cluster)
    return "".join(out)


def clean_text(text: str, *, single_line: bool = False) -> str:
    """Invisible characters out, combining marks capped, whitespace and floods collapsed."""
    text = _cap_marks(strip_invisible(text))
    return collapse_whitespace(collapse_floods(text), single_line=single_line)


_EVERYONE = re.compile(r"@(everyone|here)", re.IGNORECASE)
_ID_MENTION = re.compile(r"<(@[!&]?|#)(\d+)>")
_COMMAND_MENTION = re.compile(r"</([^<>:\s]+(?: [^<>:\s]+){0,2}):(\d+)>")
_FULLWIDTH = str.maketrans({"@": "＠", "#": "＃"})


def neutralize_mentions(text: str) -> str:
    """Rewrite mention syntax so it reads the same but is never a ping or a link."""
    text = _EVERYONE.sub(lambda m: "＠" + m.group(1), text)
    text = _ID_MENTION.sub(lambda m: f"<{m.group(1).translate(_FULLWIDTH)}{m.group(2)}>", text)
    return _COMMAND_MENTION.sub(lambda m: f"<／{m.group(1)}:{m.group(2)}>", text)


_MARKDOWN_CHARS = re.compile(r"([\\*_~`|>#\-\[\]()])")
_ORDERED_LIST = re.compile(r"^(\s*\d+)\.(?=\s)", re.MULTILINE)
_PLUS_LIST = re.compile(r"^(\s*)\+(?=\s)", re.MULTILINE)


def escape_markdown(text: str) -> str:
    """Backslash-escape Discord markdown so the text renders literally.

    Escapes \\ * _ ~ ` | > # - [ ] ( ) everywhere (covering bold, italics, strikethrough,
    code, spoilers, quotes, headings, subtext, bullet lists and masked links), and the '.' of
    an ordered-list marker and a leading '+' list marker.
    """
    text = _MARKDOWN_CHARS.sub(r"\\\1", text)
    text = _ORDERED_LIST.sub(r"\1\\.", text)
    return _PLUS_LIST.sub(r"\1\\+", text)


def truncate(text: str, limit: int, *, placeholder: str = ELLIPSIS) -> str:
    """`text` if it fits in `limit` code points, else a prefix ending in `placeholder` that does.

    Cuts between character clusters (never inside an emoji sequence, a flag, an accented
    letter or a surrogate pair), drops trailing spaces before the placeholder, and never leaves
    a lone escaping backslash in front of it.
    """
    if limit < 0:
        raise ValueError("limit must not be negative")
    if len(text) <= limit:
        return text
    if limit <= len(placeholder):
        return placeholder[:limit]
    budget = limit - len(placeholder)
    kept: list[str] = []
    used = 0
    for cluster in grapheme_clusters(text):
        if used + len(cluster) > budget:
            break
        kept.append(cluster)
        used += len(cluster)
    head = "".join(kept).rstrip()
    trailing_backslashes = len(head) - len(head.rstrip("\\"))
    if trailing_backslashes % 2:
        head = head[:-1]
    return head + placeholder


def for_display(text: str, limit: int | None = None, *, single_line: bool = False) -> str:
    """User text made safe to put in a Discord message: cleaned, neutralized, escaped, cut."""
    shown = escape_markdown(neutralize_mentions(clean_text(text, single_line=single_line)))
    return shown if limit is None else truncate(shown, limit)


def reveal_invisible(text: str) -> str:
    """Show hidden characters as ⟨U+200B⟩ markers, for moderators studying an evasion."""
    return "".join(
        f"⟨U+{ord(ch):04X}⟩"
        if _is_invisible(ch) or ch == ZWJ or ch in _VARIATION_SELECTORS or ch in _IGNORABLE
        else ch
        for ch in text
    )
