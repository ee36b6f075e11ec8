"""Calls that arrive together, run together.

Under load the sockets of one process make the same call (store a message, check a rate
limit) many times within a few milliseconds, and each costs a round trip and, for the
database, a hop to a thread. A Batcher runs a call at once while fewer than
`max_in_flight` batches are running; otherwise the calls wait and go together as the
next batch when one finishes. So an idle process adds no delay, and a busy one makes one
round trip for many calls.

With `stall_seconds`, a batch starts beside running ones only when each of them has run
that long: they are stuck (waiting on a lock another process holds, say), and the calls
behind them should not wait too. Until then the calls gather into one batch, as a batch's
cost is mostly per batch: many small batches at once cost a busy process more CPU than
they save in waiting. With `key`, calls of one key are never in two batches at once (a
call whose key is in a running batch waits for the next one), so the batch that starts
beside a stuck one does not get stuck on the same rows.
"""

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

BatchRunner = Callable[[list[Any]], Awaitable[list[Any]]]
Key = Callable[[Any], Any]


class Batcher:
    """`run` takes a list of items and returns one result per item, in order; a result
    that is an exception is raised to that item's caller alone. If `run` itself raises,
    every caller of the batch gets the error. Bound to the event loop it is used on."""

    def __init__(
        self,
        run: BatchRunner,
        *,
        max_batch: int,
        max_in_flight: int,
        stall_seconds: float = 0.0,
        key: Key | None = None,
    ):
        self._run = run
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._stall_seconds = stall_seconds
        self._key = key
        self._waiting: list[tuple[Any, asyncio.Future]] = []
        self._running_since: list[float] = []  # the loop's time each running batch started
        self._running_keys: set = set()
        self._recheck: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task] = set()  # held, so a running batch is not collected

    def submit(self, item: Any) -> asyncio.Future:
        """The future of `item`'s result. The item takes its place in the queue at once, so
        the items of calls made one after another keep that order."""
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        self._start_batches()
        return future

    def _start_batches(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiting and len(self._running_since) < self._max_in_flight:
            if self._running_since:
                stalled_at = max(self._running_since) + self._stall_seconds
                if loop.time() < stalled_at:
                    self._start_batches_at(stalled_at)
                    return
            batch, keys = self._next_batch()
            if not batch:
                return  # every waiting call's key is in a running batch
            started = loop.time()
            self._running_since.append(started)
            self._running_keys |= keys
            task = loop.create_task(self._run_batch(batch, keys, started))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _start_batches_at(self, when: float) -> None:
        if self._recheck is not None and self._recheck.when() <= when:
            return
        if self._recheck is not None:
            self._recheck.cancel()
        self._recheck = asyncio.get_running_loop().call_at(when, self._rechecked)

    def _rechecked(self) -> None:
        self._recheck = None
        self._start_batches()

    def _next_batch(self) -> tuple[list[tuple[Any, asyncio.Future]], set]:
        """The first `max_batch` waiting calls, leaving those of running keys waiting."""
        if self._key is None:
            batch, self._waiting = self._waiting[: self._max_batch], self._waiting[self._max_batch :]
            return batch, set()
        batch, waiting, keys = [], [], set()
        for call in self._waiting:
            key = self._key(call[0])
            if len(batch) < self._max_batch and key not in self._running_keys:
                batch.append(call)
                keys.add(key)
            else:
                waiting.append(call)
        self._waiting = waiting
        return batch, keys

    async def _run_batch(self, batch: list[tuple[Any, asyncio.Future]], keys: set, started: float) -> None:
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
            self._running_since.remove(started)
            self._running_keys -= keys
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
