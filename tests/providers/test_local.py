from __future__ import annotations

import io

import pytest
from PIL import Image

from providers.base import GenerationRequest
from providers.catalog import Catalog
from providers.errors import InvalidRequest
from providers.local import LocalProvider, render_preview


async def test_same_prompt_and_seed_give_the_same_bytes(catalog: Catalog) -> None:
    provider = LocalProvider()
    request = GenerationRequest(prompt="a red kite", seed=1234, model="imagen-4-fast")
    first = await provider.generate(request, catalog.get("imagen-4-fast"))
    second = await provider.generate(request, catalog.get("imagen-4-fast"))
    assert first.images[0].data == second.images[0].data
    assert first.images[0].seed == 1234


async def test_a_different_seed_or_prompt_gives_a_different_picture(catalog: Catalog) -> None:
    model = catalog.get("imagen-4-fast")
    provider = LocalProvider()
    base = await provider.generate(
        GenerationRequest(prompt="a red kite", seed=1, model=model.key), model
    )
    other_seed = await provider.generate(
        GenerationRequest(prompt="a red kite", seed=2, model=model.key), model
    )
    other_prompt = await provider.generate(
        GenerationRequest(prompt="a blue kite", seed=1, model=model.key), model
    )
    assert base.images[0].data != other_seed.images[0].data
    assert base.images[0].data != other_prompt.images[0].data


@pytest.mark.parametrize(
    ("aspect", "size"),
    [
        ("1:1", (1024, 1024)),
        ("16:9", (1408, 768)),
        ("9:16", (768, 1408)),
        ("4:3", (1280, 896)),
        ("3:4", (896, 1280)),
    ],
)
async def test_images_have_the_catalog_size_for_the_aspect(
    catalog: Catalog, aspect: str, size: tuple[int, int]
) -> None:
    result = await LocalProvider().generate(
        GenerationRequest(prompt="dunes", aspect=aspect, model="imagen-4-fast"),
        catalog.get("imagen-4-fast"),
    )
    assert Image.open(io.BytesIO(result.images[0].data)).size == size


async def test_count_gives_consecutive_seeds_and_costs_nothing(catalog: Catalog) -> None:
    result = await LocalProvider().generate(
        GenerationRequest(prompt="dunes", count=3, seed=4294967294, model="imagen-4-ultra"),
        catalog.get("imagen-4-ultra"),
    )
    assert [image.seed for image in result.images] == [4294967294, 4294967295, 0]
    assert result.cost_usd == 0.0
    assert result.offline_preview is True
    assert result.provider == "local"


def test_render_preview_is_a_jpeg() -> None:
    data = render_preview("harbour", 7, 64, 48)
    assert data[:3] == b"\xff\xd8\xff"
    assert Image.open(io.BytesIO(data)).size == (64, 48)


async def test_request_validation_happens_before_any_work(catalog: Catalog) -> None:
    with pytest.raises(ValueError, match="at most 3000"):
        GenerationRequest(prompt="x" * 3001, model="imagen-4-fast")
    with pytest.raises(ValueError, match="less than or equal"):
        GenerationRequest(prompt="ok prompt", seed=2**32, model="imagen-4-fast")

    class NoSeeds(LocalProvider):
        capabilities = LocalProvider.capabilities.__class__(
            seed_input=False, seed_output=False, max_images_per_call=4
        )

    with pytest.raises(InvalidRequest, match="cannot use a chosen seed"):
        await NoSeeds().generate(
            GenerationRequest(prompt="dunes", seed=5, model="imagen-4"), catalog.get("imagen-4")
        )


def test_a_padded_preview_has_about_the_size_asked_and_the_same_picture() -> None:
    plain = render_preview("harbour", 7, 256, 256)
    padded = render_preview("harbour", 7, 256, 256, size_bytes=1_000_000)
    assert 1_000_000 - 4 <= len(padded) <= 1_000_000
    assert padded == render_preview("harbour", 7, 256, 256, size_bytes=1_000_000)
    assert padded[:3] == b"\xff\xd8\xff"
    assert Image.open(io.BytesIO(padded)).tobytes() == Image.open(io.BytesIO(plain)).tobytes()
    assert render_preview("harbour", 7, 256, 256, size_bytes=100) == plain  # never shrinks


async def test_image_bytes_reaches_the_provider_results(catalog: Catalog) -> None:
    result = await LocalProvider(image_bytes=300_000).generate(
        GenerationRequest(prompt="dunes", count=2, model="imagen-4-fast"),
        catalog.get("imagen-4-fast"),
    )
    assert all(290_000 < len(image.data) <= 300_000 for image in result.images)


async def test_a_picture_rendered_lately_is_copied_without_a_render_thread(
    catalog: Catalog,
) -> None:
    request = GenerationRequest(prompt="a kept picture", seed=77, model="imagen-4-fast")
    first = await LocalProvider(image_bytes=200_000).generate(request, catalog.get("imagen-4-fast"))
    provider = LocalProvider(image_bytes=200_000)
    again = await provider.generate(request, catalog.get("imagen-4-fast"))
    assert again.images[0].data == first.images[0].data
    assert again.images[0].data is not first.images[0].data  # each result its own bytes
    assert provider._renderer is None  # no thread was needed
