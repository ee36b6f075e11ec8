"""Telegram metrics: Bot API calls by method and outcome, webhook answers, bots needing a human."""

import pytest
from django.test import Client
from django.utils import timezone

from chatorical import tenancy
from chatorical.testing import metric_value
from chatorical.testing import metrics_page as scrape
from conversations.models import OutboxEvent
from conversations.tests.factories import start, visitor_says
from telegram_bridge.tests.conftest import DEFAULT_CHAT_ID, WEBHOOK_SECRET

pytestmark = pytest.mark.django_db


def test_bot_api_calls_are_counted_and_timed_by_method_and_outcome(client, agents):
    before = scrape()
    conversation = start(client, name="Ada")
    agents.drain(conversation)
    agents.fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 3", {"retry_after": 3})
    visitor_says(conversation, "hello")
    agents.drain(conversation)
    after = scrape()

    def delta(name, **labels):
        return metric_value(after, name, **labels) - metric_value(before, name, **labels)

    assert delta("chatorical_telegram_calls_total", tenant="default", method="createForumTopic", outcome="ok") == 1
    assert delta("chatorical_telegram_calls_total", tenant="default", method="sendMessage", outcome="retry_after") == 1
    assert delta("chatorical_telegram_call_duration_seconds_count", tenant="default", method="createForumTopic") == 1
    assert delta("chatorical_telegram_call_duration_seconds_sum", tenant="default", method="createForumTopic") > 0


def test_a_bot_that_needs_a_human_shows_until_fixed(client, agents):
    agents.fake.set_rights(DEFAULT_CHAT_ID, can_manage_topics=False)
    before = scrape()
    conversation = start(client, name="Ada")
    agents.drain(conversation)
    after = scrape()
    assert metric_value(after, "chatorical_telegram_bot_problem", tenant="default", kind="missing_rights") == 1
    assert (
        metric_value(after, "chatorical_telegram_calls_total", tenant="default", method="createForumTopic",
                     outcome="missing_rights")
        - metric_value(before, "chatorical_telegram_calls_total", tenant="default", method="createForumTopic",
                       outcome="missing_rights")
        == 1
    )  # fmt: skip

    agents.fake.set_rights(DEFAULT_CHAT_ID, can_manage_topics=True)
    agents.fake.kick_bot(DEFAULT_CHAT_ID)
    with tenancy.tenant_context(agents.tenant):
        OutboxEvent.objects.filter(conversation=conversation).update(available_at=timezone.now())
    agents.drain(conversation)
    exposition = scrape()
    assert metric_value(exposition, "chatorical_telegram_bot_problem", tenant="default", kind="bot_removed") == 1
    assert metric_value(exposition, "chatorical_telegram_bot_problem", tenant="default", kind="missing_rights") == 0


def test_webhook_answers_are_counted_by_status(agents):
    before = scrape()
    conversation_update = {"update_id": 1, "message": {"message_id": 1, "chat": {"id": DEFAULT_CHAT_ID}}}
    assert agents.send_update(conversation_update).status_code == 200
    assert agents.send_update(conversation_update, secret="wrong").status_code == 403
    assert (
        Client()
        .post("/v2/telegram/webhook/not-a-secret", conversation_update, content_type="application/json")
        .status_code
        == 403  # an unknown path secret answers like a wrong one
    )
    assert Client().post(
        f"/v2/telegram/webhook/{WEBHOOK_SECRET}", conversation_update, content_type="application/json",
        HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN="wrong",
    ).status_code == 403  # fmt: skip
    after = scrape()

    def delta(**labels):
        name = "chatorical_telegram_webhook_responses_total"
        return metric_value(after, name, **labels) - metric_value(before, name, **labels)

    assert delta(tenant="default", status="200") == 1
    assert delta(tenant="default", status="403") == 2
    assert delta(tenant="unknown", status="403") == 1
