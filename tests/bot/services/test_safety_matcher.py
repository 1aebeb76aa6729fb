"""The term matcher: disguises it must see through, and look-alikes it must leave alone.

The evasion corpus uses benign placeholder terms; the look-alike corpus uses the short rude words
that innocent words contain, because those are where false positives come from.
"""

from __future__ import annotations

import pytest

from bot.services.safety.matcher import (
    Match,
    Term,
    TermMatcher,
    check_prompt,
    normalize_term,
)
from bot.services.safety.normalize import fold, fold_with_offsets, leet_variants

PLACEHOLDERS = TermMatcher.from_terms(["nude", "gore", "kill", "badword", "gore scene", "pox"])

# (prompt, the term it must be caught as, the disguised slice the match must point at)
EVASIONS = [
    # case and accents
    ("NUDE", "nude", "NUDE"),
    ("a NuDe statue", "nude", "NuDe"),
    ("a nüdé statue", "nude", "nüdé"),
    ("ñúdè", "nude", "ñúdè"),
    ("nu\u0301de\u0308", "nude", "nu\u0301de"),
    ("KİLL", "kill", "KİLL"),
    # invisible and format characters
    ("n\u200bude", "nude", "n\u200bude"),
    ("nu\u200cde", "nude", "nu\u200cde"),
    ("nud\u200de", "nude", "nud\u200de"),
    ("n\u2060ude", "nude", "n\u2060ude"),
    ("\ufeffnude", "nude", "nude"),
    ("nu\u00adde", "nude", "nu\u00adde"),
    ("n\ufe0fu\ufe0ed\U000e0100e", "nude", "n\ufe0fu\ufe0ed\U000e0100e"),
    ("n\u0336u\u0336d\u0336e", "nude", "n\u0336u\u0336d\u0336e"),
    ("nu\u202ede", "nude", "nu\u202ede"),
    ("n\u034fu\u3164de", "nude", "n\u034fu\u3164de"),
    ("g\U000e0041ore", "gore", "g\U000e0041ore"),
    # spacing and punctuation
    ("n u d e", "nude", "n u d e"),
    ("N U D E", "nude", "N U D E"),
    ("n.u.d.e", "nude", "n.u.d.e"),
    ("n-u-d-e", "nude", "n-u-d-e"),
    ("n_u_d_e", "nude", "n_u_d_e"),
    ("n*u*d*e", "nude", "n*u*d*e"),
    ("n/u/d/e", "nude", "n/u/d/e"),
    ("n|u|d|e", "nude", "n|u|d|e"),
    ("n . u . d . e", "nude", "n . u . d . e"),
    ("n  u  d  e", "nude", "n  u  d  e"),
    ("a n u d e statue", "nude", "n u d e"),
    ("statue, g o r e, a lake", "gore", "g o r e"),
    ("b a d w o r d", "badword", "b a d w o r d"),
    ("nu-de", "nude", "nu-de"),
    ("ki.ll", "kill", "ki.ll"),
    ("bad-word", "badword", "bad-word"),
    ("bad_word", "badword", "bad_word"),
    # repeated letters
    ("nuuude", "nude", "nuuude"),
    ("nnnuuudddeee", "nude", "nnnuuudddeee"),
    ("kiiiilll", "kill", "kiiiilll"),
    ("goooore", "gore", "goooore"),
    # leetspeak
    ("nud3", "nude", "nud3"),
    ("g0r3", "gore", "g0r3"),
    ("k1ll", "kill", "k1ll"),
    ("ki11", "kill", "ki11"),
    ("k!ll", "kill", "k!ll"),
    ("k|ll", "kill", "k|ll"),
    ("b4dw0rd", "badword", "b4dw0rd"),
    ("b@dword", "badword", "b@dword"),
    ("n u d 3", "nude", "n u d 3"),
    # look-alike letters
    ("nudе", "nude", "nudе"),  # Cyrillic е
    ("gоrе", "gore", "gоrе"),  # Cyrillic о, е
    ("kіll", "kill", "kіll"),  # Ukrainian і
    ("рох", "pox", "рох"),  # Cyrillic р, о, х
    ("ΝUDΕ", "nude", "ΝUDΕ"),  # Greek capitals
    ("κill", "kill", "κill"),  # Greek kappa
    ("ＮＵＤＥ", "nude", "ＮＵＤＥ"),  # fullwidth
    ("ｎｕｄｅ", "nude", "ｎｕｄｅ"),
    ("𝐧𝐮𝐝𝐞", "nude", "𝐧𝐮𝐝𝐞"),  # mathematical bold
    ("𝓷𝓾𝓭𝓮", "nude", "𝓷𝓾𝓭𝓮"),  # mathematical script
    ("𝕟𝕦𝕕𝕖", "nude", "𝕟𝕦𝕕𝕖"),  # double-struck
    ("ⓝⓤⓓⓔ", "nude", "ⓝⓤⓓⓔ"),  # circled
    ("ɴᴜᴅᴇ", "nude", "ɴᴜᴅᴇ"),  # small capitals
    ("🅽🆄🅳🅴", "nude", "🅽🆄🅳🅴"),  # negative squared
    ("🇳🇺🇩🇪", "nude", "🇳🇺🇩🇪"),  # regional indicators
    # combinations
    ("Ｎ.ｕ.Ｄ.3", "nude", "Ｎ.ｕ.Ｄ.3"),
    ("n\u200b.u.d.е", "nude", "n\u200b.u.d.е"),
    ("k1\u200bll", "kill", "k1\u200bll"),
    ("kIll", "kill", "kIll"),
    # multi-word terms
    ("gore scene", "gore scene", "gore scene"),
    ("a gore   scenes at night", "gore scene", "gore   scenes"),
    ("gore-scene", "gore scene", "gore-scene"),
    ("Gore_Scene", "gore scene", "Gore_Scene"),
    ("gorescene", "gore scene", "gorescene"),
    ("g0re sc3ne", "gore scene", "g0re sc3ne"),
    # plurals and surroundings
    ("nudes", "nude", "nudes"),
    ("kills", "kill", "kills"),
    ("badwords", "badword", "badwords"),
    ("a photo, (NUDE:1.3), masterpiece", "nude", "NUDE"),
    ("[nude]", "nude", "nude"),
    ("#nude", "nude", "nude"),
    ("nude!!!", "nude", "nude"),
    ("!nude", "nude", "nude"),
    ("«nude»", "nude", "nude"),
    ("the nude's pose", "nude", "nude's"),
    ("line one\nnude\nline three", "nude", "nude"),
]


