"""Telegram bridge benchmark, run by hand: `.venv/bin/python bench/telegram_bridge.py`.

Against the fake Bot API from the tests (limits off), a real Celery worker and daphne:
1. visitor message -> Bot API sendMessage latency with an idle queue (p50/p99);
2. webhook ingest: updates per second one daphne process accepts, and how long until a
   worker has processed them all;
3. outbox drain rate with the group limits off: messages per second one worker hands to
   Telegram (every other one an agent's, so none merge), and the posts that took.
"""

import json
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import harness

harness.setup()

import httpx  # noqa: E402
from django.conf import settings  # noqa: E402
from django.utils import timezone  # noqa: E402

from chatorical import tenancy  # noqa: E402
from chatorical.testing import ServerProcess, WorkerProcess  # noqa: E402
from conversations import services  # noqa: E402
from conversations.models import OutboxEvent  # noqa: E402
from conversations.outbox import pending_state  # noqa: E402
from telegram_bridge.models import TelegramUpdate  # noqa: E402
from telegram_bridge.selectors import topic_get  # noqa: E402
from telegram_bridge.testing.fixtures import DEFAULT_BOT_TOKEN, DEFAULT_CHAT_ID  # noqa: E402
from tenants.selectors import tenant_get_default  # noqa: E402

LATENCY_MESSAGES = 200
WEBHOOK_UPDATES = 1000
DRAIN_CONVERSATIONS, DRAIN_MESSAGES_EACH = 20, 25


def configure_in_process(fake):
    settings.TELEGRAM_API_BASE = fake.base_url
    settings.BOT_TOKEN = DEFAULT_BOT_TOKEN
    settings.SUPPORT_GROUP_ID = str(DEFAULT_CHAT_ID)


def wait_until(predicate, timeout=120, interval=0.005):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark condition not met")
        time.sleep(interval)


def visitor_to_telegram_latency(fake, tenant) -> dict:
    conversation = services.conversation_start(tenant=tenant, visitor_name="Latency")
    wait_until(lambda: (topic := topic_get(conversation=conversation)) and topic.header_message_id)
    samples = []
    for i in range(LATENCY_MESSAGES):
        text = f"latency probe {i}"
        started = time.monotonic()
        services.message_add(conversation=conversation, direction="INBOUND", text=text)
        wait_until(lambda text=text: any(c.params.get("text") == text for c in fake.calls("sendMessage")[-3:]))
        samples.append(time.monotonic() - started)
        time.sleep(0.01)  # an idle queue: one message at a time
    return harness.percentiles(samples)


def webhook_ingest(fake, tenant, server) -> dict:
    conversation = services.conversation_start(tenant=tenant, visitor_name="Webhook")
    wait_until(lambda: topic_get(conversation=conversation))
    thread_id = topic_get(conversation=conversation).thread_id
    agent = {"id": 99, "is_bot": False, "first_name": "Bench"}
    services.conversation_claim(conversation=conversation, agent_id=99, agent_name="Bench")
    base_id = int(time.time() * 1000)
    updates = [
        {
            "update_id": base_id + i,
            "message": {
                "message_id": 10**6 + i,
                "date": int(time.time()),
                "from": agent,
                "chat": {"id": DEFAULT_CHAT_ID, "type": "supergroup"},
                "message_thread_id": thread_id,
                "is_topic_message": True,
                "text": f"agent {i}",
            },
        }
        for i in range(WEBHOOK_UPDATES)
    ]
    client = httpx.Client(headers={"X-Telegram-Bot-Api-Secret-Token": harness.HEADER_SECRET})

    def post(update):
        return client.post(f"{server.url}/v1/telegram/webhook", content=json.dumps(update)).status_code

    started = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(post, updates))
    accepted = time.monotonic() - started
    wait_until(lambda: not TelegramUpdate.objects.filter(processed_at__isnull=True).exists(), timeout=600)
    processed = time.monotonic() - started
    return {
        "updates": WEBHOOK_UPDATES,
        "non_200": sum(1 for s in statuses if s != 200),
        "accepted_per_s": round(WEBHOOK_UPDATES / accepted),
        "processed_per_s": round(WEBHOOK_UPDATES / processed),
    }


def outbox_drain_rate(fake, tenant, tmp, worker_env) -> dict:
    conversations = [
        services.conversation_start(tenant=tenant, visitor_name=f"Drain {i}") for i in range(DRAIN_CONVERSATIONS)
    ]
    for conversation in conversations:
        for i in range(DRAIN_MESSAGES_EACH):
            # Every other message is an agent's from the API, so no two visitor messages merge.
            direction = "INBOUND" if i % 2 == 0 else "OUTBOUND"
            services.message_add(conversation=conversation, direction=direction, text=f"drain {i}", agent_name="API")
    total = DRAIN_CONVERSATIONS * DRAIN_MESSAGES_EACH
    posts_before = len(fake.calls("sendMessage"))
    started = time.monotonic()
    worker = WorkerProcess(tmp, **worker_env)
    try:
        wait_until(lambda: not any(pending_state(c) for c in conversations), timeout=600, interval=0.05)
    finally:
        worker.stop()
    elapsed = time.monotonic() - started
    return {
        "messages": total,
        "posts": len(fake.calls("sendMessage")) - posts_before,
        "seconds": round(elapsed, 2),
        "messages_per_s": round(total / elapsed),
    }


def main():
    tmp = Path(tempfile.mkdtemp(prefix="chatorical-bench-"))
    with tenancy.cross_tenant("benchmark starts from an empty outbox"):
        OutboxEvent.objects.filter(status="pending").update(status="done")
        TelegramUpdate.objects.filter(processed_at__isnull=True).update(processed_at=timezone.now())
    results = {}
    with harness.fake_telegram(limits=False) as fake:
        configure_in_process(fake)
        env = harness.process_env(fake, budgets_off=True)
        tenant = tenant_get_default()
        with tenancy.tenant_context(tenant):
            worker = WorkerProcess(tmp, **env)
            server = ServerProcess(**env)
            try:
                time.sleep(3)  # the worker connects to the broker
                results["visitor_to_telegram"] = visitor_to_telegram_latency(fake, tenant)
                results["webhook_ingest"] = webhook_ingest(fake, tenant, server)
            finally:
                worker.stop()
                server.stop()
            results["outbox_drain"] = outbox_drain_rate(fake, tenant, tmp, env)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
