# temporary profiling harness: not committed
import cProfile, pstats, time, io, os
import pytest
from django.db import connection
from chatorical import tenancy, tracing
from conversations.tests.factories import start
from telegram_bridge.tests.conftest import DEFAULT_CHAT_ID, topic_of, AGENT
from telegram_bridge.updates import update_store, process_pending_updates, updates_durable
from telegram_bridge.api import webhook

pytestmark = pytest.mark.django_db(transaction=True)


def test_prof(client, agents, default_tenant):
    conversation = start(client, name="Ada")
    agents.drain(conversation)
    agents.press_claim(conversation)
    thread = topic_of(conversation).thread_id
    updates = [agents.fake.add_user_message(DEFAULT_CHAT_ID, f"hi {i}", thread_id=thread, user=AGENT) for i in range(400)]
    def one(update):
        with tenancy.tenant_context(default_tenant):
            update_store(update_id=update["update_id"], payload=update, traceparent="")
            webhook._process_stored(default_tenant)
            updates_durable()
    for u in updates[:50]:
        one(u)
    queries = []
    from django.test.utils import CaptureQueriesContext
    with CaptureQueriesContext(connection) as ctx:
        one(updates[50])
    for q in ctx.captured_queries:
        print(q["time"], q["sql"][:300])
    t = time.perf_counter()
    prof = cProfile.Profile() if os.environ.get("PROF") else None
    if prof: prof.enable()
    for u in updates[51:]:
        one(u)
    if prof: prof.disable()
    print("per update ms", (time.perf_counter() - t) / 349 * 1000)
    if prof:
        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats("cumulative").print_stats(60)
        print(s.getvalue())
    from conversations.models import Message
    with tenancy.tenant_context(default_tenant):
        print("outbound", Message.objects.filter(direction="OUTBOUND").count(), list(Message.objects.order_by("-id").values_list("direction","text")[:3]))
    conversation.refresh_from_db()
    print("claimed", conversation.claimed_by_id, conversation.status)
