"""The channel layer: channels_redis's pub/sub layer, with group sends published in batches,
and a subscriber that survives Redis going away.

Publishing: channels_redis publishes under a per-connection lock, one round trip at a time,
and the sockets' subscribes wait on the same lock: under load every group send of a process
queued behind the one before (profiled: the ceiling of fan-out, near 500 messages/s on two
cores). Here the group sends that wait go to Redis together as one pipeline of PUBLISH, on
a connection pool of their own. One batch at a time, so a process publishes in the order it
sends. Subscribing, receiving and the wire format are channels_redis's own.

Reconnecting: channels_redis's receive task logs a lost connection and polls again, and
nothing checks that the subscriptions came back; one stray TimeoutError ends the task
for good. Then every socket of the process stays open and hears nothing: deaf. Here the
receive loop treats any error as a lost connection, retries with backoff, and once Redis
answers it subscribes again to every channel and group of the process, in one SUBSCRIBE.
Events published meanwhile are gone from pub/sub (they are stored), so every local
channel then gets `{"type": "channel_layer.resumed"}` and catches up from the database.
While Redis stays away longer than LOST_AFTER_SECONDS, the local channels get
`{"type": "channel_layer.lost"}` once, and the widget sockets close (4012: 1012, "service
restart", as daphne lets a server say it) to resume
elsewhere. The `on_disconnect` / `on_reconnect` options of channels_redis's pub/sub layer
are called too: a callable or a dotted path, given the loop's layer, sync or async.
"""

import asyncio
import functools
import inspect
import logging
import time

from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer, RedisSingleShardConnection
from channels_redis.utils import _wrap_close, create_pool
from django.utils.module_loading import import_string
from redis import asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import RedisError

from chatorical import resilience
from chatorical.batcher import Batcher, per_event_loop
from chatorical.inbox import Inbox

logger = logging.getLogger(__name__)

PUBLISH_BATCH_MAX = 500
PUBLISH_RETRIES = 3
RECONNECT_BACKOFF_SECONDS = (0.1, 0.2, 0.5, 1.0, 2.0)
LOST_AFTER_SECONDS = 10.0
RESUMED_MESSAGE = {"type": "channel_layer.resumed"}
LOST_MESSAGE = {"type": "channel_layer.lost"}


