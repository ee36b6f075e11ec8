"""Calls that arrive together, run together.

Under load the sockets of one process make the same call (store a message, check a rate
limit) many times within a few milliseconds, and each costs a round trip and, for the
database, a hop to a thread. A Batcher runs a call at once while fewer than
`max_in_flight` batches are running; otherwise the calls wait and go together as the
next batch when one finishes. So an idle process adds no delay, and a busy one makes one
round trip for many calls.
"""

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

BatchRunner = Callable[[list[Any]], Awaitable[list[Any]]]


class Batcher:
    """`run` takes a list of items and returns one result per item, in order; a result
    that is an exception is raised to that item's caller alone. If `run` itself raises,
    every caller of the batch gets the error. Bound to the event loop it is used on."""

    def __init__(self, run: BatchRunner, *, max_batch: int, max_in_flight: int):
        self._run = run
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._waiting: list[tuple[Any, asyncio.Future]] = []
        self._in_flight = 0
        self._tasks: set[asyncio.Task] = set()  # held, so a running batch is not collected

    async def submit(self, item: Any) -> Any:
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        self._start_batches()
        return await future

    def _start_batches(self) -> None:
        while self._waiting and self._in_flight < self._max_in_flight:
            batch, self._waiting = self._waiting[: self._max_batch], self._waiting[self._max_batch :]
            self._in_flight += 1
            task = asyncio.get_running_loop().create_task(self._run_batch(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run_batch(self, batch: list[tuple[Any, asyncio.Future]]) -> None:
        try:
            results = await self._run([item for item, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"a batch of {len(batch)} got {len(results)} results")
        except Exception as error:
            results = [error] * len(batch)
        except BaseException:
            # Cancelled (the loop is shutting down): its callers must not wait forever.
            for _, future in batch:
                future.cancel()
            raise
        finally:
            self._in_flight -= 1
            self._start_batches()
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():  # its caller was cancelled (the socket went away)
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)


def per_event_loop(factory: Callable[[], Any]) -> Callable[[], Any]:
    """A getter of one `factory()` object per running event loop: asyncio futures and
    connections belong to the loop that made them (one per daphne process, one per test)."""
    instances: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def get() -> Any:
        loop = asyncio.get_running_loop()
        instance = instances.get(loop)
        if instance is None:
            instance = instances[loop] = factory()
        return instance

    return get
