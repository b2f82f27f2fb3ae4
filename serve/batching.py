"""Micro-batching of generate requests: concurrent requests with the same settings run as one forward pass.

One consumer takes the oldest waiting request, waits until `window_ms` after its arrival for others with the same
key (family, truncation, sliders, conditions), and runs them together, up to `max_images` images, in a worker
thread (the event loop keeps accepting requests). Requests that arrive while a pass runs wait for the next one, so
under load the batches grow by themselves. A request alone in the batcher (no other request waiting or in a pass)
runs at once: one client sending request after request pays no window. With `window_ms = 0` every request runs alone: the baseline
of bench/serve.py. Each image depends on its own seed only (serve/bundles.py), so batch-mates never change a result.

The queue is bounded: a request that would take the images waiting past `max_queue` is refused at once
(`QueueFull`: the service answers 503 with Retry-After) instead of waiting behind work it cannot catch up with. A
request whose caller stopped waiting (its task cancelled: the client went away) is dropped from the queue and never
computed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import numpy as np


class QueueFull(Exception):
    """The batcher holds `max_queue` images already: come back later."""


@dataclass
class _Pending:
    key: Hashable
    seeds: list[int]
    future: asyncio.Future
    arrived: float


class Batcher:
    """`await batcher.submit(key, seeds)` -> uint8 [len(seeds), S, S, 3]; `run(key, seeds)` does the work."""

    def __init__(
        self,
        run: Callable[[Hashable, list[int]], np.ndarray],
        window_ms: float,
        max_images: int,
        max_queue: int = 512,
    ):
        self.run, self.window, self.max_images, self.max_queue = run, window_ms / 1000.0, max_images, max_queue
        self.pending: list[_Pending] = []
        self.wake: asyncio.Event | None = None
        self.worker: asyncio.Task | None = None
        self.batches = 0  # forward passes run (the bench and the tests read it)
        self.images = 0
        self.in_flight = 0  # requests submitted and not yet answered
        self.refused = 0  # requests refused because the queue was full
        self.dropped = 0  # requests whose caller went away before their pass

    def queued_images(self) -> int:
        return sum(len(p.seeds) for p in self.pending if not p.future.done())

    async def submit(self, key: Hashable, seeds: list[int]) -> np.ndarray:
        if self.queued_images() + len(seeds) > self.max_queue:
            self.refused += 1
            raise QueueFull(f"{self.queued_images()} images are waiting (at most {self.max_queue})")
        loop = asyncio.get_running_loop()
        if self.worker is None or self.worker.done():
            self.wake = asyncio.Event()
            self.worker = loop.create_task(self._consume())
        fut: asyncio.Future = loop.create_future()
        self.pending.append(_Pending(key, seeds, fut, time.monotonic()))
        self.in_flight += 1
        self.wake.set()
        try:
            return await fut
        finally:
            self.in_flight -= 1
            if not fut.done():  # cancelled while waiting: the caller went away
                fut.cancel()

    def _drop_abandoned(self) -> None:
        gone = [p for p in self.pending if p.future.done()]
        for p in gone:
            self.pending.remove(p)
        self.dropped += len(gone)

    def _batch(self) -> list[_Pending]:
        """The oldest request and the others of its key, up to max_images (the oldest always goes)."""
        head = self.pending[0]
        taken, n = [], 0
        for p in self.pending:
            if p.key == head.key and (not taken or n + len(p.seeds) <= self.max_images):
                taken.append(p)
                n += len(p.seeds)
        for p in taken:
            self.pending.remove(p)
        return taken

    def _full(self, key: Hashable) -> bool:
        return sum(len(p.seeds) for p in self.pending if p.key == key) >= self.max_images

    async def _consume(self) -> None:
        while True:
            self._drop_abandoned()
            while not self.pending:
                self.wake.clear()
                await self.wake.wait()
                self._drop_abandoned()
            head = self.pending[0]
            idle = self.in_flight == 1  # the head alone: nobody to wait for
            while self.window > 0 and not idle and not self._full(head.key):
                left = head.arrived + self.window - time.monotonic()
                if left <= 0:
                    break
                self.wake.clear()
                try:
                    await asyncio.wait_for(self.wake.wait(), left)
                except TimeoutError:
                    break
            self._drop_abandoned()
            if not self.pending:
                continue
            items = self._batch() if self.window > 0 else [self.pending.pop(0)]
            seeds = [s for it in items for s in it.seeds]
            try:
                images = await asyncio.to_thread(self.run, items[0].key, seeds)
            except Exception as err:  # noqa: BLE001 (handed to every request of the batch)
                for it in items:
                    if not it.future.done():
                        it.future.set_exception(err)
                continue
            self.batches += 1
            self.images += len(seeds)
            start = 0
            for it in items:
                if not it.future.done():
                    it.future.set_result(images[start : start + len(it.seeds)])
                start += len(it.seeds)
