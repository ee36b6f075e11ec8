"""The channel layer on a private Redis that is killed and started again, empty."""

import asyncio
import signal
import time

import pytest
import redis
import redis.asyncio
from prometheus_client import REGISTRY

from chatorical import channel_layer
from chatorical.channel_layer import BatchedPublishChannelLayer


def layer_on(redis_server, **options) -> BatchedPublishChannelLayer:
    return BatchedPublishChannelLayer(hosts=[{"address": redis_server.url}], prefix="reconnect-test", **options)


async def wait_until(predicate, within: float = 10.0):
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def reconnects() -> float:
    return REGISTRY.get_sample_value("chatorical_backend_reconnects_total", {"component": "channel_layer"}) or 0.0


@pytest.mark.parametrize("stop_signal", [signal.SIGKILL, signal.SIGTERM])
async def test_after_redis_comes_back_empty_the_groups_are_heard_again_and_channels_told(private_redis, stop_signal):
    hooks = []
    layer = layer_on(
        private_redis,
        on_disconnect=lambda loop_layer: hooks.append(("disconnect", loop_layer)),
        on_reconnect=lambda loop_layer: hooks.append(("reconnect", loop_layer)),
    )
    publisher = layer_on(private_redis)  # another process's layer
    channel = await layer.new_channel()
    await layer.group_add("conv", channel)
    await publisher.group_send("conv", {"type": "t", "n": 1})
    assert (await asyncio.wait_for(layer.receive(channel), 5))["n"] == 1
    before = reconnects()

    private_redis.stop(stop_signal)
    await wait_until(lambda: not layer.connected())
    private_redis.start()
    await wait_until(layer.connected)

    assert await asyncio.wait_for(layer.receive(channel), 5) == channel_layer.RESUMED_MESSAGE
    # The restarted Redis knew no subscriber: this arrives only if the layer subscribed again.
    await publisher.group_send("conv", {"type": "t", "n": 2})
    assert (await asyncio.wait_for(layer.receive(channel), 5))["n"] == 2
    assert [name for name, _ in hooks] == ["disconnect", "reconnect"]
    assert hooks[0][1] is layer._get_layer()
    assert reconnects() == before + 1
    await layer.flush()
    await publisher.flush()


async def test_while_redis_stays_away_its_channels_are_told_the_layer_is_lost(private_redis, monkeypatch):
    monkeypatch.setattr(channel_layer, "LOST_AFTER_SECONDS", 0.3)
    layer = layer_on(private_redis)
    channel = await layer.new_channel()
    await layer.group_add("conv", channel)

    private_redis.stop(signal.SIGKILL)
    assert await asyncio.wait_for(layer.receive(channel), 10) == channel_layer.LOST_MESSAGE
    assert not layer.connected()
    private_redis.start()
    assert await asyncio.wait_for(layer.receive(channel), 10) == channel_layer.RESUMED_MESSAGE
    await layer.flush()


async def test_a_send_on_a_connection_from_before_the_restart_is_retried_on_a_fresh_one(private_redis):
    receiver, sender = layer_on(private_redis), layer_on(private_redis)
    channel = await receiver.new_channel()
    await sender.send(channel, {"type": "t", "n": 1})  # the sender's pool now holds a connection
    assert (await asyncio.wait_for(receiver.receive(channel), 5))["n"] == 1

    private_redis.stop(signal.SIGKILL)
    private_redis.start()
    await wait_until(receiver.connected)
    assert await asyncio.wait_for(receiver.receive(channel), 5) == channel_layer.RESUMED_MESSAGE
    await sender.send(channel, {"type": "t", "n": 2})
    assert (await asyncio.wait_for(receiver.receive(channel), 5))["n"] == 2
    await receiver.flush()
    await sender.flush()


async def test_a_group_left_during_the_outage_is_not_subscribed_again(private_redis):
    layer = layer_on(private_redis)
    staying, leaving = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("stays", staying)
    await layer.group_add("goes", leaving)

    private_redis.stop(signal.SIGKILL)
    await wait_until(lambda: not layer.connected())
    await layer.group_discard("goes", leaving)  # the socket went away; Redis cannot be told yet
    private_redis.start()
    await wait_until(layer.connected)

    client = redis.asyncio.Redis.from_url(private_redis.url)
    subscribed = {name.decode() for name in await client.pubsub_channels("reconnect-test__group__*")}
    await client.aclose()
    assert subscribed == {"reconnect-test__group__stays"}
    await layer.flush()
