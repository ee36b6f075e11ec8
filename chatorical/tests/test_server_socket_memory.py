"""chatorical.server: what an idle socket's task keeps of Django's per-context state."""

import asyncio
import contextvars
import gc

from asgiref.sync import sync_to_async
from daphne.server import Server
from django.core.cache import caches

from chatorical.server import GracefulServer


def _sockets_cache_objects() -> list:
    """The cache object each of two socket-like tasks gets, in the task and in the thread
    a sync call of the task runs in, as a consumer's handshake does."""

    async def socket():
        return [caches["default"], await sync_to_async(lambda: caches["default"])()]

    async def two_sockets():
        first, second = await asyncio.gather(socket(), socket())
        return first + second

    return asyncio.run(two_sockets())


def test_every_socket_task_shares_the_cache_object_made_before_serving(monkeypatch):
    """Django keeps a cache object per asyncio context; one made in each socket's task
    stayed for the socket's life (1.1 KB of RSS a socket)."""
    seen = []
    monkeypatch.setattr(Server, "run", lambda self: seen.extend(_sockets_cache_objects()))
    server = GracefulServer(application=None, endpoints=["tcp:port=0:interface=127.0.0.1"])
    try:
        # A context of its own, as a fresh process has: none made before the server's run.
        contextvars.Context().run(server.run)
    finally:
        gc.unfreeze()
    assert len(seen) == 4 and all(cache is seen[0] for cache in seen)


def test_without_it_each_socket_task_makes_its_own():
    """The behaviour the server's run works around (if Django changed it, the workaround
    could go)."""
    made = contextvars.Context().run(_sockets_cache_objects)
    assert made[0] is made[1] and made[2] is made[3]
    assert made[0] is not made[2]
