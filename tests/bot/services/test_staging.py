"""Images waiting for their upload: memory up to the budget, anonymous files beyond."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.services.staging import ImageStaging


async def test_within_the_budget_images_stay_in_memory_and_give_it_back(tmp_path: Path) -> None:
    staging = ImageStaging(250, directory=str(tmp_path))
    first = await staging.stage(b"a" * 100)
    second = await staging.stage(b"b" * 100)
    assert (first.on_disk, second.on_disk) == (False, False)
    assert staging.in_memory == 200
    assert first.file.read() == b"a" * 100
    first.release()
    first.release()  # twice is harmless
    assert staging.in_memory == 100
    second.release()
    assert staging.in_memory == 0


async def test_past_the_budget_images_wait_in_files_that_vanish(tmp_path: Path) -> None:
    staging = ImageStaging(150, directory=str(tmp_path))
    kept = await staging.stage(b"k" * 100)
    spilled = await staging.stage(b"s" * 100)
    assert not kept.on_disk
    assert spilled.on_disk
    assert staging.spilled == 1
    assert staging.in_memory == 100  # the spilled one does not count
    assert os.listdir(tmp_path) == []  # anonymous: nothing to clean up after a crash
    assert spilled.file.read() == b"s" * 100
    spilled.release()
    assert spilled.file.closed
    kept.release()
    assert staging.in_memory == 0
    # Room again: the next one stays in memory.
    assert not (await staging.stage(b"n" * 100)).on_disk


async def test_no_room_on_disk_keeps_the_image_in_memory(tmp_path: Path) -> None:
    staging = ImageStaging(0, directory=str(tmp_path / "missing"))
    image = await staging.stage(b"x" * 10)
    assert not image.on_disk
    assert image.file.read() == b"x" * 10
    assert staging.in_memory == 10


async def test_stage_all_gives_back_what_it_staged_when_it_fails(tmp_path: Path) -> None:
    staging = ImageStaging(1000, directory=str(tmp_path))

    def images():  # type: ignore[no-untyped-def]
        yield b"1" * 100
        yield b"2" * 100
        raise RuntimeError("the third never came")

    with pytest.raises(RuntimeError):
        await staging.stage_all(images())
    assert staging.in_memory == 0
