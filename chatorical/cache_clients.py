"""One redis client per connection pool for the Django cache, whatever the thread or task.

Django keeps a cache object per thread and per asyncio task (a context-local), and
django-redis gave each one its own redis client: 13 KB, mostly the client's table of reply
callbacks. Every widget socket whose task touched the cache (the spent-token mark, the
bot's state) kept one for as long as it stayed open. A redis client is safe to share and
its connection pool was shared already, so the sockets of a process now share one.
"""

import threading

from django_redis.pool import ConnectionFactory, SentinelConnectionFactory

_clients: dict = {}  # by connection pool
_lock = threading.Lock()


class _SharedClients:
    def get_connection(self, params):
        pool = self.get_or_create_connection_pool(params)
        with _lock:
            client = _clients.get(pool)
            if client is None:
                client = _clients[pool] = self.redis_client_cls(connection_pool=pool, **self.redis_client_cls_kwargs)
        return client


class SharedClientConnectionFactory(_SharedClients, ConnectionFactory):
    pass


class SharedClientSentinelConnectionFactory(_SharedClients, SentinelConnectionFactory):
    pass
