"""Images waiting for their upload keep their room in ImageMemory until released; only when the
images alive are over the budget does one go to an anonymous file, giving its room back."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import pytest

from bot.services.staging import ImageStaging
from providers.base import GeneratedImage
from providers.memory import ImageMemory


def tracked(memory: ImageMemory, fill: bytes, size: int = 100) -> GeneratedImage:
    """An image as a provider returns it: counted by `memory` while the object lives."""
    image = GeneratedImage(data=fill * size, mime_type="image/jpeg", seed=1)
    memory.track(image)
    return image


async def test_a_staged_image_keeps_its_room_until_its_upload_is_released(tmp_path: Path) -> None:
    memory = ImageMemory(250)
    staging = ImageStaging(memory, directory=str(tmp_path))
    first = await staging.stage(tracked(memory, b"a"))
    second = await staging.stage(tracked(memory, b"b"))
    gc.collect()  # the caller's references are gone: only the staged images hold them
    assert (first.on_disk, second.on_disk) == (False, False)
    assert memory.held == 200
    assert first.file.read() == b"a" * 100
    first.release()
    first.release()  # twice is harmless
    gc.collect()
    assert memory.held == 100
    second.release()
    gc.collect()
    assert memory.held == 0


async def test_over_the_budget_an_image_waits_in_a_file_and_gives_its_room_back(
    tmp_path: Path,
) -> None:
    memory = ImageMemory(150)
    staging = ImageStaging(memory, directory=str(tmp_path))
    kept = await staging.stage(tracked(memory, b"k"))
    # A provider that could not wait (bytes inline): 200 alive against a budget of 150.
    spilled = await staging.stage(tracked(memory, b"s"))
    gc.collect()
    assert not kept.on_disk
    assert spilled.on_disk
    assert staging.spilled == 1
    assert memory.held == 100  # the spilled image's object is gone; its file does not count
    assert os.listdir(tmp_path) == []  # anonymous: nothing to clean up after a crash
    assert spilled.file.read() == b"s" * 100
    spilled.release()
    assert spilled.file.closed
    kept.release()
    gc.collect()
    assert memory.held == 0
    # Room again: the next one stays in memory.
    assert not (await staging.stage(tracked(memory, b"n"))).on_disk


async def test_no_room_on_disk_keeps_the_image_in_memory(tmp_path: Path) -> None:
    memory = ImageMemory(0)
    staging = ImageStaging(memory, directory=str(tmp_path / "missing"))
    image = await staging.stage(tracked(memory, b"x", 10))
    gc.collect()
    assert not image.on_disk
    assert image.file.read() == b"x" * 10
    assert memory.held == 10  # held, over the budget, by the staged image


async def test_stage_all_gives_back_what_it_staged_when_it_fails(tmp_path: Path) -> None:
    memory = ImageMemory(1000)
    staging = ImageStaging(memory, directory=str(tmp_path))

    def images():  # type: ignore[no-untyped-def]
        yield tracked(memory, b"1")
        yield tracked(memory, b"2")
        raise RuntimeError("the third never came")

    with pytest.raises(RuntimeError):
        await staging.stage_all(images())
    gc.collect()
    assert memory.held == 0
