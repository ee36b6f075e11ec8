"""Soft and hard thresholds through the public surface: starts, sockets, API calls, and
the warnings staff get (billing history, support group, metric, admin banner)."""

import math
from datetime import UTC, datetime

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone
from prometheus_client import REGISTRY

from billing import delivery, selectors, services
from billing.models import BillingEvent
from billing.tests.factories import plan_create
from chatorical import tenancy
from chatorical.asgi import application
from chatorical.testing import forget_send_budgets
from conversations.models import Message, OutboxEvent
from conversations.tests.factories import conversation_for, message_for, token_for
from telegram_bridge.testing.fixtures import DEFAULT_BOT_TOKEN, DEFAULT_CHAT_ID, fake_bot_api  # noqa: F401
from templates_i18n.services import text_set
from tenants.models import Membership
from tenants.services import telegram_config_set
from tenants.tests.factories import staff_of

ORIGIN = {"HTTP_ORIGIN": "https://tenant-a.example"}


def on_plan(tenant, **limits):
    plan_create("tiny", **limits)
    services.tenant_plan_set(tenant=tenant, code="tiny", source="cli")


def start_v2(client, slug="tenant-a", **body):
    return client.post(f"/v2/tenants/{slug}/conversations", body, content_type="application/json", **ORIGIN)


def warnings(tenant) -> list[tuple[str, str]]:
    with tenancy.tenant_context(tenant):
        return sorted(BillingEvent.objects.filter(kind__in=["soft_limit", "hard_limit"]).values_list("kind", "limit"))


# --- conversations ---------------------------------------------------------------------------


def test_v2_start_is_402_at_the_hard_limit_with_the_tenants_own_wording(client, tenant_a):
    on_plan(tenant_a.tenant, conversations_per_month=2)
    with tenancy.tenant_context(tenant_a.tenant):
        text_set(
            tenant=tenant_a.tenant, kind="template", key="plan_limit_reached", locale="de", text="{tenant} ist voll."
        )
    assert start_v2(client).status_code == 201  # the world's conversation is the first
    refused = start_v2(client, locale="de-AT")
    assert refused.status_code == 402
    assert refused.json() == {"error": {"code": "plan_limit_reached", "message": "Tenant tenant-a ist voll."}}
    english = start_v2(client, locale="en").json()["error"]["message"]
    assert english.startswith("Our chat cannot take more conversations")


