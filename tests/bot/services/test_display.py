"""Showing user text in Discord messages: invisible characters, mentions, markdown, length."""

from __future__ import annotations

import re

import pytest

from bot.services.display import (
    ELLIPSIS,
    clean_text,
    collapse_floods,
    collapse_whitespace,
    escape_markdown,
    for_display,
    grapheme_clusters,
    neutralize_mentions,
    reveal_invisible,
    strip_invisible,
    truncate,
)

FAMILY = "👨\u200d👩\u200d👧"
HEART = "❤\ufe0f"
THUMBS_UP_DARK = "👍🏿"
FLAG_FR = "🇫🇷"
KEYCAP_ONE = "1\ufe0f\u20e3"
SCOTLAND = "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"


@pytest.mark.parametrize(
    "hidden",
    [
        "\u200b",  # zero-width space
        "\u200c",  # zero-width non-joiner
        "\u200d",  # zero-width joiner, outside an emoji
        "\u2060",  # word joiner
        "\ufeff",  # byte order mark
        "\u00ad",  # soft hyphen
        "\u200e",  # left-to-right mark
        "\u200f",  # right-to-left mark
        "\u202a",
        "\u202b",
        "\u202c",
        "\u202d",
        "\u202e",  # right-to-left override
        "\u2066",
        "\u2067",
        "\u2068",
        "\u2069",  # pop directional isolate
        "\u2028",  # line separator
        "\x00",
        "\x07",
        "\x1b",
        "\x7f",
        "\x85",
        "\U000e0041",  # tag letter (hidden-text smuggling)
        "\u3164",  # Hangul filler
        "\ufe0f",  # variation selector on a letter
        "\ufe00",  # variation selector 1
        "\U000e0100",  # variation selector 17
        "\ud800",  # lone surrogate
    ],
)
def test_strip_invisible_removes(hidden: str) -> None:
    assert strip_invisible(f"ab{hidden}cd") == "abcd"


def test_strip_invisible_keeps_newlines_and_turns_tabs_into_spaces() -> None:
    assert strip_invisible("a\tb\nc") == "a b\nc"


@pytest.mark.parametrize("emoji", [FAMILY, HEART, THUMBS_UP_DARK, FLAG_FR, KEYCAP_ONE, SCOTLAND])
def test_strip_invisible_keeps_emoji_sequences_whole(emoji: str) -> None:
    assert strip_invisible(f"I {emoji} it") == f"I {emoji} it"


def test_reveal_invisible_names_hidden_characters() -> None:
    assert reveal_invisible("n\u200bu\u202ede") == "n⟨U+200B⟩u⟨U+202E⟩de"
    assert reveal_invisible("plain") == "plain"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@everyone look", "＠everyone look"),
        ("hi @here", "hi ＠here"),
        ("@EveryOne", "＠EveryOne"),
        ("<@123456789012345678>", "<＠123456789012345678>"),
        ("<@!123456789012345678>", "<＠!123456789012345678>"),
        ("<@&123456789012345678>", "<＠&123456789012345678>"),
        ("<#123456789012345678>", "<＃123456789012345678>"),
        ("</imagine:123456789012345678>", "<／imagine:123456789012345678>"),
        ("</settings safety level:123>", "<／settings safety level:123>"),
        ("write to me@example.com", "write to me@example.com"),
        ("<:smile:123>", "<:smile:123>"),
    ],
)
def test_neutralize_mentions(text: str, expected: str) -> None:
    assert neutralize_mentions(text) == expected


_MENTION = re.compile(r"@(everyone|here)|<@[!&]?\d+>|<#\d+>|</[^>]+:\d+>")


@pytest.mark.parametrize(
    "text",
    [
        "@\u200beveryone",
        "@\u2060here",
        "<@\u200b123>",
        "@every\u00adone",
        "<\u200e@&123>",
        "@everyone and <@1> and <#2> and </x:3>",
    ],
)
def test_for_display_never_leaves_a_ping(text: str) -> None:
    assert not _MENTION.search(for_display(text))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("**bold**", r"\*\*bold\*\*"),
        ("__under__ _it_", r"\_\_under\_\_ \_it\_"),
        ("~~gone~~", r"\~\~gone\~\~"),
        ("`code` ```block```", r"\`code\` \`\`\`block\`\`\`"),
        ("||spoiler||", r"\|\|spoiler\|\|"),
        ("> quote", r"\> quote"),
        ("# Heading", r"\# Heading"),
        ("-# subtext", r"\-\# subtext"),
        ("- item", r"\- item"),
        ("* item", r"\* item"),
        ("1. item", r"1\. item"),
        ("  12. item", r"  12\. item"),
        ("+ item", r"\+ item"),
        ("[click](https://evil.example)", r"\[click\]\(https://evil.example\)"),
        ("back\\slash", "back\\\\slash"),
        ("version 1.5 is out", "version 1.5 is out"),
        ("a + b", "a + b"),
    ],
)
def test_escape_markdown(text: str, expected: str) -> None:
    assert escape_markdown(text) == expected


