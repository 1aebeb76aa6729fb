"""The pipeline against a real SQLite file, the local provider and scripted providers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.services.errors import GenerationFailed, InvalidOptions, NothingToVary
from bot.services.generation import GenerationOptions, GenerationService, Requester
from bot.storage import GenerationStatus, Store, open_store
from providers.base import Capabilities, GeneratedImage, GenerationRequest, ImageProvider
from providers.catalog import Catalog, ModelOffer, ModelSpec
from providers.errors import AuthenticationFailed, ContentBlocked, ProviderError
from providers.local import LocalProvider
from providers.router import Router

ALICE = Requester(user_id=11, guild_id=1, channel_id=2)


class Scripted(ImageProvider):
    """A provider whose answers the test decides (failures before any image)."""

    name = "runware"
    capabilities = Capabilities(seed_input=True, seed_output=True, max_images_per_call=4)

    def __init__(self, *errors: ProviderError) -> None:
        self.errors = list(errors)
        self.requests: list[GenerationRequest] = []

    async def _generate(
        self, request: GenerationRequest, model: ModelSpec, offer: ModelOffer
    ) -> list[GeneratedImage]:
        self.requests.append(request)
        if self.errors:
            raise self.errors.pop(0)
        return [GeneratedImage(data=b"img", mime_type="image/jpeg", seed=99, cost_usd=0.02)]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with open_store(f"sqlite:///{tmp_path / 'bot.sqlite3'}") as store:
        yield store


def service(store: Store, catalog: Catalog, *providers: ImageProvider) -> GenerationService:
    return GenerationService(
        store=store,
        router=Router(providers or [LocalProvider()]),
        catalog=catalog,
        default_model="imagen-4-fast",
    )


async def test_a_generation_is_recorded_with_seeds_cost_and_timings(
    store: Store, catalog: Catalog
) -> None:
    outcome = await service(store, catalog).generate(
        ALICE, GenerationOptions(prompt="a fox in snow", count=2, seed=7, aspect="16:9")
    )
    record = await store.get_generation(outcome.record.id)
    assert record is not None
    assert record.status is GenerationStatus.SUCCEEDED
    assert record.seeds == (7, 8)
    assert record.provider == "local"
    assert record.cost_usd == 0.0
    assert record.aspect == "16:9"
    assert record.total_latency_ms is not None
    assert record.total_latency_ms >= record.provider_latency_ms  # type: ignore[operator]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (GenerationOptions(prompt="x" * 3001), "3001 characters"),
        (GenerationOptions(prompt=" a "), "at least two characters"),
        (GenerationOptions(prompt="fine prompt", seed=2**32), "0 to 4294967295"),
        (GenerationOptions(prompt="fine prompt", seed=-1), "0 to 4294967295"),
        (GenerationOptions(prompt="fine prompt", count=5), "1 to 4"),
        (GenerationOptions(prompt="fine prompt", aspect="2:1"), "16:9"),
        (GenerationOptions(prompt="fine prompt", model="dall-e"), "imagen-4-fast"),
    ],
)
async def test_bad_options_are_explained_before_anything_is_recorded(
    store: Store, catalog: Catalog, options: GenerationOptions, message: str
) -> None:
    with pytest.raises(InvalidOptions, match=message):
        await service(store, catalog).generate(ALICE, options)
    assert await store.get_generation(1) is None


async def test_an_unknown_model_name_is_shown_safely(store: Store, catalog: Catalog) -> None:
    with pytest.raises(InvalidOptions) as caught:
        await service(store, catalog).generate(
            ALICE, GenerationOptions(prompt="fine prompt", model="@everyone **`dall-e`**")
        )
    shown = caught.value.message
    assert "@everyone" not in shown  # neutralised: a reply can never ping
    assert "**`" not in shown  # markdown escaped
    assert "dall" in shown
    assert "Available: imagen-4-fast" in shown


async def test_vary_repeats_the_latest_settings_with_new_seeds(
    store: Store, catalog: Catalog
) -> None:
    svc = service(store, catalog)
    first = await svc.generate(
        ALICE,
        GenerationOptions(
            prompt="a lighthouse",
            negative_prompt="fog",
            aspect="9:16",
            count=2,
            seed=5,
            model="imagen-4",
        ),
    )
    varied = await svc.vary(ALICE)
    assert varied.record.kind == "vary"
    assert varied.record.parent_id == first.record.id
    assert (
        varied.record.prompt,
        varied.record.negative_prompt,
        varied.record.aspect,
        varied.record.count,
        varied.record.model,
    ) == ("a lighthouse", "fog", "9:16", 2, "imagen-4")
    assert varied.record.requested_seed is None
    assert varied.record.seeds != first.record.seeds


async def test_reseed_uses_exactly_that_seed_and_reproduces_the_image(
    store: Store, catalog: Catalog
) -> None:
    svc = service(store, catalog)
    original = await svc.generate(ALICE, GenerationOptions(prompt="a lighthouse", seed=314))
    again = await svc.reseed(ALICE, 314)
    assert again.record.seeds == (314,)
    assert again.result.images[0].data == original.result.images[0].data
    nudged = await svc.reseed(ALICE, 314, prompt="a lighthouse at night")
    assert nudged.record.prompt == "a lighthouse at night"
    assert nudged.result.images[0].data != original.result.images[0].data


async def test_vary_with_no_history_says_what_to_do(store: Store, catalog: Catalog) -> None:
    with pytest.raises(NothingToVary, match="/generate"):
        await service(store, catalog).vary(ALICE)


async def test_a_rejected_key_is_explained_and_recorded_as_failed(
    store: Store, catalog: Catalog
) -> None:
    broken = Scripted(
        AuthenticationFailed("key rejected", provider="runware", env_var="RUNWARE_API_KEY")
    )
    with pytest.raises(GenerationFailed) as caught:
        await service(store, catalog, broken).generate(ALICE, GenerationOptions(prompt="a cat"))
    assert "Runware key was rejected" in caught.value.message
    assert "RUNWARE_API_KEY" in caught.value.message
    record = await store.get_generation(1)
    assert record is not None
    assert record.status is GenerationStatus.FAILED


async def test_a_blocked_prompt_is_recorded_as_blocked_and_not_failed_over(
    store: Store, catalog: Catalog
) -> None:
    blocked = Scripted(ContentBlocked("no", provider="runware"))
    local = LocalProvider()
    with pytest.raises(GenerationFailed, match="safety filter"):
        await service(store, catalog, blocked, local).generate(
            ALICE, GenerationOptions(prompt="a cat")
        )
    record = await store.get_generation(1)
    assert record is not None
    assert record.status is GenerationStatus.BLOCKED


async def test_a_failing_provider_fails_over_to_the_next(store: Store, catalog: Catalog) -> None:
    broken = Scripted(AuthenticationFailed("key rejected", provider="runware"))
    outcome = await service(store, catalog, broken, LocalProvider()).generate(
        ALICE, GenerationOptions(prompt="a cat")
    )
    assert outcome.result.provider == "local"
    assert [(a.provider, a.outcome) for a in outcome.attempts] == [
        ("runware", "failed"),
        ("local", "succeeded"),
    ]


async def test_a_retired_model_falls_back_for_vary_with_a_note(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    await service(store, catalog).generate(
        ALICE, GenerationOptions(prompt="a cat", model="imagen-4-ultra")
    )
    override = tmp_path / "models.toml"
    override.write_text("[models.imagen-4-ultra]\nretired = true\n")
    varied = await service(store, Catalog.load(override)).vary(ALICE)
    assert varied.record.model == "imagen-4-fast"
    assert any("imagen-4-ultra" in note for note in varied.notes)
