"""Per-tenant conversation metrics, read from /metrics as Prometheus scrapes them."""

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.utils import timezone

from chatorical import tenancy
from chatorical.asgi import application
from chatorical.testing import metric_samples, metric_value
from chatorical.testing import metrics_page as scrape
from conversations.metrics import close_code_label
from conversations.models import OutboxEvent
from conversations.tests.factories import conversation_for, message_for, token_for


@pytest.mark.django_db(transaction=True)
async def test_a_conversation_through_http_and_socket_is_counted_for_its_tenant(default_tenant):
    client = Client()
    before = await database_sync_to_async(scrape)()
    response = await database_sync_to_async(client.post)("/v1/start", {"name": "Ada"}, content_type="application/json")
    assert response.status_code == 201
    token = response.json()["token"]

    socket = WebsocketCommunicator(application, f"/v1/ws?token={token}")
    assert (await socket.connect())[0]
    await socket.receive_json_from()  # welcome
    await socket.receive_json_from()  # offline: no bot configured
    await socket.send_json_to({"type": "message", "text": "hello"})
    assert (await socket.receive_json_from())["text"] == "hello"
    during = await database_sync_to_async(scrape)()
    await socket.disconnect(code=1001)
    after = await database_sync_to_async(scrape)()

    def delta(name, exposition, **labels):
        return metric_value(exposition, name, **labels) - metric_value(before, name, **labels)

    assert delta("chatorical_conversations_started_total", after, tenant="default") == 1
    assert delta("chatorical_messages_total", after, tenant="default", direction="in") == 1
    assert delta("chatorical_messages_total", after, tenant="default", direction="out") == 0
    assert delta("chatorical_open_sockets", during, tenant="default") == 1
    assert delta("chatorical_open_sockets", after, tenant="default") == 0
    assert delta("chatorical_socket_closes_total", after, tenant="default", code="1001") == 1


@pytest.mark.django_db
def test_tenant_label_can_be_one_value_or_none(settings, tenant_a, tenant_b, django_capture_on_commit_callbacks):
    settings.METRICS_TENANT_LABEL = "all"
    before = scrape()
    with django_capture_on_commit_callbacks(execute=True):
        message_for(tenant_a.conversation)
        message_for(tenant_b.conversation)
    assert (
        metric_value(scrape(), "chatorical_messages_total", tenant="all", direction="in")
        - metric_value(before, "chatorical_messages_total", tenant="all", direction="in")
        == 2
    )

    settings.METRICS_TENANT_LABEL = "none"
    before = scrape()
    with django_capture_on_commit_callbacks(execute=True):
        message_for(tenant_a.conversation)
    after = scrape()
    # An empty label is no label to Prometheus: the series carries none of the tenants.
    assert (
        metric_value(after, "chatorical_messages_total", tenant="", direction="in")
        - metric_value(before, "chatorical_messages_total", tenant="", direction="in")
        == 1
    )
    assert not any(
        dict(labels).get("tenant") in ("tenant-a", "tenant-b")
        for name, labels in metric_samples(after)
        if name == "chatorical_outbox_lag_seconds"
    )


@pytest.mark.django_db
def test_outbox_lag_and_dead_events_per_tenant(tenant_a, tenant_b):
    with tenancy.tenant_context(tenant_a.tenant):
        OutboxEvent.objects.filter(conversation=tenant_a.conversation).update(
            created_at=timezone.now() - timedelta(seconds=90)
        )
    with tenancy.tenant_context(tenant_b.tenant):
        OutboxEvent.objects.filter(conversation=tenant_b.conversation).update(status=OutboxEvent.Status.DONE)
        OutboxEvent.objects.filter(pk=OutboxEvent.objects.filter(conversation=tenant_b.conversation).first().pk).update(
            status=OutboxEvent.Status.DEAD
        )

    exposition = scrape()
    assert 90 <= metric_value(exposition, "chatorical_outbox_lag_seconds", tenant="tenant-a") < 300
    assert metric_value(exposition, "chatorical_outbox_lag_seconds", tenant="tenant-b") == 0
    assert metric_value(exposition, "chatorical_outbox_dead_events", tenant="tenant-b") == 1
    assert metric_value(exposition, "chatorical_outbox_dead_events", tenant="tenant-a") == 0


def test_close_codes_a_client_makes_up_share_one_label():
    assert close_code_label(1006) == "1006"
    assert close_code_label(4429) == "4429"
    assert close_code_label(4123) == close_code_label(3999) == "other"


CODE_LABELS = {"status", "code", "le", "quantile", "generation", "major", "minor", "patchlevel"}


@pytest.mark.django_db
def test_no_label_holds_an_id(tenant_a):
    message_for(tenant_a.conversation)
    conversation_for(tenant_a.tenant)
    token_for(tenant_a.conversation)
    ids = {str(tenant_a.conversation.id), str(tenant_a.api_key.id), *(str(m.id) for m in tenant_a.messages)}
    # Labels that hold codes by design (an HTTP status, a close code, a bucket, Python's
    # version) may equal a small numeric id by chance: a webhook's 204 is not message 204.
    values = {value for _, labels in metric_samples(scrape()) for name, value in labels if name not in CODE_LABELS}
    assert not values & ids
