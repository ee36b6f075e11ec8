"""Secrets never reach a log line: the failing paths of a real prod server, and the
formatters on their own (tracebacks and extra fields included)."""

import json
import logging
import sys
import uuid

import httpx
import pytest
from django.conf import settings

from chatorical.logs import JsonFormatter, PrettyFormatter, RedactSecretsFilter
from chatorical.testing import free_port
from tenants import crypto
from tenants.selectors import telegram_settings_for
from tenants.services import telegram_config_set

BOT_TOKEN = "7000000002:AAProdLogTestToken_0123456789abcdefgh"
WEBHOOK_SECRET = "prod-log-path-secret-0123456789abcdefghij"
HEADER_SECRET = "prod-log-header-secret-0123456789abcdefgh"
METRICS_TOKEN = "prod-log-metrics-token-0123456789abcdefgh"
DJANGO_SECRET_KEY = "prod-log-django-secret-key-0123456789abcdefgh"


def prod_env(**overrides) -> dict:
    return {
        "DJANGO_ENV": "prod",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECRET_KEY": DJANGO_SECRET_KEY,
        "CHANNEL_CONFIG_KEYS": crypto.new_key(),
        "BOT_TOKEN": BOT_TOKEN,
        "SUPPORT_GROUP_ID": "-1001234567890",
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
        "TELEGRAM_HEADER_SECRET": HEADER_SECRET,
        "METRICS_TOKEN": METRICS_TOKEN,
        "WIDGET_ALLOWED_ORIGINS": "https://www.example.com",
        # The server runs on the test database, which prod is told is its own.
        "PROD_DATABASE_NAME": settings.DATABASES["default"]["NAME"],
        **overrides,
    }


def secrets_of(settings) -> list[str]:
    return [BOT_TOKEN, WEBHOOK_SECRET, HEADER_SECRET, METRICS_TOKEN, DJANGO_SECRET_KEY, settings.SERVICE_TOKEN]


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.mark.django_db(transaction=True)
def test_the_failing_paths_of_a_prod_server_log_no_secret(start_server, default_tenant, settings):
    server = start_server(**prod_env())
    with httpx.Client(base_url=server.url, timeout=10) as http:
        refused = [
            http.post(f"/v2/telegram/webhook/{WEBHOOK_SECRET}", json={"update_id": 1}, headers={
                "X-Telegram-Bot-Api-Secret-Token": HEADER_SECRET[::-1]}),
            http.post("/v1/telegram/webhook", json={"update_id": 2}, headers={
                "X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}),
            http.get("/metrics", headers={"Authorization": f"Bearer {HEADER_SECRET}"}),
            http.get(f"/v1/conversations/{uuid.uuid4()}/messages", headers={
                "Authorization": f"Bearer {settings.SERVICE_TOKEN}"}),
            http.get("/health/deep", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}),
        ]  # fmt: skip
    assert [response.status_code for response in refused] == [403, 403, 401, 401, 401]
    server.stop()
    logged = server.log_path.read_text()
    entries = json_lines(logged)
    assert any(entry["message"] == "Forbidden: /v2/telegram/webhook/<redacted>" for entry in entries), logged
    assert any(entry.get("request") == "<ASGIRequest: POST '/v2/telegram/webhook/<redacted>'>" for entry in entries)
    assert '"POST /v2/telegram/webhook/<redacted>" 403' in logged  # daphne's access log
    for secret in secrets_of(settings):
        assert secret not in logged


@pytest.mark.django_db(transaction=True)
def test_a_prod_servers_traceback_logs_no_secret(start_server, default_tenant, settings):
    # No PostgreSQL answers there: the webhook cannot even find its tenant.
    server = start_server(
        **prod_env(DATABASE_URL=f"postgres://postgres@127.0.0.1:{free_port()}/down", PROD_DATABASE_NAME="down")
    )
    response = httpx.post(
        f"{server.url}/v2/telegram/webhook/{WEBHOOK_SECRET}",
        json={"update_id": 1},
        headers={"X-Telegram-Bot-Api-Secret-Token": HEADER_SECRET},
        timeout=30,
    )
    assert response.status_code == 500  # Telegram retries later
    server.stop()
    logged = server.log_path.read_text()
    crashes = [entry for entry in json_lines(logged) if entry["message"].startswith("unhandled error on")]
    assert crashes and crashes[0]["message"] == "unhandled error on /v2/telegram/webhook/<redacted>", logged
    assert crashes[0]["exc"].startswith("Traceback")
    for secret in secrets_of(settings):
        assert secret not in logged


@pytest.fixture
def tenant_secrets(tenant_a):
    telegram_config_set(
        tenant=tenant_a.tenant,
        bot_token="123456789:AATenantBotToken_0123456789abcdefgh",
        support_group_id=-100,
        webhook_secret="tenant-path-secret-0123456789abcdefghij",
        header_secret="tenant-header-secret-no-shape-0123456789",
    )
    telegram = telegram_settings_for(tenant_a.tenant)
    return [telegram.bot_token, telegram.webhook_secret, telegram.header_secret, tenant_a.key]


@pytest.mark.parametrize("formatter", [JsonFormatter(), PrettyFormatter()], ids=["json", "pretty"])
def test_tracebacks_messages_and_extra_fields_are_masked(tenant_secrets, formatter):
    bot_token, path_secret, header_secret, api_key = tenant_secrets
    logger = logging.getLogger("chatorical.tests.log_secrets")
    try:
        raise RuntimeError(f"https://api.telegram.org/bot{bot_token}/getMe refused header {header_secret}")
    except RuntimeError:
        record = logger.makeRecord(
            logger.name, logging.ERROR, __file__, 1, "call with %s failed", (f"Api-Key {api_key}",),
            exc_info=sys.exc_info(),
            extra={"url": f"https://chat.example/v2/telegram/webhook/{path_secret}", "header": header_secret},
        )  # fmt: skip
    RedactSecretsFilter().filter(record)
    line = formatter.format(record)
    assert "RuntimeError" in line and "call with Api-Key" in line
    for secret in tenant_secrets:
        assert secret not in line
    if isinstance(formatter, JsonFormatter):
        entry = json.loads(line)
        assert entry["url"] == "https://chat.example/v2/telegram/webhook/<redacted>"
        assert entry["header"] == "<redacted>"


def test_a_formatter_masks_a_record_no_filter_saw(tenant_secrets):
    """A handler configured without the filter still writes no secret."""
    _, path_secret, header_secret, _ = tenant_secrets
    record = logging.makeLogRecord({"msg": "got %s", "args": (header_secret,), "path": f"/webhook/x/{path_secret}"})
    line = JsonFormatter().format(record)
    assert header_secret not in line and path_secret not in line
