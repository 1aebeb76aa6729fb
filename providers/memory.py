"""Room for result images in memory, shared by the providers of one process.

When hundreds of results come back together, each image is held from the moment it exists until
the bot has let go of it (its upload answered, or the image put on disk). Without back-pressure
they all exist at once: 500 × 1 MB. So a provider waits for room before it materialises an image
(a download before its GET, the offline provider before it draws), and every image a provider
returns is counted until its object is collected: the room comes back by itself
(`weakref.finalize`), so no error path can forget to give it back. When nothing is held, one
image is always admitted, so an image larger than the budget still goes through.

A provider that can return the bytes in its answer (no download round trip) asks for them only
while there is room at once (`room_now`, held for the call), and for a URL it can wait on
otherwise.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from providers.base import GeneratedImage

__all__ = ["TYPICAL_IMAGE_BYTES", "ImageMemory"]

TYPICAL_IMAGE_BYTES = 1_000_000  # a 1024×1024 JPEG from an Imagen-class model


class ImageMemory:
    def __init__(self, budget_bytes: int) -> None:
        self.budget = max(0, budget_bytes)
        self.held = 0  # bytes of images alive plus room reserved for images on their way
        self.waited = 0  # how many times a provider had to wait (metrics, tests)
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    @contextlib.asynccontextmanager
    async def room(self, expected_bytes: int) -> AsyncIterator[None]:
        """Wait until `expected_bytes` fit (first come, first served); hold them for the block."""
        expected = max(0, expected_bytes)
        if self._waiters or not self._fits(expected):
            self.waited += 1
            future = asyncio.get_running_loop().create_future()
            self._waiters.append(future)
            try:
                while True:
                    await future
                    if self._fits(expected):
                        break
                    future = asyncio.get_running_loop().create_future()
                    self._waiters.appendleft(future)  # keep its place in the queue
            except BaseException:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(future)
                self._wake()
                raise
        self.held += expected
        self._wake()  # the next in line may fit too
        try:
            yield
        finally:
            self._give_back(expected)

    @contextlib.contextmanager
    def room_now(self, expected_bytes: int) -> Iterator[bool]:
        """Hold `expected_bytes` for the block if they fit without waiting (and no one is
        waiting); yields whether they did. For a provider that can either return its bytes inline
        (they arrive before anything could wait) or a URL to download (which can wait)."""
        expected = max(0, expected_bytes)
        if self._waiters or not self._fits(expected):
            yield False
            return
        self.held += expected
        try:
            yield True
        finally:
            self._give_back(expected)

    def track(self, image: GeneratedImage) -> None:
        """Count `image` until it is collected."""
        size = len(image.data)
        self.held += size
        weakref.finalize(image, self._give_back, size).atexit = False

    def _fits(self, size: int) -> bool:
        return self.held == 0 or self.held + size <= self.budget

    def _give_back(self, size: int) -> None:
        self.held -= size
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            future = self._waiters.popleft()
            if not future.done():  # skip the cancelled
                future.set_result(None)
                return
