"""ImageMemory: providers wait for room before materialising images; room comes back when the
images are let go, whatever path drops them."""

from __future__ import annotations

import asyncio
import gc

import pytest

from providers.base import GeneratedImage, GenerationRequest
from providers.catalog import Catalog
from providers.local import LocalProvider
from providers.memory import ImageMemory


async def run_ready() -> None:
    """Let every task that can run reach its next await (turns of the scheduler, not time)."""
    for _ in range(5):
        await asyncio.sleep(0)


def image(size: int) -> GeneratedImage:
    return GeneratedImage(data=bytes(size), mime_type="image/jpeg", seed=1)


async def test_tracked_images_hold_room_until_they_are_collected() -> None:
    memory = ImageMemory(1000)
    first, second = image(300), image(400)
    memory.track(first)
    memory.track(second)
    assert memory.held == 700
    del first
    gc.collect()
    assert memory.held == 400
    del second
    gc.collect()
    assert memory.held == 0


async def test_a_producer_waits_for_room_and_goes_when_an_image_is_let_go() -> None:
    memory = ImageMemory(1000)
    kept = image(800)
    memory.track(kept)
    order: list[str] = []

    async def produce(name: str) -> None:
        async with memory.room(500):
            order.append(name)

    waiting = asyncio.create_task(produce("second"))
    await run_ready()
    assert not waiting.done()  # 800 + 500 > 1000
    assert memory.waited == 1
    del kept  # the bot let go of the first image
    await waiting
    assert order == ["second"]
    assert memory.held == 0


async def test_waiters_go_first_come_first_served_and_one_always_fits() -> None:
    memory = ImageMemory(100)
    order: list[int] = []
    release = asyncio.Event()

    async def produce(n: int) -> None:
        async with memory.room(150):  # larger than the whole budget
            order.append(n)
            if n == 0:
                await release.wait()

    tasks = [asyncio.create_task(produce(n)) for n in range(3)]
    await run_ready()
    assert order == [0]  # admitted alone although too large; the others wait
    assert memory.waited == 2  # 1 and 2 are queued, not merely unscheduled
    release.set()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2]
    assert memory.held == 0


async def test_a_cancelled_waiter_passes_its_turn_on() -> None:
    memory = ImageMemory(100)
    hold = asyncio.Event()
    done: list[str] = []

    async def produce(name: str) -> None:
        async with memory.room(100):
            if name == "first":
                await hold.wait()
            done.append(name)

    first = asyncio.create_task(produce("first"))
    second = asyncio.create_task(produce("second"))
    third = asyncio.create_task(produce("third"))
    await run_ready()
    assert memory.waited == 2  # second and third are queued behind first
    second.cancel()
    hold.set()
    await asyncio.gather(first, third)
    with pytest.raises(asyncio.CancelledError):
        await second
    assert done == ["first", "third"]
    assert memory.held == 0


async def test_the_local_provider_waits_for_room_before_drawing() -> None:
    model = Catalog.load().get("imagen-4-fast")
    provider = LocalProvider(image_bytes=50_000)
    provider.memory = memory = ImageMemory(60_000)
    request = GenerationRequest(prompt="a quiet harbour", model=model.key, seed=5)
    first = await provider.generate(request, model)  # drawn, then the bytes are held
    assert memory.held >= 50_000
    second = asyncio.create_task(provider.generate(request, model))
    await run_ready()
    assert not second.done()  # no room for another 50 KB until the first is let go
    assert memory.waited == 1  # waiting for room, not busy elsewhere
    del first
    result = await second
    assert len(result.images[0].data) >= 50_000
    await provider.aclose()
