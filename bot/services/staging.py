"""Result images between the provider's answer and the end of their upload.

Every image a provider returns is counted by the process's `ImageMemory` until its object is
collected, and a provider waits for room before it materialises another (providers.memory).
Staging keeps each image, and so its room, until its upload ends: that is what bounds the bot's
memory when Discord reads more slowly than providers deliver (500 members at once with ~1 MB
images). The results behind wait at their provider holding nothing, and no image is written
anywhere on the way.

Only when the count is over the budget all the same (a provider that returns its bytes inline
cannot wait before they arrive; one image larger than the whole budget) does an image go to an
anonymous temporary file, which the upload then streams in chunks, and its room comes back at
once. A full disk keeps it in memory instead: the upload matters more than the budget.
"""

from __future__ import annotations

import asyncio
import io
import logging
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import BinaryIO

from providers.base import GeneratedImage
from providers.memory import ImageMemory

__all__ = ["ImageStaging", "StagedImage"]

log = logging.getLogger(__name__)


@dataclass(eq=False)
class StagedImage:
    """One image ready to upload: `file` reads it from the start. `release` when done."""

    file: BinaryIO
    on_disk: bool
    # Held until release: while this image object lives, its room in ImageMemory stays taken.
    _image: GeneratedImage | None = field(default=None, repr=False)

    def release(self) -> None:
        """Close the file and let go of the image (safe to call twice)."""
        self._image = None
        self.file.close()


class ImageStaging:
    def __init__(self, memory: ImageMemory, *, directory: str | None = None) -> None:
        self.memory = memory
        self.directory = directory
        self.spilled = 0  # images written to disk since start (metrics, tests)

    async def stage(self, image: GeneratedImage) -> StagedImage:
        """Hold `image` for its upload: in memory while the images alive fit the budget, else
        on disk (written on a thread: a slow disk must not stall the event loop)."""
        if self.memory.held <= self.memory.budget:
            return self._in_memory(image)
        try:
            spool = await asyncio.to_thread(self._spill, image.data)
        except OSError as exc:
            log.warning("could not put an image on disk (%s); keeping it in memory", exc)
            return self._in_memory(image)
        self.spilled += 1
        return StagedImage(spool, on_disk=True)

    async def stage_all(self, images: Iterable[GeneratedImage]) -> list[StagedImage]:
        staged: list[StagedImage] = []
        try:
            for image in images:
                staged.append(await self.stage(image))
        except BaseException:  # cancelled half way: give back what was staged
            for done in staged:
                done.release()
            raise
        return staged

    @staticmethod
    def _in_memory(image: GeneratedImage) -> StagedImage:
        # BytesIO over immutable bytes shares them until written to: no copy.
        return StagedImage(io.BytesIO(image.data), on_disk=False, _image=image)

    def _spill(self, data: bytes) -> BinaryIO:
        # Anonymous (unlinked at once): nothing is left behind, even after kill -9.
        spool = tempfile.TemporaryFile(prefix="canvasbot-", dir=self.directory)  # noqa: SIM115
        try:
            spool.write(data)
            spool.seek(0)
        except BaseException:
            spool.close()
            raise
        return spool  # type: ignore[return-value]
