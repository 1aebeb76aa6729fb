"""The README and .env.example stay true: every setting the code reads is documented in both."""

from __future__ import annotations

import re
from pathlib import Path

from bot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def setting_names() -> set[str]:
    return {str(field.validation_alias) for field in Settings.model_fields.values()}


def test_every_setting_is_in_the_readme_and_the_env_example() -> None:
    readme = (ROOT / "README.md").read_text()
    example = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, re.MULTILINE))
    missing_readme = sorted(n for n in setting_names() if f"`{n}`" not in readme)
    missing_example = sorted(setting_names() - documented)
    assert not missing_readme, f"README lacks {missing_readme}"
    assert not missing_example, f".env.example lacks {missing_example}"


def test_the_readme_names_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme
    assert "make test" in readme