@pytest.mark.parametrize(("prompt", "term", "excerpt"), EVASIONS)
def test_evasion_is_caught(prompt: str, term: str, excerpt: str) -> None:
    found = PLACEHOLDERS.match(prompt)
    assert found is not None, f"{prompt!r} was not caught"
    assert found.term == term
    assert found.excerpt == excerpt
    assert prompt[found.start : found.end] == found.excerpt


LOOKALIKE_TERMS = TermMatcher.from_terms(
    ["ass", "rape", "cock", "sex", "kill", "nude", "gore", "tit", "anal", "spic", "hell"]
)

HARMLESS = [
    "Scunthorpe United at home",
    "a classic class photo",
    "an assassin in a hooded cloak",
    "a narrow passage",
    "bass guitar and a brass band",
    "a compass on an old map",
    "the embassy in Essex",
    "a massive asset",
    "Massachusetts in autumn",
    "a therapist's office",
    "grape harvest, grapefruit, drapes",
    "a trapeze artist, rapeseed fields",
    "a cocktail bar",
    "a peacock in a cockpit, a cockatoo",
    "a cocker spaniel",
    "Hitchcock film poster",
    "Sussex and Middlesex and Essex",
    "a sextant and a sextet, the sexton",
    "a unisex haircut",
    "woodworking skills, a cast iron skillet",
    "the Catskills at dawn",
    "a killer whale",
    "a kiln and a kilt",
    "data analysis, analog synth, a canal, banal",
    "a document on the desk",
    "a butterfly",
    "hello kitty plush",
    "a sea shell, hello there",
    "the Titanic, a titan, a petite title",
    "altitude and constitution",
    "denuded hills, nudibranch",
    "a gorge, gorgeous, Edward Gorey",
    "spiced rum, a spicy hospice",
    "T.I.T.A.N",
    "U.S.S. Enterprise",
    "A.S.A.P.",
    "a s-class car",
    "as seen on TV",
    "class-action lawsuit",
    "galaxy a55 phone",
    "455 tigers",
    "1girl, solo, 4k, 8k, 3d render, 50mm, f/1.8",
    "r2d2 and c3po",
    "(masterpiece:1.2), [blue|red] sky",
    "me@example.com",
    "the year 1990s",
]


@pytest.mark.parametrize("prompt", HARMLESS)
def test_harmless_lookalike_passes(prompt: str) -> None:
    assert LOOKALIKE_TERMS.match(prompt) is None


@pytest.mark.parametrize(
    ("prompt", "term"),
    [
        ("@ss", "ass"),
        ("a55hole", None),  # "a55hole" is not the whole word "ass"
        ("4ss", "ass"),
        ("a s s", "ass"),
        ("asses", "ass"),
        ("s3x", "sex"),
        ("$ex", "sex"),
        ("5ex", "sex"),
        ("$ 3 x", "sex"),
        ("r4pe", "rape"),
        ("c0ck", "cock"),
    ],
)
def test_lookalike_terms_still_catch_evasions(prompt: str, term: str | None) -> None:
    found = LOOKALIKE_TERMS.match(prompt)
    assert (found.term if found else None) == term


def test_repeats_do_not_stand_in_for_missing_letters() -> None:
    assert LOOKALIKE_TERMS.match("as") is None
    assert LOOKALIKE_TERMS.match("asss").term == "ass"


def test_verb_forms_are_not_guessed() -> None:
    # Only regular plurals are implied; other forms must be listed as terms.
    matcher = TermMatcher.from_terms(["spic", "cock", "kill"])
    assert matcher.match("spiced cider, a cocked hat, killing time") is None
    assert TermMatcher.from_terms(["killing"]).match("k1lling time").term == "killing"


