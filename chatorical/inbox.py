"""A socket's queues: the messages for its application (daphne) and for its channel (the
channel layer). An idle socket's are empty nearly always, and two asyncio.Queues cost it
6 KB."""

import asyncio
import collections


class Inbox:
    """What daphne and the channel layer use of an asyncio.Queue, put_nowait() and get(),
    without its three deques and Event, each with a block of its own."""

    __slots__ = ("_messages", "_waiters")

    def __init__(self):
        self._messages: collections.deque | None = None
        self._waiters: list[asyncio.Future] = []

    def put_nowait(self, message) -> None:
        if self._messages is None:
            self._messages = collections.deque()
        self._messages.append(message)
        self._wake_one()

    async def get(self):
        while not self._messages:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                self._waiters.remove(waiter)
                if self._messages:
                    self._wake_one()  # the wake-up it may have had goes to the next
                raise
            self._waiters.remove(waiter)
        message = self._messages.popleft()
        if not self._messages:
            self._messages = None
        return message

    def _wake_one(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
                return
