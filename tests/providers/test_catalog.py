from __future__ import annotations

from pathlib import Path

import pytest

from providers.catalog import Catalog, CatalogError, UnknownModel


def test_shipped_catalog_has_the_imagen_4_family_with_runware_ids() -> None:
    catalog = Catalog.load()
    assert {"imagen-4-fast", "imagen-4", "imagen-4-ultra"} <= set(catalog.keys())
    fast = catalog.get("imagen-4-fast")
    assert fast.offers["runware"].model_id == "google:2@3"
    assert fast.offers["runware"].price_usd == pytest.approx(0.02)
    assert catalog.get("imagen-4-ultra").offers["runware"].model_id == "google:2@2"
    assert fast.size_for("16:9") == (1408, 768)


def test_operator_file_adds_a_successor_and_retires_a_model(tmp_path: Path) -> None:
    override = tmp_path / "models.toml"
    override.write_text(
        "[models.imagen-4-ultra]\nretired = true\n\n"
        '[models.next-fast]\nlabel = "Next Fast"\nsizes = "imagen"\nprice_usd = 0.03\n'
        '[models.next-fast.providers.runware]\nid = "google:9@9"\n'
        '[models.imagen-4-fast.providers.runware]\nid = "google:2@4"\n'
    )
    catalog = Catalog.load(override)
    assert "imagen-4-ultra" not in catalog
    with pytest.raises(UnknownModel):
        catalog.get("imagen-4-ultra")
    successor = catalog.get("next-fast")
    assert successor.offers["runware"].model_id == "google:9@9"
    assert successor.offers["runware"].price_usd == pytest.approx(0.03)  # inherits the model's
    assert catalog.get("imagen-4-fast").offers["runware"].model_id == "google:2@4"
    assert catalog.get("imagen-4-fast").offers["runware"].price_usd == pytest.approx(0.02)


def test_malformed_files_are_reported_by_name(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="not found"):
        Catalog.load(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[models.x\n")
    with pytest.raises(CatalogError, match="not valid TOML"):
        Catalog.load(broken)
    incomplete = tmp_path / "incomplete.toml"
    incomplete.write_text('[models.x]\nlabel = "X"\n')
    with pytest.raises(CatalogError, match="'x'"):
        Catalog.load(incomplete)
