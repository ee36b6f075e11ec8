"""The queue of a socket's application input and of its channel."""

import asyncio

from chatorical.inbox import Inbox


async def test_an_inbox_hands_out_messages_in_order_and_wakes_a_waiting_receiver():
    inbox = Inbox()
    waiting = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    inbox.put_nowait("first")
    inbox.put_nowait("second")
    assert await asyncio.wait_for(waiting, 1) == "first"
    assert await inbox.get() == "second"


async def test_a_cancelled_receiver_passes_its_wake_up_to_the_next():
    inbox = Inbox()
    cancelled, other = asyncio.create_task(inbox.get()), asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    inbox.put_nowait("only")
    cancelled.cancel()
    assert await asyncio.wait_for(other, 1) == "only"
