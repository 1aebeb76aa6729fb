"""Dependencies point one way: cogs, ui → services → storage, providers. Read from the source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# package (folder) → module prefixes it must never import
FORBIDDEN = {
    "providers": ("bot", "discord", "tests"),
    "bot/services": ("discord", "bot.cogs", "bot.ui", "bot.client", "bot.runner", "bot.cli"),
    "bot/storage": ("discord", "bot.services", "bot.cogs", "bot.ui", "bot.client"),
    "bot/ui": ("bot.cogs", "bot.client", "bot.storage"),
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_import_points_back(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package} has no modules"
    offences = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in files
        for module in imported_modules(path)
        if any(module == banned or module.startswith(banned + ".") for banned in FORBIDDEN[package])
    ]
    assert not offences, "\n".join(offences)


def test_the_checker_sees_a_backwards_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import discord\nfrom bot.cogs.generate import GenerationCog\n")
    assert {"discord", "bot.cogs.generate"} <= imported_modules(bad)
