"""Micro-benchmark: how long one block-list check of a long prompt takes.

Run from the repository root:

    PYTHONPATH=. python benchmarks/safety_matcher.py

Builds a matcher from the shipped list plus generated operator terms (a few hundred terms in
all), then times `TermMatcher.find_all` on 3000-character prompts (the longest a prompt may be):
prompt-style prose that matches nothing, the common case, and the same prose salted with four
disguised terms; then on 300-character prompts, a more usual length. Prints the median and
95th percentile per check, in milliseconds. Timings vary with the machine's load.
"""

from __future__ import annotations

import random
import statistics
import time

from bot.services.safety.lists import shipped_matcher
from bot.services.safety.matcher import TermMatcher
from providers.base import PROMPT_MAX_CHARS

EXTRA_TERMS = 300
ROUNDS = 300
TYPICAL_CHARS = 300

_PHRASES = (
    "a watercolor painting of an old lighthouse on a rocky coast at dawn",
    "soft golden light, seagulls over the harbour, 4k, highly detailed",
    "cinematic composition, volumetric fog, sharp focus, f/1.8, 85mm lens",
    "(masterpiece:1.2), trending on artstation, by a well-known painter",
    "a café in Essex with a cocktail menu, a therapist reading an analysis document",
    "hello kitty plush beside a butterfly, grape vines, class photo from 2024",
    "an assassin in a hooded cloak, Sussex countryside, naïve folk-art style",
    "[blue|red] sky, dramatic clouds, rule of thirds, award-winning photograph",
)


def _prompt(rng: random.Random, salt: tuple[str, ...] = (), chars: int = PROMPT_MAX_CHARS) -> str:
    phrases: list[str] = []
    while sum(len(phrase) + 2 for phrase in phrases) < chars:
        phrases.append(rng.choice(_PHRASES))
    for disguise in salt:
        phrases.insert(rng.randrange(max(1, len(phrases) // 2)), disguise)
    return ", ".join(phrases)[:chars]


def _time(matcher: TermMatcher, prompts: list[str]) -> tuple[float, float]:
    samples = []
    for prompt in prompts:
        started = time.perf_counter()
        matcher.find_all(prompt)
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95)]


def main() -> None:
    rng = random.Random(7)
    letters = "abcdefghijklmnopqrstuvwxyz"
    extra = ["".join(rng.choices(letters, k=7)) for _ in range(EXTRA_TERMS)]
    started = time.perf_counter()
    matcher = shipped_matcher() | TermMatcher.from_terms(extra, "operator")
    built = (time.perf_counter() - started) * 1000
    clean = [_prompt(rng) for _ in range(ROUNDS)]
    salted = [_prompt(rng, ("n.u.d.e", "s3x", "ΝUDΕ", "g o r e")) for _ in range(ROUNDS)]
    typical = [_prompt(rng, chars=TYPICAL_CHARS) for _ in range(ROUNDS)]
    assert not matcher.find_all(clean[0]), "the clean prose must not match"
    assert len(matcher.find_all(salted[0])) >= 4, "the salted prose must match"
    print(f"{len(matcher)} terms, built in {built:.1f} ms")
    runs = (
        (f"{PROMPT_MAX_CHARS} chars, no match", clean),
        (f"{PROMPT_MAX_CHARS} chars, 4 disguised", salted),
        (f"{TYPICAL_CHARS} chars, no match", typical),
    )
    for label, prompts in runs:
        median, p95 = _time(matcher, prompts)
        print(f"{label:>26}: median {median:.3f} ms, p95 {p95:.3f} ms per check")


if __name__ == "__main__":
    main()
