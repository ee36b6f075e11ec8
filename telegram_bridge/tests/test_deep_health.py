"""GET /health/deep: closed to anonymous callers, once a minute per tenant, one synthetic
conversation and topic per tenant, not usage, and nothing in the answer an attacker can use."""

import time

import pytest
from django.core.cache import cache

from chatorical import tenancy
from conversations.models import Conversation, Message
from telegram_bridge.api.deep_health import _run_key
from telegram_bridge.tests.conftest import DEFAULT_CHAT_ID, topic_of
from tenants.models import ApiKey
from tenants.services import api_key_create

STEPS = ["start", "topic", "welcome", "token"]


@pytest.fixture
def service(settings):
    return {"HTTP_AUTHORIZATION": f"Bearer {settings.SERVICE_TOKEN}"}


def api_key(tenant, scopes) -> dict:
    issued = api_key_create(tenant=tenant, name="monitor", scopes=scopes)
    return {"HTTP_AUTHORIZATION": f"Api-Key {issued.raw_key}"}


def synthetic_conversations(tenant) -> list[Conversation]:
    with tenancy.tenant_context(tenant):
        return list(Conversation.objects.filter(is_synthetic=True))


def next_minute(tenant):
    """What a minute's wait does, without the wait."""
    cache.delete(_run_key(tenant))


@pytest.mark.parametrize(
    "headers",
    [{}, {"HTTP_AUTHORIZATION": "Bearer wrong"}, {"HTTP_AUTHORIZATION": "Api-Key chk_unknown"}],
    ids=["anonymous", "wrong-bearer", "unknown-key"],
)
def test_anonymous_callers_open_nothing(client, agents, headers):
    response = client.get("/health/deep", **headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert agents.fake.topics(DEFAULT_CHAT_ID) == []
    assert synthetic_conversations(agents.tenant) == []


def test_runs_the_steps_and_tells_names_and_outcomes_only(client, agents, service):
    response = client.get("/health/deep", **service)
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok" and body["cached"] is False
    assert [step["step"] for step in body["steps"]] == STEPS
    assert all(set(step) == {"step", "ok", "ms"} and step["ok"] for step in body["steps"])
    assert set(body) == {"status", "tenant", "checked_at", "cached", "steps"}
    [conversation] = synthetic_conversations(agents.tenant)
    assert topic_of(conversation).thread_id is not None
    assert str(conversation.id) not in response.content.decode()


def test_each_step_times_itself(client, agents, service):
    """A slow Telegram shows in the topic step's time, and in no other step's."""
    delay = 0.4
    agents.fake.delay_next("createForumTopic", delay)
    started = time.monotonic()
    body = client.get("/health/deep", **service).json()
    elapsed_ms = (time.monotonic() - started) * 1000
    timings = {step["step"]: step["ms"] for step in body["steps"]}
    assert list(timings) == STEPS and body["status"] == "ok"
    assert all(isinstance(ms, float) for ms in timings.values())
    assert timings["topic"] >= delay * 1000
    assert sum(timings.values()) <= elapsed_ms
    assert sum(ms for step, ms in timings.items() if step != "topic") <= elapsed_ms - delay * 1000


def test_at_most_one_run_a_minute_the_others_get_its_result(client, agents, service):
    first = client.get("/health/deep", **service).json()
    calls = len(agents.fake.calls())
    again = [client.get("/health/deep", **service).json() for _ in range(5)]
    assert all(body["cached"] is True and body["steps"] == first["steps"] for body in again)
    assert len(agents.fake.calls()) == calls
    assert len(synthetic_conversations(agents.tenant)) == 1


def test_a_run_still_going_answers_429_with_retry_after(client, agents, service, default_tenant):
    cache.add(_run_key(default_tenant), 0, timeout=60)  # another request started the run
    response = client.get("/health/deep", **service)
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    assert agents.fake.topics(DEFAULT_CHAT_ID) == []


def test_later_runs_reuse_one_conversation_and_topic(client, agents, service, default_tenant):
    for _ in range(3):
        assert client.get("/health/deep", **service).status_code == 200
        next_minute(default_tenant)
    [conversation] = synthetic_conversations(agents.tenant)
    [topic] = agents.fake.topics(DEFAULT_CHAT_ID)
    assert topic["message_thread_id"] == topic_of(conversation).thread_id
    probes = [text for text in agents.topic_texts(conversation) if text.startswith("Deep health check: ")]
    assert len(probes) == 2  # the first run opened the topic; each later run posted one probe


def test_an_agent_closing_the_synthetic_conversation_gets_a_new_one(client, agents, service, default_tenant):
    client.get("/health/deep", **service)
    [closed] = synthetic_conversations(agents.tenant)
    agents.say(closed, "/close", user={"id": 4242, "is_bot": False, "first_name": "Grace"})
    next_minute(default_tenant)
    assert client.get("/health/deep", **service).status_code == 200
    assert len(synthetic_conversations(agents.tenant)) == 2


def test_none_of_it_counts_as_usage(client, agents, service, default_tenant):
    for _ in range(2):
        client.get("/health/deep", **service)
        next_minute(default_tenant)
    with tenancy.tenant_context(default_tenant):
        assert Message.objects.filter(conversation__is_synthetic=True).exists()
    usage = client.get("/api/v2/usage/", **api_key(default_tenant, [ApiKey.Scope.USAGE_READ])).json()
    assert (usage["limits"]["conversations"]["used"], usage["limits"]["messages"]["used"]) == (0, 0)


def test_a_failing_step_is_named_without_its_cause(client, agents, service):
    agents.fake.set_rights(DEFAULT_CHAT_ID, can_manage_topics=False)
    response = client.get("/health/deep", **service)
    assert response.status_code == 503
    body = response.json()
    assert [(step["step"], step["ok"]) for step in body["steps"]] == [("start", True), ("topic", False)]
    assert "rights" not in response.content.decode().lower()


def test_an_api_key_with_health_read_checks_its_own_tenant(client, agents, tenant_a, tenant_b):
    key = api_key(tenant_a.tenant, [ApiKey.Scope.HEALTH_READ])
    response = client.get("/health/deep", **key)
    assert response.json()["tenant"] == "tenant-a"
    assert response.status_code == 503, "tenant-a has no bot, so no topic"


def test_an_api_key_cannot_check_another_tenant(client, agents, tenant_a, tenant_b):
    key = api_key(tenant_a.tenant, [ApiKey.Scope.HEALTH_READ])
    for slug in ("tenant-b", "default"):
        response = client.get(f"/health/deep?tenant={slug}", **key)
        assert response.status_code == 403
    assert synthetic_conversations(tenant_b.tenant) == []
    assert synthetic_conversations(agents.tenant) == []


def test_an_api_key_without_the_scope_is_refused(client, agents, tenant_a):
    response = client.get("/health/deep", HTTP_AUTHORIZATION=f"Api-Key {tenant_a.key.replace('chk_', 'chk_x')}")
    assert response.status_code == 401
    key = api_key(tenant_a.tenant, [ApiKey.Scope.USAGE_READ])
    response = client.get("/health/deep", **key)
    assert response.status_code == 403
    assert synthetic_conversations(tenant_a.tenant) == []


def test_the_service_token_checks_any_tenant(client, agents, other_tenant, service):
    response = client.get("/health/deep?tenant=acme", **service)
    body = response.json()
    assert body["tenant"] == "acme"
    assert response.status_code == 503, "acme has no bot, so no topic"
    assert [step["step"] for step in body["steps"] if not step["ok"]] == ["topic"]
    assert client.get("/health/deep?tenant=nobody", **service).status_code == 404
