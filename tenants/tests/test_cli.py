"""The operator's commands, through call_command and, once, through manage.py itself."""

import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from chatorical import tenancy
from chatorical.testing import ROOT, process_env
from telegram_bridge.testing.fixtures import DEFAULT_BOT_TOKEN, DEFAULT_CHAT_ID, fake_bot_api  # noqa: F401
from tenants.models import ApiKey, Tenant
from tenants.selectors import api_key_hash, telegram_settings_for

BOT_TOKEN = "123456789:AAFakeTokenForTests_abcdefghijklmnop"


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_tenant_create(db):
    output = run(
        "tenant",
        "create",
        "acme",
        "--name",
        "Acme Inc",
        "--origin",
        "https://Shop.Acme.example:443/",
        "--origin",
        "http://localhost:8000",
        "--locale",
        "de-AT",
        "--plan",
        "pro",
    )
    assert "Created tenant acme" in output
    tenant = Tenant.objects.get(slug="acme")
    assert tenant.name == "Acme Inc"
    assert tenant.allowed_origins == ["https://shop.acme.example", "http://localhost:8000"]
    assert (tenant.default_locale, tenant.plan) == ("de-AT", "pro")


def test_tenant_create_without_origins_says_what_it_means(db):
    assert "no website may embed its widget" in run("tenant", "create", "quiet", "--name", "Quiet")


@pytest.mark.parametrize(
    "args, message",
    [
        (["default", "--name", "Again"], "already exists"),
        (["acme", "--name", "X", "--origin", "ftp://acme.example"], "is not an origin"),
        (["acme", "--name", "X", "--origin", "https://acme.example/path"], "is not an origin"),
        (["not a slug", "--name", "X"], "slug"),
        (["acme", "--name", "X", "--locale", "not a locale"], "locale"),
    ],
)
def test_tenant_create_refusals(default_tenant, args, message):
    with pytest.raises(CommandError, match=message):
        run("tenant", "create", *args)
    assert not Tenant.objects.filter(slug="acme").exists()


def test_tenant_list(default_tenant, tenant_a):
    output = run("tenant", "list")
    lines = output.splitlines()
    assert lines[0].split()[:3] == ["slug", "name", "status"]
    row = next(line for line in lines if line.startswith("tenant-a"))
    assert "https://tenant-a.example" in row
    assert " 1 " in row  # its API key


def test_tenant_telegram_stores_the_settings_encrypted(tenant_a):
    output = run(
        "tenant",
        "telegram",
        "tenant-a",
        "--bot-token",
        BOT_TOKEN,
        "--support-group-id",
        "-1001234",
        "--webhook-secret",
        "hook-secret-a-0123456789abcdef0123456789",
        "--header-secret",
        "header-secret-a",
    )
    assert BOT_TOKEN not in output
    stored = telegram_settings_for(tenant_a.tenant)
    assert (stored.bot_token, stored.support_group_id, stored.webhook_secret, stored.header_secret) == (
        BOT_TOKEN,
        -1001234,
        "hook-secret-a-0123456789abcdef0123456789",
        "header-secret-a",
    )


def test_tenant_telegram_refusals(tenant_a):
    with pytest.raises(CommandError, match="No tenant"):
        run(
            "tenant", "telegram", "nobody", "--bot-token", BOT_TOKEN, "--support-group-id", "1", "--webhook-secret", "s"
        )
    with pytest.raises(CommandError, match="bot token"):
        run("tenant", "telegram", "tenant-a", "--bot-token", "nope", "--support-group-id", "1", "--webhook-secret", "s")


def test_set_webhook_needs_a_base_url_and_stores_nothing_without_it(tenant_a):
    with pytest.raises(CommandError, match="--base-url"):
        run(
            "tenant",
            "telegram",
            "tenant-a",
            "--bot-token",
            BOT_TOKEN,
            "--support-group-id",
            "1",
            "--webhook-secret",
            "s",
            "--set-webhook",
        )
    assert telegram_settings_for(tenant_a.tenant) is None


def test_tenant_telegram_set_webhook_points_the_bot_at_the_v2_webhook(tenant_a, fake_bot_api, settings):  # noqa: F811
    settings.TELEGRAM_API_BASE = fake_bot_api.base_url
    output = run(
        "tenant",
        "telegram",
        "tenant-a",
        "--bot-token",
        DEFAULT_BOT_TOKEN,
        "--support-group-id",
        str(DEFAULT_CHAT_ID),
        "--webhook-secret",
        "hook-secret-a-0123456789abcdef0123456789",
        "--header-secret",
        "header-secret-a",
        "--set-webhook",
        "--base-url",
        "https://chat.example",
    )
    assert "Webhook of tenant-a set" in output
    hook = fake_bot_api.webhook(DEFAULT_BOT_TOKEN)
    assert hook["url"] == "https://chat.example/v2/telegram/webhook/hook-secret-a-0123456789abcdef0123456789"
    assert hook["secret_token"] == "header-secret-a"


def test_apikey_create_prints_the_key_once_on_the_last_line_and_keeps_its_hash(tenant_a):
    output = run("apikey", "create", "tenant-a", "--scopes", "conversations:read,usage:read", "--name", "CRM")
    key = output.splitlines()[-1]
    assert key.startswith("chk_") and len(key) > 40
    assert output.count(key) == 1
    with tenancy.tenant_context(tenant_a.tenant):
        stored = ApiKey.objects.get(name="CRM")
    assert stored.key_hash == api_key_hash(key)
    assert stored.prefix == key[:12]
    assert stored.scopes == ["conversations:read", "usage:read"]
    assert key not in str([getattr(stored, field.attname) for field in ApiKey._meta.fields])


def test_apikey_create_refusals(tenant_a):
    with pytest.raises(CommandError, match="No tenant"):
        run("apikey", "create", "nobody", "--scopes", "usage:read")
    with pytest.raises(CommandError, match="Unknown scope everything"):
        run("apikey", "create", "tenant-a", "--scopes", "usage:read,everything")


@pytest.mark.parametrize("by", ["prefix", "id"])
def test_apikey_revoke_then_the_key_is_refused(client, tenant_a, by):
    headers = {"HTTP_AUTHORIZATION": f"Api-Key {tenant_a.key}"}
    assert client.get("/api/v2/usage/", **headers).status_code == 200
    output = run("apikey", "revoke", tenant_a.api_key.prefix if by == "prefix" else str(tenant_a.api_key.id))
    assert "Revoked" in output
    response = client.get("/api/v2/usage/", **headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


def test_apikey_revoke_unknown(db):
    with pytest.raises(CommandError, match="No API key"):
        run("apikey", "revoke", "chk_nothing")


@pytest.mark.processes
@pytest.mark.django_db(transaction=True)
def test_the_real_command_line(default_tenant):
    """What an operator types: manage.py in a process of its own, against the test database."""

    def manage(*args):
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=process_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )

    created = manage("tenant", "create", "cli-co", "--name", "CLI Co", "--origin", "https://cli.example")
    assert created.returncode == 0, created.stderr
    duplicate = manage("tenant", "create", "cli-co", "--name", "Again")
    assert duplicate.returncode != 0
    assert "already exists" in duplicate.stderr
    issued = manage("apikey", "create", "cli-co", "--scopes", "usage:read")
    assert issued.returncode == 0, issued.stderr
    key = issued.stdout.strip().splitlines()[-1]
    with tenancy.cross_tenant("test: the key row the command wrote"):
        assert ApiKey.objects.get(tenant__slug="cli-co").key_hash == api_key_hash(key)
