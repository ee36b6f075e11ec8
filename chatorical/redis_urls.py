"""REDIS_URL as a single server or as Redis Sentinel, for every client of the project.

    redis://[:password@]host:6379            one server (the project uses DB 3 on it)
    sentinel://[:password@]host1:26379,host2:26379/MASTER_NAME
                                             the master that the Sentinels name MASTER_NAME
                                             (the password is the master's; the Sentinels
                                             are asked without one)

The channel layer (channels-redis), the cache (django-redis), Celery's broker (kombu) and the
rate limiter each take Sentinel in their own way; this module speaks all four, so settings
and the limiter hold no Sentinel details of their own.
"""

from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

import redis
import redis.asyncio as aioredis
import redis.asyncio.sentinel
import redis.sentinel
from django.core.exceptions import ImproperlyConfigured

SENTINEL_SCHEME = "sentinel"


@dataclass(frozen=True)
class SentinelTarget:
    sentinels: tuple[tuple[str, int], ...]
    master: str
    password: str
    db: int


def sentinel_target(url: str, *, db: int) -> SentinelTarget | None:
    """The Sentinel setup a `sentinel://` URL names, or None for any other URL."""
    parts = urlsplit(url)
    if parts.scheme != SENTINEL_SCHEME:
        return None
    hosts = parts.netloc.rsplit("@", 1)[-1]
    master = parts.path.strip("/")
    sentinels = []
    for host in hosts.split(","):
        name, _, port = host.rpartition(":")
        if not name or not port.isdigit():
            raise ImproperlyConfigured(f"REDIS_URL: a Sentinel must be written host:port, got {host!r}")
        sentinels.append((name.strip("[]"), int(port)))
    if not master:
        raise ImproperlyConfigured("REDIS_URL: a sentinel:// URL must end with /MASTER_NAME")
    return SentinelTarget(sentinels=tuple(sentinels), master=master, password=unquote(parts.password or ""), db=db)


def channel_layer_host(target: SentinelTarget, **options) -> dict:
    """A host entry of channels-redis' CONFIG["hosts"]."""
    return {
        "sentinels": list(target.sentinels),
        "master_name": target.master,
        "db": target.db,
        **({"password": target.password} if target.password else {}),
        **options,
    }


def cache_settings(target: SentinelTarget, **options) -> dict:
    """LOCATION and OPTIONS of a django-redis cache."""
    return {
        "LOCATION": f"redis://{target.master}/{target.db}",
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.SentinelClient",
            "CONNECTION_FACTORY": "chatorical.cache_clients.SharedClientSentinelConnectionFactory",
            "SENTINELS": list(target.sentinels),
            **({"PASSWORD": target.password} if target.password else {}),
            **options,
        },
    }


def celery_broker(target: SentinelTarget) -> tuple[str, dict]:
    """Celery's broker URL (kombu's `sentinel://` list) and the transport options it needs."""
    password = f":{quote(target.password, safe='')}@" if target.password else ""
    url = ";".join(f"sentinel://{password}{host}:{port}/{target.db}" for host, port in target.sentinels)
    return url, {"master_name": target.master}


def _sentinel_pool_kwargs(target: SentinelTarget, options: dict) -> dict:
    # Sentinel pools never block waiting for a free connection: that option is the blocking pool's.
    kwargs = {key: value for key, value in options.items() if key != "timeout"}
    kwargs["db"] = target.db
    if target.password:
        kwargs["password"] = target.password
    return kwargs


def sync_pool(url: str, *, db: int, **options) -> redis.ConnectionPool:
    target = sentinel_target(url, db=db)
    if target is None:
        return redis.BlockingConnectionPool.from_url(url, **options)
    sentinel = redis.sentinel.Sentinel(list(target.sentinels))
    return redis.sentinel.SentinelConnectionPool(target.master, sentinel, **_sentinel_pool_kwargs(target, options))


def async_pool(url: str, *, db: int, **options) -> aioredis.ConnectionPool:
    target = sentinel_target(url, db=db)
    if target is None:
        return aioredis.BlockingConnectionPool.from_url(url, **options)
    sentinel = redis.asyncio.sentinel.Sentinel(list(target.sentinels))
    return redis.asyncio.sentinel.SentinelConnectionPool(
        target.master, sentinel, **_sentinel_pool_kwargs(target, options)
    )