def test_conversations_already_open_go_on_and_agents_are_never_blocked(client, tenant_a):
    on_plan(tenant_a.tenant, conversations_per_month=1, messages_per_month=2)
    assert start_v2(client).status_code == 402
    # The world's conversation is at its message limit too; agents still answer through the API.
    response = client.post(
        f"/api/v2/conversations/{tenant_a.conversation.id}/messages/",
        {"text": "we are still here"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {tenant_a.key}",
    )
    assert response.status_code == 201
    token = client.post(f"/v2/tenants/tenant-a/conversations/{tenant_a.conversation.id}/token", **ORIGIN)
    assert token.status_code == 200


def test_v1_start_is_402_too_once_the_default_tenant_is_given_a_limited_plan(client, default_tenant):
    assert default_tenant.plan == "legacy"
    for _ in range(3):
        assert client.post("/v1/start", {}, content_type="application/json").status_code == 201
    on_plan(default_tenant, conversations_per_month=3)
    refused = client.post("/v1/start", {}, content_type="application/json")
    assert (refused.status_code, refused.json()["error"]["code"]) == (402, "plan_limit_reached")


# --- API calls -------------------------------------------------------------------------------


def test_api_calls_past_the_limit_are_429_until_the_next_period(client, tenant_a):
    on_plan(tenant_a.tenant, api_calls_per_month=2)
    headers = {"HTTP_AUTHORIZATION": f"Api-Key {tenant_a.key}"}
    assert [client.get("/api/v2/conversations/", **headers).status_code for _ in range(2)] == [200, 200]
    refused = client.get("/api/v2/conversations/", **headers)
    assert (refused.status_code, refused.json()["error"]["code"]) == (429, "plan_limit_reached")
    next_period = selectors.calendar_month(timezone.now()).ends_at
    expected = math.ceil((next_period - timezone.now()).total_seconds())
    assert abs(int(refused["Retry-After"]) - expected) <= 5
    # Refused calls are not counted: raising the limit lets the next one through at once.
    on_plan(tenant_a.tenant, api_calls_per_month=3)
    assert client.get("/api/v2/conversations/", **headers).status_code == 200


def test_another_tenants_api_calls_do_not_use_up_this_ones(client, tenant_a, tenant_b):
    on_plan(tenant_a.tenant, api_calls_per_month=1)
    for _ in range(3):
        client.get("/api/v2/conversations/", HTTP_AUTHORIZATION=f"Api-Key {tenant_b.key}")
    assert client.get("/api/v2/conversations/", HTTP_AUTHORIZATION=f"Api-Key {tenant_a.key}").status_code == 200


# --- warnings --------------------------------------------------------------------------------


@pytest.fixture
def tenant_a_with_bot(tenant_a, fake_bot_api, settings):  # noqa: F811
    forget_send_budgets()  # no restart hold: this Redis lost nothing
    settings.TELEGRAM_API_BASE = fake_bot_api.base_url
    telegram_config_set(
        tenant=tenant_a.tenant,
        bot_token=DEFAULT_BOT_TOKEN,
        support_group_id=DEFAULT_CHAT_ID,
        webhook_secret="hook-a-" + "a" * 32,
    )
    return tenant_a


def test_soft_then_hard_warnings_once_each_in_history_group_metric_and_banner(
    client,
    django_user_model,
    tenant_a_with_bot,
    fake_bot_api,  # noqa: F811
):
    tenant = tenant_a_with_bot.tenant
    on_plan(tenant, conversations_per_month=5)
    for _ in range(3):
        assert start_v2(client).status_code == 201
    assert warnings(tenant) == []  # 4 of 5 now; the next start's check reads it
    assert start_v2(client).status_code == 201
    assert warnings(tenant) == [("soft_limit", "conversations")]
    assert start_v2(client).status_code == 402
    assert start_v2(client).status_code == 402
    assert warnings(tenant) == [("hard_limit", "conversations"), ("soft_limit", "conversations")]

    ratio = REGISTRY.get_sample_value("chatorical_plan_usage_ratio", {"tenant": "tenant-a", "limit": "conversations"})
    assert ratio == 1.0

    # Through the outbox, into the group's General topic.
    with tenancy.tenant_context(tenant):
        assert OutboxEvent.objects.filter(kind=services.PLAN_USAGE_WARNING, conversation=None).count() == 2
    assert delivery.billing_warnings_deliver(tenant_id=tenant.id) == 2
    posted = [message["text"] for message in fake_bot_api.messages(DEFAULT_CHAT_ID, thread_id=1)]
    assert posted == [
        "Plan usage of Tenant tenant-a: 4 of 5 conversations this period (80 %).",
        "Plan usage of Tenant tenant-a: 5 of 5 conversations this period (100 %).",
    ]
    assert delivery.billing_warnings_deliver(tenant_id=tenant.id) == 0  # delivered once

    client.force_login(staff_of(django_user_model, tenant, Membership.Role.VIEWER))
    banner = client.get("/admin/").content.decode()
    assert "conversations reached its limit" in banner
    # Shown on each page once, not piled up by requests that render no page.
    client.get("/admin/jsi18n/")
    assert client.get("/admin/").content.decode().count("conversations reached its limit") == 1


def test_a_warning_without_a_bot_is_recorded_and_its_event_done(client, tenant_a):
    on_plan(tenant_a.tenant, conversations_per_month=1)
    assert start_v2(client).status_code == 402
    assert delivery.billing_warnings_deliver(tenant_id=tenant_a.tenant.id) == 2
    with tenancy.tenant_context(tenant_a.tenant):
        assert set(OutboxEvent.objects.filter(conversation=None).values_list("status", flat=True)) == {"done"}


def test_warnings_of_another_tenant_are_not_shown_to_members(client, django_user_model, tenant_a, tenant_b):
    services.usage_warnings_record(
        tenant=tenant_b.tenant,
        period=selectors.calendar_month(datetime.now(UTC)),
        limits=[selectors.LimitUsage(name="messages", limit=1, used=1, soft_percent=80)],
    )
    assert warnings(tenant_b.tenant) == [("hard_limit", "messages"), ("soft_limit", "messages")]
    client.force_login(staff_of(django_user_model, tenant_b.tenant, Membership.Role.VIEWER, username="viewer-b"))
    assert "messages reached its limit" in client.get("/admin/").content.decode()
    client.force_login(staff_of(django_user_model, tenant_a.tenant, Membership.Role.OWNER))
    page = client.get("/admin/").content.decode()
    assert "its limit" not in page


# --- visitor messages on the socket ----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_visitor_messages_flow_until_110_percent_then_the_socket_says_so(default_tenant, settings):
    settings.BILLING_USAGE_CACHE_SECONDS = 0

    def prepare():
        on_plan(default_tenant, messages_per_month=10)
        conversation = conversation_for(default_tenant, visitor_name="Ada")
        return conversation, token_for(conversation)

    conversation, token = await database_sync_to_async(prepare)()
    socket = WebsocketCommunicator(application, f"/v1/ws?token={token}")
    assert (await socket.connect())[0]
    assert [(await socket.receive_json_from())["key"] for _ in range(2)] == ["welcome", "offline"]
    for number in range(11):
        await socket.send_json_to({"type": "message", "text": f"message {number}"})
        assert await socket.receive_json_from(timeout=5) == {"direction": "INBOUND", "text": f"message {number}"}
    await socket.send_json_to({"type": "message", "text": "one too many"})
    note = await socket.receive_json_from(timeout=5)
    assert (note["type"], note["key"]) == ("info_note", "plan_limit_reached")
    assert note["text"].startswith("Our chat cannot take more")

    def stored():
        with tenancy.tenant_context(default_tenant):
            return Message.objects.filter(conversation=conversation).count()

    assert await database_sync_to_async(stored)() == 11
    # Agents' replies still go through, past the cut-off.
    await database_sync_to_async(message_for)(
        conversation, text="still answering", direction=Message.Direction.OUTBOUND, agent_name="Grace"
    )
    assert await socket.receive_json_from(timeout=5) == {
        "direction": "OUTBOUND", "text": "still answering", "agent": "Grace"
    }  # fmt: skip
    await socket.disconnect()