class BatchedPublishChannelLayer(RedisPubSubChannelLayer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._publishers = per_event_loop(dict)  # a Batcher per shard of the loop's layer

    def _get_layer(self):
        loop = asyncio.get_running_loop()
        if loop not in self._layers:
            self._layers[loop] = ReconnectingLoopLayer(*self._args, **self._kwargs, channel_layer=self)
            _wrap_close(self, loop)
        return self._layers[loop]

    async def send(self, channel, message):
        await self._publisher(self._get_layer()._get_shard(channel)).submit((channel, self.serialize(message)))

    async def group_send(self, group, message):
        await self.send(self._get_layer()._get_group_channel_name(group), message)

    def connected(self) -> bool:
        """Whether every shard of this loop's layer hears Redis now (not: whether it ever failed)."""
        return all(shard.outage.since is None for shard in self._get_layer()._shards)

    def _publisher(self, shard) -> Batcher:
        publishers = self._publishers()
        if shard not in publishers:
            # A pooled connection left from before a Redis restart fails on first use; the
            # send is retried on a fresh one (it never reached the old Redis).
            retrying = Retry(ExponentialBackoff(cap=1.0, base=0.05), PUBLISH_RETRIES)
            client = aioredis.Redis(connection_pool=create_pool({**shard.host, "retry": retrying}))
            publishers[shard] = Batcher(
                functools.partial(_publish_all, client), max_batch=PUBLISH_BATCH_MAX, max_in_flight=1
            )
        return publishers[shard]


async def _publish_all(client, messages: list[tuple[str, bytes]]) -> list:
    async with client.pipeline(transaction=False) as pipeline:
        for channel, payload in messages:
            pipeline.publish(channel, payload)
        return await pipeline.execute(raise_on_error=False)


class ReconnectingLoopLayer(RedisPubSubLoopLayer):
    def __init__(self, *args, on_disconnect=None, on_reconnect=None, **kwargs):
        super().__init__(*args, on_disconnect=_hook(on_disconnect), on_reconnect=_hook(on_reconnect), **kwargs)
        self._shards = [ReconnectingShardConnection(shard.host, self) for shard in self._shards]

    async def _subscribe_to_channel(self, channel):
        self.channels[channel] = Inbox()
        await self._get_shard(channel).subscribe(channel)

    def tell_local_channels(self, message: dict, channels) -> None:
        payload = self.channel_layer.serialize(message)
        for channel in channels:
            queue = self.channels.get(channel)
            if queue is not None:
                queue.put_nowait(payload)


def _hook(hook):
    return import_string(hook) if isinstance(hook, str) else hook


class ReconnectingShardConnection(RedisSingleShardConnection):
    def __init__(self, host, channel_layer):
        super().__init__(host, channel_layer)
        self.outage = resilience.Outage("channel_layer")
        self._lost_told = False

    async def subscribe(self, channel):
        try:
            await super().subscribe(channel)
        except RedisError as error:
            # Subscribed with the rest once Redis answers: a socket that connects during
            # the outage is accepted (a refused v1 handshake makes the widget forget its
            # conversation), and is told when the layer is back.
            self._subscribed_to.add(channel)
            await self._lost(error)

    async def unsubscribe(self, channel):
        try:
            await super().unsubscribe(channel)
        except RedisError:
            pass  # _restore() drops it once Redis answers

    async def _do_receiving(self):
        failures = 0
        while True:
            try:
                if self.outage.since is not None:
                    await self._restore()
                if self._pubsub and self._pubsub.subscribed:
                    message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
                    self._receive_message(message)
                else:
                    await asyncio.sleep(0.1)
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as error:  # whatever it is, this process does not hear Redis
                await self._lost(error)
                await asyncio.sleep(RECONNECT_BACKOFF_SECONDS[min(failures, len(RECONNECT_BACKOFF_SECONDS) - 1)])
                failures += 1

    async def _lost(self, error: Exception) -> None:
        if self.outage.lost():
            self._lost_told = False
            logger.warning("channel layer lost Redis at %s: %r", self.host.get("address", ""), error)
            await self._call_hook(self.channel_layer.on_disconnect)
        elif not self._lost_told and time.monotonic() - self.outage.since > LOST_AFTER_SECONDS:
            self._lost_told = True
            logger.warning("channel layer still without Redis: closing its sockets so they resume elsewhere")
            self.channel_layer.tell_local_channels(LOST_MESSAGE, self._local_channels())

    async def _restore(self) -> None:
        """Subscribes again to everything this process listens to; raises while Redis is away."""
        layer = self.channel_layer
        async with self._lock:
            self._ensure_redis()
            # Sockets that left during the outage could not unsubscribe: forget theirs.
            left = {name for name in self._subscribed_to if name not in layer.channels and name not in layer.groups}
            if left:
                await self._pubsub.unsubscribe(*left)
                self._subscribed_to -= left
            if self._subscribed_to:
                await self._pubsub.subscribe(*self._subscribed_to)
            else:
                await self._redis.ping()
        seconds = self.outage.ended()
        restored = len(self._subscribed_to)
        logger.warning("channel layer back on Redis after %.1f s: %d subscriptions restored", seconds, restored)
        self.channel_layer.tell_local_channels(RESUMED_MESSAGE, self._local_channels())
        await self._call_hook(self.channel_layer.on_reconnect)

    def _ensure_redis(self):
        # No silent retry inside redis-py: a reconnect it made on its own would hide the
        # outage, and with it the events published meanwhile.
        if self._redis is None:
            self._redis = aioredis.Redis(connection_pool=create_pool({**self.host, "retry": Retry(NoBackoff(), 0)}))
            self._pubsub = self._redis.pubsub()

    def _local_channels(self) -> set[str]:
        """The channels of this process whose messages come through this shard."""
        layer = self.channel_layer
        channels = {channel for channel in layer.channels if layer._get_shard(channel) is self}
        for group_channel, members in layer.groups.items():
            if layer._get_shard(group_channel) is self:
                channels |= members
        return channels

    async def _call_hook(self, hook) -> None:
        if hook is None:
            return
        try:
            result = hook(self.channel_layer)
            if inspect.isawaitable(result):
                await result
        except Exception:
            logger.exception("channel layer hook %r failed", hook)
