"""An offline provider: renders a deterministic picture from (prompt, seed, size) with Pillow.

It is not an AI model and says so on the picture; it exists so the bot works with no keys, and so
tests and benchmarks exercise every other part of the pipeline for real.

A preview is about 50 KB; a real provider's JPEG is nearer 1 MB. `image_bytes` grows each file to
about that size with JPEG comment segments of filler, so the bot holds and uploads as many bytes
as it would in production while the preview costs no more CPU to make (the CPU a real model
spends is the provider's, not the bot's). For the same reason the last few pictures are kept:
asking again for a (prompt, seed, size) costs a copy, not a render.

Rendering runs on the provider's own two threads, not asyncio's default executor: Pillow's
drawing holds the GIL, and a pool of CPU-bound threads as large as the default one would starve
the event loop (and anything else using that executor) under load.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import io
import random
import textwrap
import threading
from collections import OrderedDict
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager

from PIL import Image, ImageDraw, ImageFont

from providers.base import MAX_SEED, Capabilities, GeneratedImage, GenerationRequest, ImageProvider
from providers.catalog import ModelOffer, ModelSpec

__all__ = ["LocalProvider", "pad_jpeg", "render_preview"]

LABEL = "OFFLINE PREVIEW - not an AI model"
COMMENT_MARKER = b"\xff\xfe"
MAX_SEGMENT_PAYLOAD = 65533  # a segment's 2-byte length counts itself
_FILLER = memoryview(random.Random(0).randbytes(MAX_SEGMENT_PAYLOAD))
RENDER_THREADS = 2
QUALITY = 90


def _palette(prompt: str, seed: int) -> random.Random:
    digest = hashlib.sha256(f"{seed}\x00{prompt}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def pad_jpeg(data: bytes, size: int) -> bytes:
    """`data` (a JPEG) grown to about `size` bytes with comment segments right after the SOI
    marker; decoders skip them, so the picture is unchanged. Never shrinks. One copy."""
    missing = size - len(data)
    view = memoryview(data)
    parts: list[bytes | memoryview] = [view[:2]]
    while missing > 4:
        payload = min(MAX_SEGMENT_PAYLOAD, missing - 4)
        parts.append(COMMENT_MARKER + (payload + 2).to_bytes(2, "big"))
        parts.append(_FILLER[:payload])
        missing -= payload + 4
    if len(parts) == 1:
        return data
    parts.append(view[2:])
    return b"".join(parts)


@functools.lru_cache(maxsize=8)
def _gradient(width: int, height: int) -> Image.Image:
    """A top-to-bottom 0→255 mask (read-only, shared by the render threads)."""
    return Image.linear_gradient("L").resize((width, height))


class _Previews:
    """The last few pictures rendered, by (prompt, seed, width, height, quality); thread-safe."""

    def __init__(self, size: int = 32) -> None:
        self._size = size
        self._items: OrderedDict[tuple[str, int, int, int, int], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int, int, int, int]) -> bytes | None:
        with self._lock:
            data = self._items.get(key)
            if data is not None:
                self._items.move_to_end(key)
            return data

    def put(self, key: tuple[str, int, int, int, int], data: bytes) -> None:
        with self._lock:
            self._items[key] = data
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


_previews = _Previews()


def render_preview(
    prompt: str, seed: int, width: int, height: int, *, quality: int = QUALITY, size_bytes: int = 0
) -> bytes:
    """A JPEG that depends only on its arguments (and the Pillow version); with `size_bytes`,
    padded to about that many bytes."""
    key = (prompt, seed, width, height, quality)
    data = _previews.get(key)
    if data is None:
        data = _render(*key)
        _previews.put(key, data)
    return pad_jpeg(data, size_bytes)


def _render(prompt: str, seed: int, width: int, height: int, quality: int) -> bytes:
    rng = _palette(prompt, seed)
    top = tuple(rng.randrange(256) for _ in range(3))
    bottom = tuple(rng.randrange(256) for _ in range(3))
    image = Image.composite(
        Image.new("RGB", (width, height), bottom),
        Image.new("RGB", (width, height), top),
        _gradient(width, height),
    )
    draw = ImageDraw.Draw(image, "RGBA")
    for _ in range(12):
        x, y = rng.randrange(width), rng.randrange(height)
        radius = rng.randrange(min(width, height) // 16, min(width, height) // 4)
        colour = (*(rng.randrange(256) for _ in range(3)), rng.randrange(60, 160))
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour)
    font = ImageFont.load_default(size=max(16, width // 40))
    small = ImageFont.load_default(size=max(12, width // 64))
    draw.rectangle((0, 0, width, height // 9), fill=(0, 0, 0, 150))
    draw.text((width // 40, height // 40), LABEL, fill=(255, 255, 255), font=font)
    caption = "\n".join(textwrap.wrap(prompt, width=max(20, width // 14))[:6])
    draw.multiline_text(
        (width // 40, height - height // 4),
        caption,
        fill=(255, 255, 255),
        font=small,
        stroke_width=2,
        stroke_fill=(0, 0, 0),
    )
    draw.text(
        (width // 40, height - height // 20),
        f"seed {seed}",
        fill=(255, 255, 255),
        font=small,
        stroke_width=2,
        stroke_fill=(0, 0, 0),
    )
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


class LocalProvider(ImageProvider):
    name = "local"
    offline_preview = True
    capabilities = Capabilities(
        seed_input=True,
        seed_output=True,
        max_images_per_call=4,
        negative_prompt=True,
        reports_cost=True,
    )

    def __init__(self, *, latency_ms: float = 0.0, image_bytes: int = 0) -> None:
        self.latency_s = max(0.0, latency_ms) / 1000
        self.image_bytes = max(0, image_bytes)
        self._renderer: ThreadPoolExecutor | None = None

    def offer_for(self, model: ModelSpec) -> ModelOffer:
        # Every catalog model can be previewed offline, free.
        return ModelOffer(provider=self.name, model_id=f"local-preview:{model.key}", price_usd=0.0)

    async def _generate(
        self, request: GenerationRequest, model: ModelSpec, offer: ModelOffer
    ) -> list[GeneratedImage]:
        width, height = model.size_for(request.aspect)
        first = request.seed if request.seed is not None else random.randint(0, MAX_SEED)
        seeds = [(first + i) % (MAX_SEED + 1) for i in range(request.count)]
        simulated = asyncio.sleep(self.latency_s) if self.latency_s else asyncio.sleep(0)
        kept = [_previews.get((request.prompt, s, width, height, QUALITY)) for s in seeds]
        if all(data is not None for data in kept):
            # Rendered lately: a copy (padding) costs less than a trip to a render thread.
            await simulated
            rendered = []
            for data in kept:
                assert data is not None
                async with self._room(len(data)):  # as a download would wait for room
                    rendered.append(pad_jpeg(data, self.image_bytes))
        else:
            async with self._room(len(seeds) * self.image_bytes):
                rendered = await self._render(request.prompt, seeds, width, height, simulated)
        return [
            GeneratedImage(
                data=data,
                mime_type="image/jpeg",
                seed=seed,
                width=width,
                height=height,
                cost_usd=0.0,
            )
            for data, seed in zip(rendered, seeds, strict=True)
        ]

    async def _render(
        self,
        prompt: str,
        seeds: list[int],
        width: int,
        height: int,
        simulated: Awaitable[None],
    ) -> list[bytes]:
        if self._renderer is None:
            self._renderer = ThreadPoolExecutor(RENDER_THREADS, thread_name_prefix="local-render")
        loop = asyncio.get_running_loop()
        render = functools.partial(
            render_preview, prompt, width=width, height=height, size_bytes=self.image_bytes
        )
        # Rendering is CPU work: keep it off the event loop, overlapping the simulated latency.
        rendered, _ = await asyncio.gather(
            asyncio.gather(*(loop.run_in_executor(self._renderer, render, s) for s in seeds)),
            simulated,
        )
        return list(rendered)

    def _room(self, preview_bytes: int) -> AbstractAsyncContextManager[None]:
        if self.memory is None:
            return contextlib.nullcontext()
        return self.memory.room(max(preview_bytes, self.image_bytes))

    async def aclose(self) -> None:
        if self._renderer is not None:
            self._renderer.shutdown(wait=False, cancel_futures=True)
            self._renderer = None
