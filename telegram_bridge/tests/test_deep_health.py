from chatorical import tenancy
from conversations.models import Conversation
from telegram_bridge.tests.conftest import DEFAULT_CHAT_ID


def test_deep_health_runs_start_topic_welcome_token_and_tidies_up(client, agents):
    response = client.get("/health/deep")
    body = response.json()
    assert response.status_code == 200, body
    assert [step["step"] for step in body["steps"]] == ["start", "topic", "welcome", "token"]
    assert all(step["ok"] and step["ms"] >= 0 for step in body["steps"])
    [topic] = agents.fake.topics(DEFAULT_CHAT_ID)
    assert topic["closed"] is True
    with tenancy.tenant_context(agents.tenant):
        conversation = Conversation.objects.get()
    assert conversation.is_synthetic and conversation.status == "closed"


def test_deep_health_names_the_failing_step(client, agents):
    agents.fake.set_rights(DEFAULT_CHAT_ID, can_manage_topics=False)
    response = client.get("/health/deep")
    assert response.status_code == 503
    failing = [step for step in response.json()["steps"] if not step["ok"]]
    assert [step["step"] for step in failing] == ["topic"]


def test_another_tenants_deep_check_needs_the_service_token(client, agents, other_tenant):
    assert client.get("/health/deep?tenant=acme").status_code == 403


def test_the_service_token_opens_another_tenants_deep_check(client, agents, other_tenant, settings):
    response = client.get("/health/deep?tenant=acme", HTTP_AUTHORIZATION=f"Bearer {settings.SERVICE_TOKEN}")
    body = response.json()
    assert body["tenant"] == "acme"
    assert response.status_code == 503, "acme has no bot, so no topic"
    assert [step["step"] for step in body["steps"] if not step["ok"]] == ["topic"]