@pytest.mark.parametrize(
    "text", ["**a** _b_ ~~c~~ `d` ||e|| > f # g -h [i](j) \\k", "1. one\n2. two\n+ three"]
)
def test_escaped_markdown_unescapes_to_the_original(text: str) -> None:
    # Discord drops a backslash before any punctuation mark and shows the mark.
    assert re.sub(r"\\([^A-Za-z0-9\s])", r"\1", escape_markdown(text)) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a   b\t\tc", "a b c"),
        ("  padded  ", "padded"),
        ("one\n\n\n\n\ntwo", "one\n\ntwo"),
        ("one  \n  two", "one\ntwo"),
        ("a\r\nb\rc", "a\nb\nc"),
        ("a\u00a0\u2003b", "a b"),
    ],
)
def test_collapse_whitespace(text: str, expected: str) -> None:
    assert collapse_whitespace(text) == expected


def test_collapse_whitespace_single_line() -> None:
    assert collapse_whitespace("one\n\ntwo\nthree", single_line=True) == "one two three"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("🔥" * 10, "🔥" * 3),
        ("wow!!!!!!!!", "wow!!!"),
        (THUMBS_UP_DARK * 5, THUMBS_UP_DARK * 3),
        (FAMILY * 4, FAMILY * 3),
        ("nooooooo", "nooooooo"),
        ("2000000", "2000000"),
        ("🔥🔥🔥 then 🔥🔥🔥", "🔥🔥🔥 then 🔥🔥🔥"),
    ],
)
def test_collapse_floods(text: str, expected: str) -> None:
    assert collapse_floods(text) == expected


def test_collapse_floods_caps_a_long_run_of_different_emoji() -> None:
    many = "".join(chr(0x1F600 + i) for i in range(30))
    assert collapse_floods(many) == many[:10]


def test_clean_text_caps_stacked_combining_marks() -> None:
    zalgo = "Z" + "\u0300\u0301\u0302\u0303\u0304\u0305\u0306\u0307" + "a"
    assert clean_text(zalgo) == "Z\u0300\u0301a"


def test_clean_text_keeps_ordinary_accents() -> None:
    assert clean_text("café naïve Việt") == "café naïve Việt"


@pytest.mark.parametrize(
    ("text", "clusters"),
    [
        ("ab", ["a", "b"]),
        ("e\u0301x", ["e\u0301", "x"]),
        (f"{FAMILY}!", [FAMILY, "!"]),
        (f"{FLAG_FR}{FLAG_FR}", [FLAG_FR, FLAG_FR]),
        (KEYCAP_ONE, [KEYCAP_ONE]),
        ("\ud83d\ude00a", ["\ud83d\ude00", "a"]),
        ("a\r\nb", ["a", "\r\n", "b"]),
    ],
)
def test_grapheme_clusters(text: str, clusters: list[str]) -> None:
    assert list(grapheme_clusters(text)) == clusters


def test_truncate_leaves_short_text_alone() -> None:
    assert truncate("hello", 5) == "hello"
    assert truncate("", 0) == ""


def test_truncate_fits_the_ellipsis_within_the_limit() -> None:
    cut = truncate("hello world", 8)
    assert cut == "hello w" + ELLIPSIS
    assert len(cut) == 8


def test_truncate_drops_trailing_space_before_the_ellipsis() -> None:
    assert truncate("hello world", 7) == "hello" + ELLIPSIS


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("cafe\u0301 au lait", 5, "caf" + ELLIPSIS),  # never "cafe" + a lost accent
        (f"ab{FAMILY}cd", 6, "ab" + ELLIPSIS),  # the family is 5 code points
        (f"a{FLAG_FR}b", 3, "a" + ELLIPSIS),
        ("a\ud83d\ude00b", 3, "a" + ELLIPSIS),  # a surrogate pair stays whole
        (r"ab\*cd", 4, "ab" + ELLIPSIS),  # no lone backslash escaping the ellipsis
        (r"ab\\cd", 5, "ab\\\\" + ELLIPSIS),  # an escaped backslash is kept whole
    ],
)
def test_truncate_cuts_between_clusters(text: str, limit: int, expected: str) -> None:
    cut = truncate(text, limit)
    assert cut == expected
    assert len(cut) <= limit


def test_truncate_tiny_limits_and_custom_placeholder() -> None:
    assert truncate("hello", 1) == ELLIPSIS
    assert truncate("hello", 0) == ""
    assert truncate("hello world", 8, placeholder="...") == "hello..."
    with pytest.raises(ValueError, match="negative"):
        truncate("hello", -1)


def test_for_display_end_to_end() -> None:
    raw = "  @everyone **FREE** [nitro](https://x.example)\u202e\u200b  " + "🔥" * 9
    assert for_display(raw) == r"＠everyone \*\*FREE\*\* \[nitro\]\(https://x.example\) 🔥🔥🔥"


def test_for_display_respects_the_limit_and_single_line() -> None:
    shown = for_display("line one\nline **two** " + "x" * 500, 40, single_line=True)
    assert len(shown) <= 40
    assert "\n" not in shown
    assert shown.endswith(ELLIPSIS)
