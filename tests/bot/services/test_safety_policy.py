"""Levels, the shipped lists, and the verdict a server's policy gives a prompt."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

from bot.services.safety import (
    BLOCKED_AT,
    Category,
    SafetyPolicy,
    Term,
    TermMatcher,
    Verdict,
    effective_level,
    parse_term_list,
    shipped_lists,
    shipped_matcher,
)
from bot.services.safety.lists import BlocklistError, parse_blocklist
from providers.base import SafetyLevel

ROOT = Path(__file__).resolve().parents[3]
STRICT, STANDARD, RELAXED = SafetyLevel.STRICT, SafetyLevel.STANDARD, SafetyLevel.RELAXED


# --- levels -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("server", "age_restricted", "expected"),
    [
        (STRICT, False, STRICT),
        (STRICT, True, STRICT),
        (STANDARD, False, STANDARD),
        (STANDARD, True, STANDARD),
        (RELAXED, False, STANDARD),
        (RELAXED, True, RELAXED),
        ("relaxed", True, RELAXED),
    ],
)
def test_effective_level(server: SafetyLevel, age_restricted: bool, expected: SafetyLevel) -> None:
    assert effective_level(server, age_restricted) is expected


def test_stricter_levels_refuse_everything_looser_ones_do() -> None:
    assert BLOCKED_AT[RELAXED] < BLOCKED_AT[STANDARD] < BLOCKED_AT[STRICT]
    assert Category.MINORS not in BLOCKED_AT[STRICT]  # refused only alongside sexual words


# --- the shipped list ---------------------------------------------------------------------


def test_shipped_list_has_every_section() -> None:
    lists = shipped_lists()
    assert set(lists) == set(Category) - {Category.OPERATOR, Category.SERVER}
    for category, terms in lists.items():
        assert terms, f"[{category}] is empty"


def test_every_shipped_term_is_usable_and_listed_once() -> None:
    seen: dict[str, Category] = {}
    matcher = shipped_matcher()
    for category, terms in shipped_lists().items():
        for term in terms:
            assert term == term.strip().lower(), f"write {term!r} plainly, in lower case"
            assert term not in seen, f"{term!r} is in [{seen.get(term)}] and [{category}]"
            seen[term] = category
            found = {(m.term, m.category) for m in matcher.find_all(term)}
            assert (term, category) in found, f"{term!r} does not match itself"
    assert len(matcher) == len(seen)


def test_shipped_list_is_package_data() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    package_data = pyproject["tool"]["setuptools"]["package-data"]
    assert "*.txt" in package_data["bot.services.safety"]
    assert (ROOT / "bot" / "services" / "safety" / "default_blocklist.txt").is_file()


def test_parse_blocklist_reads_sections_and_comments() -> None:
    text = "# heading\n[sexual]\nnude  # trailing comment\n\n[HATE]\nbadword\n"
    assert parse_blocklist(text) == {Category.SEXUAL: ["nude"], Category.HATE: ["badword"]}


@pytest.mark.parametrize(
    ("text", "message"),
    [("nude\n[sexual]\n", "before any"), ("[server]\nnude\n", "unknown section")],
)
def test_parse_blocklist_rejects_bad_files(text: str, message: str) -> None:
    with pytest.raises(BlocklistError, match=message):
        parse_blocklist(text, source="test.txt")


@pytest.mark.parametrize(
    ("raw", "terms"),
    [
        ("nude, gore scene ,,badword,", ("nude", "gore scene", "badword")),
        ("", ()),
        (None, ()),
        (" , ", ()),
    ],
)
def test_parse_term_list(raw: str | None, terms: tuple[str, ...]) -> None:
    assert parse_term_list(raw) == terms


# --- verdicts -----------------------------------------------------------------------------


@pytest.fixture
def policy() -> SafetyPolicy:
    return SafetyPolicy.from_settings(STANDARD, ["badword"], ["gore scene", "pineapple pizza"])


@pytest.mark.parametrize(
    ("prompt", "strict", "standard", "relaxed"),
    [
        # category blocked at: strict / standard / relaxed
        ("a n.u.d.e statue", Category.SEXUAL, Category.SEXUAL, None),
        ("graphic  gore in a film", Category.GORE, Category.GORE, None),
        ("Al Gore on stage", Category.DISTURBING, None, None),
        ("extreme gore", Category.GORE, Category.GORE, None),
        ("a s3xy outfit", Category.SUGGESTIVE, None, None),
        ("a corpse in the library", Category.DISTURBING, None, None),
        ("a loli character", Category.ABSOLUTE, Category.ABSOLUTE, Category.ABSOLUTE),
        ("sieg heil banner", Category.HATE, Category.HATE, Category.HATE),
        ("a b@dword", Category.OPERATOR, Category.OPERATOR, Category.OPERATOR),
        ("pineapple   pizza", Category.SERVER, Category.SERVER, Category.SERVER),
        ("a lighthouse at dawn", None, None, None),
    ],
)
def test_what_each_level_refuses(
    policy: SafetyPolicy,
    prompt: str,
    strict: Category | None,
    standard: Category | None,
    relaxed: Category | None,
) -> None:
    for level, expected in ((STRICT, strict), (STANDARD, standard), (RELAXED, relaxed)):
        verdict = policy.check(prompt, level=level)
        assert verdict.category == expected, f"{prompt!r} at {level}"
        assert verdict.allowed is (expected is None)
        assert verdict.blocked is (expected is not None)
        assert verdict.level is level


@pytest.mark.parametrize(
    "prompt",
    [
        "a nude child",
        "a sexy schoolgirl",
        "n.u.d.e, k i d",
        "a 12 year old in lingerie",
        "sexy 15yo",
        "a 9-year-old, topless",
        "a sixteen year old in lingerie",
        "sexy fifteen-year-old",
        "a nude Twelve Yo",
    ],
)
def test_children_with_sexual_words_are_refused_at_every_level(
    policy: SafetyPolicy, prompt: str
) -> None:
    for level in SafetyLevel:
        verdict = policy.check(prompt, level=level)
        assert verdict.category is Category.ABSOLUTE, f"{prompt!r} at {level}"
        assert verdict.context is not None
        assert verdict.context.category == Category.MINORS


@pytest.mark.parametrize(
    "prompt",
    ["a child flying a kite", "a teen wizard", "a baby elephant", "a 12 year old whisky"],
)
def test_children_alone_are_fine(policy: SafetyPolicy, prompt: str) -> None:
    assert policy.check(prompt, level=STRICT).allowed


@pytest.mark.parametrize(
    "prompt",
    [
        "a sexy 25 year old",
        "a sexy 18yo",
        "a sexy twenty-one year old",
        "a sexy thirty five year old",
        "a sexy eighteen year old",
    ],
)
def test_an_adult_age_is_not_a_minor(policy: SafetyPolicy, prompt: str) -> None:
    assert policy.check(prompt, level=RELAXED).allowed


def test_most_serious_term_is_the_one_reported(policy: SafetyPolicy) -> None:
    verdict = policy.check("nude, badword, extreme gore, sieg heil", level=STANDARD)
    assert verdict.category is Category.HATE
    assert verdict.match is not None
    assert verdict.match.term == "sieg heil"


def test_default_level_is_the_policys_own() -> None:
    strict = SafetyPolicy.from_settings("strict")
    assert strict.level is STRICT
    assert strict.check("a sexy outfit").category is Category.SUGGESTIVE
    assert strict.check("a sexy outfit", level=STANDARD).allowed


class TestNegativePrompt:
    def test_sexual_words_there_keep_images_clean_and_are_allowed(
        self, policy: SafetyPolicy
    ) -> None:
        verdict = policy.check("a portrait", "nsfw, nude, gore, blurry", level=STRICT)
        assert verdict.allowed

    @pytest.mark.parametrize(
        ("negative", "category"),
        [
            ("blurry, sieg heil", Category.HATE),
            ("loli", Category.ABSOLUTE),
            ("b a d w o r d", Category.OPERATOR),
            ("gore scene", Category.SERVER),
        ],
    )
    def test_always_refused_lists_apply_there(
        self, policy: SafetyPolicy, negative: str, category: Category
    ) -> None:
        verdict = policy.check("a portrait", negative, level=RELAXED)
        assert verdict.category is category
        assert verdict.match is not None
        assert verdict.match.field == "negative_prompt"
        assert "negative prompt" in verdict.user_message

    def test_children_there_do_not_combine_with_the_prompt(self, policy: SafetyPolicy) -> None:
        # Listing "child" as a negative is how people keep children out of an adult image.
        assert policy.check("a nude statue", "child, kid, teen", level=RELAXED).allowed


class TestMessages:
    @pytest.mark.parametrize(
        ("prompt", "level"),
        [
            ("a n\u200bude statue", STANDARD),
            ("a nude child", RELAXED),
            ("sieg heil", RELAXED),
            ("a sexy outfit", STRICT),
            ("extreme gore", STANDARD),
            ("b@dword", RELAXED),
            ("pineapple pizza", RELAXED),
        ],
    )
    def test_user_message_is_kind_and_never_repeats_the_term(
        self, policy: SafetyPolicy, prompt: str, level: SafetyLevel
    ) -> None:
        verdict = policy.check(prompt, level=level)
        assert verdict.blocked
        assert verdict.match is not None
        message = verdict.user_message.lower()
        assert message.startswith("sorry")
        assert verdict.match.term.lower() not in message
        assert verdict.match.excerpt.lower() not in message
        for word in verdict.match.term.lower().split():
            assert word not in message.split()

    def test_allowed_verdict_has_no_user_message(self, policy: SafetyPolicy) -> None:
        verdict = policy.check("a lighthouse")
        assert verdict == Verdict(STANDARD)
        assert verdict.user_message == ""
        assert verdict.moderator_detail == "Allowed at the standard level."

    def test_moderator_detail_names_term_list_field_and_disguise(
        self, policy: SafetyPolicy
    ) -> None:
        verdict = policy.check("ok", "bad\u200bword", level=STANDARD)
        detail = verdict.moderator_detail
        assert '"badword" (operator list)' in detail
        assert "negative prompt" in detail
        assert "bad⟨U+200B⟩word" in detail
        assert "at the standard level" in detail

    def test_moderator_detail_is_safe_to_post(self) -> None:
        policy = SafetyPolicy.from_settings(STANDARD, server_terms=["@everyone **x**"])
        detail = policy.check("hey @everyone **x**").moderator_detail
        assert "@everyone" not in detail
        assert "**" not in detail

    def test_moderator_detail_for_children_names_both_words(self, policy: SafetyPolicy) -> None:
        detail = policy.check("a nude child", level=RELAXED).moderator_detail
        assert '"nude" (sexual list)' in detail
        assert '"child" (minors list)' in detail


@pytest.mark.parametrize(
    "prompt",
    [
        "a cocktail party in Essex",
        "a therapist's office with a classic couch",
        "Scunthorpe United football match",
        "grape harvest in Sussex, rapeseed fields",
        "an assassin on a rooftop, Assassin's Creed style",
        "hello kitty and a butterfly",
        "summa cum laude diploma on the wall",
        "spiced rum and a cocker spaniel",
        "heroines of the resistance",
        "a blue tit on a branch",
        "a sextant and the sexton",
        "a baby in a stroller, a kid with a kite",
        "fire retardant foam",
        "a naked mole rat",
        "Al Gore giving a speech",
        "a skillful analysis document",
        "a peacock, a cockatoo, Hitchcock",
        "1girl, solo, masterpiece, 4k, f/1.8",
        "a Middlesex pub sign",
    ],
)
def test_ordinary_prompts_pass_the_shipped_lists_at_standard(prompt: str) -> None:
    assert SafetyPolicy().check(prompt, level=STANDARD).allowed


@pytest.mark.parametrize(
    "prompt",
    [
        "a cocktail party in Essex",
        "Scunthorpe United football match",
        "hello kitty and a butterfly",
        "a baby in a stroller, a kid with a kite",
        "heroines of the resistance",
        "a class of assassins",
    ],
)
def test_ordinary_prompts_pass_the_shipped_lists_at_strict(prompt: str) -> None:
    assert SafetyPolicy().check(prompt, level=STRICT).allowed


def test_policy_rejects_terms_of_unknown_categories() -> None:
    with pytest.raises(ValueError, match="unknown categories"):
        SafetyPolicy(STANDARD, TermMatcher([Term("nude", "mystery")]))


def test_policy_without_custom_terms_shares_the_shipped_matcher() -> None:
    assert SafetyPolicy.from_settings(STANDARD)._matcher is shipped_matcher()


def test_services_never_import_discord() -> None:
    for path in (ROOT / "bot" / "services").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] != "discord", f"{path} imports {name}"
