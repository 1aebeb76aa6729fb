"""Result images between the provider and the upload: in memory up to a budget, on disk beyond.

Each image is held until its upload ends. When many results finish together and Discord reads
more slowly than the providers deliver (500 members at once with ~1 MB images), that is hundreds
of megabytes in the process. Past `memory_budget` bytes, an image goes to an anonymous temporary
file instead, which the upload then streams in chunks: it lives in the page cache, not in the
bot's memory, and it disappears when closed, even if the process is killed.
"""

from __future__ import annotations

import asyncio
import io
import logging
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import BinaryIO

__all__ = ["ImageStaging", "StagedImage"]

log = logging.getLogger(__name__)


@dataclass(eq=False)
class StagedImage:
    """One image ready to upload: `file` reads it from the start. `release` when done."""

    file: BinaryIO
    size: int
    on_disk: bool
    _staging: ImageStaging | None = field(default=None, repr=False)

    def release(self) -> None:
        """Close the file and give back its share of the budget (safe to call twice)."""
        staging, self._staging = self._staging, None
        if staging is None:
            return
        if not self.on_disk:
            staging.in_memory -= self.size
        self.file.close()


class ImageStaging:
    def __init__(self, memory_budget: int, *, directory: str | None = None) -> None:
        self.memory_budget = max(0, memory_budget)
        self.directory = directory
        self.in_memory = 0  # bytes of images held in memory right now
        self.spilled = 0  # images written to disk since start (metrics, tests)

    async def stage(self, data: bytes) -> StagedImage:
        """Hold `data` for an upload: in memory while within the budget, else on disk (written
        on a thread: a full disk queue must not stall the event loop). Never fails for want of
        disk: then the image stays in memory, over the budget."""
        size = len(data)
        if self.in_memory + size <= self.memory_budget:
            return self._in_memory(data)
        try:
            spool = await asyncio.to_thread(self._spill, data)
        except OSError as exc:
            log.warning("could not put an image on disk (%s); keeping it in memory", exc)
            return self._in_memory(data)
        self.spilled += 1
        return StagedImage(spool, size, on_disk=True, _staging=self)

    async def stage_all(self, images: Iterable[bytes]) -> list[StagedImage]:
        staged: list[StagedImage] = []
        try:
            for data in images:
                staged.append(await self.stage(data))
        except BaseException:  # cancelled half way: give back what was staged
            for image in staged:
                image.release()
            raise
        return staged

    def _in_memory(self, data: bytes) -> StagedImage:
        self.in_memory += len(data)
        # BytesIO over immutable bytes shares them until written to: no copy.
        return StagedImage(io.BytesIO(data), len(data), on_disk=False, _staging=self)

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
