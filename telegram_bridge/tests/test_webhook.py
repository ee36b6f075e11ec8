import pytest

from chatorical import tenancy
from conversations.models import Message
from conversations.tests.factories import start
from telegram_bridge.models import TelegramUpdate
from telegram_bridge.tests.conftest import AGENT, DEFAULT_CHAT_ID, HEADER_SECRET, WEBHOOK_SECRET, topic_of


def stored_updates(tenant):
    with tenancy.tenant_context(tenant):
        return TelegramUpdate.objects.count()


def test_the_same_update_twice_is_processed_once(client, agents):
    conversation = start(client, name="Ada")
    agents.drain(conversation)
    agents.press_claim(conversation)
    conversation.refresh_from_db()
    update = agents.fake.add_user_message(
        DEFAULT_CHAT_ID, "only once", thread_id=topic_of(conversation).thread_id, user=AGENT
    )
    assert agents.send_update(update).status_code == 200
    assert agents.send_update(update).status_code == 200
    agents.process_updates()
    with tenancy.tenant_context(agents.tenant):
        assert Message.objects.filter(text="only once").count() == 1


def test_update_ids_restarting_lower_are_still_processed(client, agents):
    conversation = start(client, name="Ada")
    agents.drain(conversation)
    agents.press_claim(conversation)
    conversation.refresh_from_db()
    late = agents.fake.add_user_message(
        DEFAULT_CHAT_ID, "after a quiet week", thread_id=topic_of(conversation).thread_id, user=AGENT
    )
    late["update_id"] = 3  # Telegram restarts ids at a random value after a quiet week
    agents.send_update(late)
    agents.process_updates()
    with tenancy.tenant_context(agents.tenant):
        assert Message.objects.filter(text="after a quiet week").exists()


@pytest.mark.parametrize("body", ["{not json", "[]", '{"update_id": "seven"}', '{"no_id": 1}', ""])
def test_unparsable_updates_are_acknowledged_and_dropped(client, agents, body):
    response = agents.client.post(
        "/v1/telegram/webhook",
        body,
        content_type="application/json",
        HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=HEADER_SECRET,
    )
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    assert stored_updates(agents.tenant) == 0


def test_wrong_header_secret_is_refused_and_nothing_stored(agents):
    response = agents.send_update({"update_id": 1, "message": {}}, secret="guess")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert stored_updates(agents.tenant) == 0


def test_v2_path_routes_the_default_tenant_by_its_secret(agents):
    response = agents.client.post(
        f"/v2/telegram/webhook/{WEBHOOK_SECRET}",
        {"update_id": 9},
        content_type="application/json",
        HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=HEADER_SECRET,
    )
    assert response.json() == {"ok": True}
    assert stored_updates(agents.tenant) == 1


def test_v2_path_with_an_unknown_secret_is_refused(agents):
    response = agents.client.post("/v2/telegram/webhook/nope", {"update_id": 9}, content_type="application/json")
    assert response.status_code == 403
    assert stored_updates(agents.tenant) == 0


def test_updates_from_elsewhere_are_ignored(client, agents):
    conversation = start(client, name="Ada")
    agents.drain(conversation)
    agents.press_claim(conversation)
    conversation.refresh_from_db()
    agents.fake.add_supergroup(-100999, title="Elsewhere")
    in_general = agents.fake.add_user_message(DEFAULT_CHAT_ID, "in General", user=AGENT)
    other_chat = agents.fake.add_user_message(-100999, "other chat", user=AGENT)
    from_bot = agents.fake.add_user_message(
        DEFAULT_CHAT_ID,
        "a bot",
        thread_id=topic_of(conversation).thread_id,
        user={"id": 1, "is_bot": True, "first_name": "B"},
    )
    for update in (in_general, other_chat, from_bot):
        assert agents.send_update(update).json() == {"ok": True}
    assert agents.process_updates() == 3
    with tenancy.tenant_context(agents.tenant):
        assert not Message.objects.filter(direction="OUTBOUND").exists()


def test_get_is_not_allowed(agents):
    assert agents.client.get("/v1/telegram/webhook").status_code == 405


def test_a_webhook_flood_is_answered_429_with_retry_after(agents, default_tenant):
    default_tenant.rate_limits = {"webhook": {"tenant": {"limit": 3, "period": 60}}}
    default_tenant.save()
    statuses = [agents.send_update({"update_id": 100 + i}).status_code for i in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    refused = agents.send_update({"update_id": 200})
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused["Retry-After"]) >= 1
    assert stored_updates(agents.tenant) == 3
