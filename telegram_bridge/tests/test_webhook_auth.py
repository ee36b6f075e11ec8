"""Attacks on the Telegram webhooks: each would have worked before they were closed."""

import logging
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from prometheus_client import REGISTRY

from chatorical import tenancy
from chatorical.testing import PROD, load_settings
from conversations.models import Conversation
from conversations.tests.factories import start
from telegram_bridge.models import TelegramUpdate
from telegram_bridge.testing.fixtures import DEFAULT_BOT_TOKEN
from telegram_bridge.tests.conftest import (
    AGENT,
    DEFAULT_BOT_ID,
    DEFAULT_CHAT_ID,
    HEADER_SECRET,
    WEBHOOK_SECRET,
    topic_of,
)
from tenants.selectors import telegram_settings_for

ATTACKER_IP = "203.0.113.7"


def stored_updates(tenant) -> int:
    with tenancy.tenant_context(tenant):
        return TelegramUpdate.objects.count()


def post(path: str, update: dict, *, secret: str | None = None, ip: str = ATTACKER_IP):
    headers = {"HTTP_X_FORWARDED_FOR": ip}  # the test client connects from loopback, a trusted proxy
    if secret is not None:
        headers["HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN"] = secret
    return Client().post(path, update, content_type="application/json", **headers)


def claimed_conversation(client, agents) -> Conversation:
    conversation = start(client, name="Ada")
    agents.drain(conversation)
    agents.press_claim(conversation)
    conversation.refresh_from_db()
    return conversation


def test_v1_refuses_a_close_when_no_header_secret_is_configured(client, agents, settings):
    conversation = claimed_conversation(client, agents)
    settings.TELEGRAM_HEADER_SECRET = ""
    close = agents.fake.add_user_message(
        DEFAULT_CHAT_ID, "/close", thread_id=topic_of(conversation).thread_id, user=AGENT
    )
    for secret in (None, "", "anything"):
        response = post("/v1/telegram/webhook", close, secret=secret)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"
    agents.process_updates()
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.CLAIMED


def test_v1_refuses_an_update_without_the_header(agents):
    response = post("/v1/telegram/webhook", {"update_id": 77})
    assert response.status_code == 403
    assert stored_updates(agents.tenant) == 0


def test_unknown_path_secret_and_wrong_header_answer_alike(agents):
    unknown_path = post("/v2/telegram/webhook/" + "x" * 40, {"update_id": 1}, secret=HEADER_SECRET)
    wrong_header = post(f"/v2/telegram/webhook/{WEBHOOK_SECRET}", {"update_id": 1}, secret="wrong")
    no_header = post(f"/v2/telegram/webhook/{WEBHOOK_SECRET}", {"update_id": 1})
    assert unknown_path.status_code == wrong_header.status_code == no_header.status_code == 403
    assert unknown_path.json() == wrong_header.json() == no_header.json()
    assert stored_updates(agents.tenant) == 0


def test_guessing_secrets_is_rate_limited_per_ip_even_for_a_right_guess(agents):
    statuses = [post(f"/v2/telegram/webhook/guess-{n:040d}", {"update_id": n}).status_code for n in range(11)]
    assert statuses == [403] * 10 + [429]
    right_guess = post(f"/v2/telegram/webhook/{WEBHOOK_SECRET}", {"update_id": 500}, secret=HEADER_SECRET)
    assert right_guess.status_code == 429
    assert int(right_guess["Retry-After"]) >= 1
    assert right_guess.json()["error"]["code"] == "rate_limited"
    assert stored_updates(agents.tenant) == 0
    # Telegram, on another address, is not held up by the attacker.
    telegram_ip = "149.154.167.1"
    telegram = post(f"/v2/telegram/webhook/{WEBHOOK_SECRET}", {"update_id": 501}, secret=HEADER_SECRET, ip=telegram_ip)
    assert telegram.json() == {"ok": True}
    assert stored_updates(agents.tenant) == 1


def test_refused_guesses_do_not_spend_the_tenants_webhook_budget(agents, default_tenant):
    default_tenant.rate_limits = {"webhook": {"tenant": {"limit": 2, "period": 60}}}
    default_tenant.save()
    for n in range(5):
        post("/v1/telegram/webhook", {"update_id": n}, secret="wrong", ip=f"198.51.100.{n}")
    accepted = [agents.send_update({"update_id": 900 + n}).status_code for n in range(2)]
    assert accepted == [200, 200]


