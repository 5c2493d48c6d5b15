"""Adaptive micro-batching: requests that arrive together share one ``predict`` call.

One consumer task per served model takes the first waiting request and everything queued
behind it (up to ``max_batch_rows`` rows) and runs them as one call in a worker thread, never
on the event loop. While that call runs, new requests queue up and form the next batch, so the
batch size follows the load by itself. A batch smaller than the one before waits up to
``max_wait`` for the requests that are likely still on their way, and no longer than until it
is as large; so a lone request, after lone requests, goes straight through.

If a batch fails, its requests are run again one by one, so one bad request cannot fail the
requests it happened to share a call with.

>>> batcher = MicroBatcher(run, max_batch_rows=64, max_wait=0.002, executor=pool)  # doctest: +SKIP
>>> batcher.start(); predictions = await batcher.submit(rows)  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from loopml.serving.rows import Rows

__all__ = ["MicroBatcher"]

RunBatch = Callable[[Sequence[Rows]], list[Any]]
"""Predicts for several requests' rows at once; returns one result per request, in order."""


@dataclass
class _Waiting:
    rows: Rows
    future: asyncio.Future[Any]


class MicroBatcher:
    """Coalesces concurrent :meth:`submit` calls into calls of ``run`` (in ``executor``).
    ``on_batch(requests, rows)`` is told the size of every call (for metrics)."""

    def __init__(
        self,
        run: RunBatch,
        *,
        max_batch_rows: int,
        max_wait: float,
        executor: Executor,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> None:
        self._run = run
        self._max_rows = max(1, max_batch_rows)
        self._max_wait = max(0.0, max_wait)
        self._executor = executor
        self._on_batch = on_batch
        self._queue: asyncio.Queue[_Waiting | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._last_size = 0  # requests in the previous batch: what to expect under this load

    def start(self) -> None:
        """Start the consumer on the running event loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._consume())

    async def submit(self, rows: Rows) -> Any:
        """The result of ``run`` for ``rows``, computed alone or within a batch."""
        loop = asyncio.get_running_loop()
        if self._closed or self._task is None:  # retired (a newer version took over): alone
            return (await loop.run_in_executor(self._executor, self._run, [rows]))[0]
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.put_nowait(_Waiting(rows, future))
        return await future

    async def close(self) -> None:
        """Stop taking requests; those already queued are still answered."""
        if self._closed:
            return
        self._closed = True
        if self._task is not None:
            self._queue.put_nowait(None)
            await self._task

    async def _consume(self) -> None:
        try:
            while True:
                first = await self._queue.get()
                if first is None:
                    return
                batch, stopping = [first], False
                try:
                    stopping = await self._collect(batch)
                    await self._run_batch(batch)
                except Exception as exc:  # a bug here must fail these requests, not hang them
                    for item in batch:
                        _settle(item.future, exception=exc)
                if stopping:
                    return
        finally:  # ended (or cancelled): whoever submits now is answered alone
            self._closed = True
            self._fail_queued()

    async def _collect(self, batch: list[_Waiting]) -> bool:
        """Add to ``batch`` what is queued, then, if it is smaller than the previous batch,
        what arrives within ``max_wait``; True when the batcher was closed meanwhile."""
        rows = batch[0].rows.count
        rows, stopping = self._drain(batch, rows)
        expected = self._last_size
        if len(batch) < expected and not stopping and rows < self._max_rows and self._max_wait:
            stopping = await self._wait_for_more(batch, rows, expected)
        self._last_size = len(batch)
        return stopping

    def _fail_queued(self) -> None:
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is not None:
                _settle(item.future, exception=RuntimeError("The model batcher stopped."))

    def _drain(self, batch: list[_Waiting], rows: int) -> tuple[int, bool]:
        """Add what is already queued, up to the row limit."""
        while rows < self._max_rows and not self._queue.empty():
            item = self._queue.get_nowait()
            if item is None:
                return rows, True
            batch.append(item)
            rows += item.rows.count
        return rows, False

    async def _wait_for_more(self, batch: list[_Waiting], rows: int, expected: int) -> bool:
        """Add what arrives within ``max_wait``, until ``expected`` requests or the row
        limit; True when the batcher was closed meanwhile."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._max_wait
        while rows < self._max_rows and len(batch) < expected:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                item = await asyncio.wait_for(self._queue.get(), remaining)
            except TimeoutError:
                break
            if item is None:
                return True
            batch.append(item)
            rows += item.rows.count
        return False

    async def _run_batch(self, batch: list[_Waiting]) -> None:
        batch = [item for item in batch if not item.future.done()]  # callers that gave up
        if not batch:
            return
        loop = asyncio.get_running_loop()
        parts = [item.rows for item in batch]
        if self._on_batch is not None:
            self._on_batch(len(batch), sum(part.count for part in parts))
        try:
            results = await loop.run_in_executor(self._executor, self._run, parts)
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0].future, exception=exc)
                return
            for item in batch:  # one by one: only the request at fault fails
                try:
                    result = (await loop.run_in_executor(self._executor, self._run, [item.rows]))[0]
                except Exception as single:
                    _settle(item.future, exception=single)
                else:
                    _settle(item.future, result=result)
            return
        for item, result in zip(batch, results, strict=True):
            _settle(item.future, result=result)


def _settle(
    future: asyncio.Future[Any], *, result: Any = None, exception: BaseException | None = None
) -> None:
    if future.done():
        return
    if exception is not None:
        future.set_exception(exception)
    else:
        future.set_result(result)
