"""The channel layer on the real Redis: group sends published in batches, in order."""

import asyncio

from channels.layers import get_channel_layer

from chatorical.channel_layer import BatchedPublishChannelLayer


async def test_group_sends_made_at_once_all_arrive_in_the_order_they_were_sent():
    layer = get_channel_layer()
    assert isinstance(layer, BatchedPublishChannelLayer)
    channel = await layer.new_channel()
    await layer.group_add("batched-order", channel)
    try:
        await asyncio.gather(*(layer.group_send("batched-order", {"type": "t", "n": n}) for n in range(200)))
        received = [await asyncio.wait_for(layer.receive(channel), 5) for _ in range(200)]
        assert [message["n"] for message in received] == list(range(200))
    finally:
        await layer.group_discard("batched-order", channel)


async def test_a_group_send_reaches_the_sockets_of_another_process_layer():
    """Two layers, as two server processes: the publisher's batch reaches the other's subscriber."""
    from django.conf import settings

    config = settings.CHANNEL_LAYERS["default"]["CONFIG"]
    sender, receiver = BatchedPublishChannelLayer(**config), BatchedPublishChannelLayer(**config)
    channel = await receiver.new_channel()
    await receiver.group_add("batched-cross", channel)
    try:
        await sender.group_send("batched-cross", {"type": "t", "text": "hi"})
        assert (await asyncio.wait_for(receiver.receive(channel), 5))["text"] == "hi"
    finally:
        await receiver.group_discard("batched-cross", channel)
        await sender.flush()
        await receiver.flush()