def test_a_bots_button_press_claims_nothing_and_is_counted(client, agents, caplog):
    conversation = start(client, name="Ada")
    agents.drain(conversation)
    conversation.refresh_from_db()
    bot = {"id": 999, "is_bot": True, "first_name": "Intruder"}
    before = ignored("bot")
    press = agents.fake.press_button(DEFAULT_CHAT_ID, topic_of(conversation).header_message_id, user=bot)
    with caplog.at_level(logging.WARNING, logger="telegram_bridge.updates"):
        assert agents.send_update(press).json() == {"ok": True}
        agents.process_updates()
    conversation.refresh_from_db()
    assert conversation.claimed_by_id is None
    assert ignored("bot") == before + 1
    assert f"telegram update {press['update_id']} ignored: bot" in caplog.text


def test_a_senderless_close_is_ignored_and_counted(client, agents, caplog):
    conversation = claimed_conversation(client, agents)
    close = agents.fake.add_user_message(
        DEFAULT_CHAT_ID, "/close", thread_id=topic_of(conversation).thread_id, user=AGENT
    )
    del close["message"]["from"]
    before = ignored("no_sender")
    with caplog.at_level(logging.WARNING, logger="telegram_bridge.updates"):
        agents.send_update(close)
        agents.process_updates()
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.CLAIMED
    assert ignored("no_sender") == before + 1
    assert "ignored: no sender" in caplog.text


def test_our_own_bots_service_messages_are_not_counted(client, agents):
    conversation = start(client, name="Ada")
    agents.drain(conversation)
    conversation.refresh_from_db()
    ours = agents.fake.add_user_message(
        DEFAULT_CHAT_ID,
        "/close",
        thread_id=topic_of(conversation).thread_id,
        user={"id": DEFAULT_BOT_ID, "is_bot": True},
    )
    before = ignored("bot")
    agents.send_update(ours)
    agents.process_updates()
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.OPEN
    assert ignored("bot") == before


def ignored(reason: str) -> float:
    value = REGISTRY.get_sample_value(
        "chatorical_telegram_updates_ignored_total", {"tenant": "default", "reason": reason}
    )
    return value or 0.0


# --- secrets the operator sets ------------------------------------------------------------


def test_a_short_path_secret_is_refused(tenant_a):
    with pytest.raises(CommandError, match="at least 32 characters"):
        call_command(
            "tenant", "telegram", "tenant-a", "--bot-token", DEFAULT_BOT_TOKEN, "--support-group-id", "-100",
            "--webhook-secret", "s" * 31, stdout=StringIO(),
        )  # fmt: skip
    assert telegram_settings_for(tenant_a.tenant) is None


def test_tenant_telegram_generates_both_secrets_prints_them_once_and_registers_them(tenant_a, telegram):
    out = StringIO()
    call_command(
        "tenant", "telegram", "tenant-a", "--bot-token", DEFAULT_BOT_TOKEN, "--support-group-id",
        str(DEFAULT_CHAT_ID), "--set-webhook", "--base-url", "https://chat.example", stdout=out,
    )  # fmt: skip
    stored = telegram_settings_for(tenant_a.tenant)
    assert len(stored.webhook_secret) >= 32 and len(stored.header_secret) >= 32
    assert stored.webhook_secret != stored.header_secret
    printed = out.getvalue()
    assert printed.count(stored.webhook_secret) == 1 and printed.count(stored.header_secret) == 1
    hook = telegram.webhook(DEFAULT_BOT_TOKEN)
    assert hook["url"] == f"https://chat.example/v2/telegram/webhook/{stored.webhook_secret}"
    assert hook["secret_token"] == stored.header_secret


def test_prod_refuses_a_bot_without_a_header_secret():
    result = load_settings(**PROD, BOT_TOKEN=DEFAULT_BOT_TOKEN, SUPPORT_GROUP_ID="-100")
    assert result.returncode != 0
    assert "TELEGRAM_HEADER_SECRET is required when BOT_TOKEN is set" in result.stderr
    with_header = load_settings(**PROD, BOT_TOKEN=DEFAULT_BOT_TOKEN, TELEGRAM_HEADER_SECRET="h" * 40)
    assert with_header.returncode == 0, with_header.stderr


@pytest.mark.parametrize("env", [{}, PROD], ids=["dev", "prod"])
def test_a_short_webhook_secret_in_the_environment_is_refused(env):
    result = load_settings(**env, WEBHOOK_SECRET="w" * 31)
    assert result.returncode != 0
    assert "WEBHOOK_SECRET must be at least 32 characters" in result.stderr


def test_guessing_on_while_blocked_lengthens_the_block(agents):
    for n in range(11):
        post(f"/v2/telegram/webhook/guess-{n:040d}", {"update_id": n})
    waits = [int(post("/v1/telegram/webhook", {"update_id": 1})["Retry-After"]) for _ in range(4)]
    assert waits == sorted(waits) and waits[-1] > waits[0]
