"""A real worker is SIGKILLed mid-drain; after a restart everything is delivered, in order."""

import re

import pytest
import redis
from django.conf import settings

from chatorical import tenancy
from chatorical.testing import WorkerProcess
from conversations import services
from conversations.models import Message, OutboxEvent
from conversations.tests.factories import start

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.processes]

MESSAGES = 50
# Long enough that only two fit one post, so the backlog drains as ~25 posts, not one.
FILLER = "x" * 1500


def worker_env(fake):
    return {
        "TELEGRAM_API_BASE": fake.base_url,
        "BOT_TOKEN": settings.BOT_TOKEN,
        "SUPPORT_GROUP_ID": settings.SUPPORT_GROUP_ID,
        "TELEGRAM_GROUP_POSTS_PER_MINUTE": 10000,
        "TELEGRAM_BOT_POSTS_PER_SECOND": 10000,
        "OUTBOX_SWEEP_SECONDS": 1,
    }


def markers_in_topic(agents, conversation) -> list[int]:
    return [int(n) for text in agents.topic_texts(conversation) for n in re.findall(r"message (\d+):", text)]


def test_sigkill_mid_drain_loses_nothing(client, agents, tmp_path):
    agents.fake.set_limits(group_per_minute=None, bot_per_second=None)
    redis.Redis.from_url(settings.REDIS_URL).delete(
        *[b"x"] + list(redis.Redis.from_url(settings.REDIS_URL).scan_iter(f"{settings.REDIS_KEY_PREFIX}:celery:*"))
    )
    conversation = start(client, name="Crash test")
    agents.drain(conversation)
    with tenancy.tenant_context(conversation.tenant):
        for i in range(MESSAGES):
            services.message_add(
                conversation=conversation, direction=Message.Direction.INBOUND, text=f"message {i}: {FILLER}"
            )

    worker = WorkerProcess(tmp_path, **worker_env(agents.fake))
    try:
        agents.fake.wait_for(lambda fake: len(markers_in_topic(agents, conversation)) >= 6, timeout=30)
    finally:
        worker.kill()
    delivered_at_kill = len(markers_in_topic(agents, conversation))
    assert delivered_at_kill < MESSAGES, "the worker finished before it was killed; the test proves nothing"

    restarted = WorkerProcess(tmp_path, **worker_env(agents.fake))
    try:
        agents.fake.wait_for(
            lambda fake: set(markers_in_topic(agents, conversation)) == set(range(MESSAGES)), timeout=60
        )
    finally:
        restarted.stop()

    markers = markers_in_topic(agents, conversation)
    deduplicated = [m for i, m in enumerate(markers) if m not in markers[:i]]
    assert deduplicated == list(range(MESSAGES)), "delivered in order"
    # Only the post in flight at the kill can be sent twice: Telegram confirmed it, the
    # worker died before recording that. Everything recorded as sent is never resent.
    assert len(markers) - MESSAGES <= 2
    with tenancy.tenant_context(conversation.tenant):
        assert not OutboxEvent.objects.filter(conversation=conversation, status="pending").exists()