def test_plurals_of_y_and_sibilant_words() -> None:
    matcher = TermMatcher.from_terms(["orgy", "box"])
    assert matcher.match("orgies").term == "orgy"
    assert matcher.match("boxes").term == "box"
    assert matcher.match("boxs").term == "box"


def test_find_all_reports_every_occurrence_in_order() -> None:
    found = PLACEHOLDERS.find_all("kill the nude, then k1ll again")
    assert [(m.term, m.excerpt) for m in found] == [
        ("kill", "kill"),
        ("nude", "nude"),
        ("kill", "k1ll"),
    ]


def test_positions_survive_characters_that_fold_to_several_or_none() -> None:
    prompt = "Straße ﬁne \u200b\u200bÉcole: n.ü.d.e"
    found = PLACEHOLDERS.match(prompt)
    assert found is not None
    assert found.excerpt == "n.ü.d.e"
    assert prompt[found.start : found.end] == "n.ü.d.e"


def test_match_carries_the_category_of_its_term() -> None:
    matcher = TermMatcher([Term("nude", "sexual"), Term("gore", "violent")])
    assert matcher.match("g0re").category == "violent"
    assert matcher.match("nud3").category == "sexual"


def test_same_term_in_two_categories_is_reported_for_each() -> None:
    matcher = TermMatcher([Term("nude", "sexual"), Term("Nude", "server")])
    assert {m.category for m in matcher.find_all("nude")} == {"sexual", "server"}


def test_duplicate_and_unusable_terms_are_dropped() -> None:
    matcher = TermMatcher.from_terms(["nude", "NUDE", " nude ", "", "x", "!!"])
    assert len(matcher) == 1
    assert matcher.match("x marks the spot") is None


def test_union_holds_both_matchers_terms() -> None:
    merged = TermMatcher.from_terms(["nude"]) | TermMatcher.from_terms(["gore scene", "nude"])
    assert len(merged) == 2
    assert merged.match("g0re scene").term == "gore scene"
    assert merged.match("nud3").term == "nude"


def test_empty_inputs() -> None:
    assert TermMatcher().match("anything at all") is None
    assert PLACEHOLDERS.match("") is None
    assert PLACEHOLDERS.find_all("   ") == []


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("  Gore-Scene ", "gore scene"),
        ("NÜDE", "nude"),
        ("bad   word", "bad word"),
        ("x", None),
        ("", None),
        ("!!!", None),
    ],
)
def test_normalize_term(raw: str, normalized: str | None) -> None:
    assert normalize_term(raw) == normalized


def test_check_prompt_checks_the_prompt_first_then_the_negative() -> None:
    found = check_prompt("a n.u.d.e statue", "g0re", PLACEHOLDERS)
    assert found is not None
    assert (found.term, found.field) == ("nude", "prompt")

    found = check_prompt("a lighthouse", "blurry, g0re", PLACEHOLDERS)
    assert found is not None
    assert (found.term, found.field, found.excerpt) == ("gore", "negative_prompt", "g0re")

    assert check_prompt("a lighthouse", None, PLACEHOLDERS) is None
    assert check_prompt("a lighthouse", "", PLACEHOLDERS) is None


def test_check_prompt_accepts_plain_terms_and_a_separate_negative_matcher() -> None:
    assert check_prompt("b@dword", None, ["badword"]).term == "badword"
    lenient = TermMatcher.from_terms(["badword"])
    assert check_prompt("fine", "nude, blurry", PLACEHOLDERS, negative_matcher=lenient) is None
    found = check_prompt("fine", "b a d w o r d", PLACEHOLDERS, negative_matcher=lenient)
    assert found == Match("badword", "custom", 0, 13, "b a d w o r d", "negative_prompt")


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("ΝUDΕ", "nude"),
        ("ｎｕｄｅ", "nude"),
        ("Straße", "strasse"),
        ("łøđ", "lod"),
        ("a\u200bb", "ab"),
        ("a\u00a0b\u3000c", "a b c"),
        ("Ɩ", "i"),  # an upper-case look-alike of I reads as i, not l
        ("漢字", "漢字"),
    ],
)
def test_fold(text: str, folded: str) -> None:
    assert fold(text) == folded
    assert fold_with_offsets(text)[0] == folded


def test_fold_with_offsets_points_back_into_the_text() -> None:
    folded, offsets = fold_with_offsets("ßa\u200bﬁ")
    assert folded == "ssafi"
    assert offsets == [0, 0, 1, 3, 3]


@pytest.mark.parametrize(
    ("word", "variants"),
    [
        ("s3x", ["sex"]),
        ("k1ll", ["kill", "klll"]),
        ("$ex", ["sex"]),
        ("a55", []),  # more digits than letters: a name, not leetspeak
        ("2024", []),
        ("kill", []),
    ],
)
def test_leet_variants(word: str, variants: list[str]) -> None:
    assert leet_variants(word) == variants
