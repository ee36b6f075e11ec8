"""Channel secrets: encrypted at rest, rotated with CHANNEL_CONFIG_KEYS, never logged or shown."""

import io
import logging
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from chatorical import tenancy
from tenants import crypto
from tenants.models import TelegramConfig
from tenants.selectors import telegram_settings_for, tenant_for_webhook_secret
from tenants.services import telegram_config_set

BOT_TOKEN = "987654321:AASecretBotTokenValue_0123456789abcd"
WEBHOOK_SECRET = "webhook-secret-value-0123456789abcdef"
HEADER_SECRET = "header-secret-value-0123456789"


def configure(tenant):
    return telegram_config_set(
        tenant=tenant,
        bot_token=BOT_TOKEN,
        support_group_id=-100123,
        webhook_secret=WEBHOOK_SECRET,
        header_secret=HEADER_SECRET,
    )


def stored_row(tenant):
    with tenancy.tenant_context(tenant):
        return TelegramConfig.objects.get()


def test_secrets_are_encrypted_at_rest(tenant_a):
    configure(tenant_a.tenant)
    row = stored_row(tenant_a.tenant)
    for secret in (BOT_TOKEN, WEBHOOK_SECRET, HEADER_SECRET):
        assert secret not in str(row.__dict__)
    assert tenant_for_webhook_secret(WEBHOOK_SECRET) == tenant_a.tenant


def test_key_rotation(tenant_a, settings):
    key_a, key_b = crypto.new_key(), crypto.new_key()
    settings.CHANNEL_CONFIG_KEYS = [key_a]
    configure(tenant_a.tenant)
    before = stored_row(tenant_a.tenant).bot_token_encrypted

    settings.CHANNEL_CONFIG_KEYS = [key_b, key_a]
    out = StringIO()
    call_command("tenant", "rotate-keys", stdout=out)
    assert "1 tenant" in out.getvalue()
    assert stored_row(tenant_a.tenant).bot_token_encrypted != before

    settings.CHANNEL_CONFIG_KEYS = [key_b]
    stored = telegram_settings_for(tenant_a.tenant)
    assert (stored.bot_token, stored.webhook_secret, stored.header_secret) == (BOT_TOKEN, WEBHOOK_SECRET, HEADER_SECRET)


def test_rotation_without_the_old_key_changes_nothing(tenant_a, settings):
    key_a = crypto.new_key()
    settings.CHANNEL_CONFIG_KEYS = [key_a]
    configure(tenant_a.tenant)
    before = stored_row(tenant_a.tenant).bot_token_encrypted
    settings.CHANNEL_CONFIG_KEYS = [crypto.new_key()]
    with pytest.raises(CommandError, match="readable by no key"):
        call_command("tenant", "rotate-keys", stdout=StringIO())
    assert stored_row(tenant_a.tenant).bot_token_encrypted == before


@pytest.fixture
def captured_logs():
    """Everything the configured console handler writes (its filters and formatter
    included), at DEBUG, for the duration of the test."""
    root = logging.getLogger()
    [console] = [h for h in root.handlers if isinstance(h, logging.StreamHandler) and h.filters]
    stream = io.StringIO()
    old_stream, old_level = console.setStream(stream), root.level
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.setLevel(old_level)
        console.setStream(old_stream)


def test_secrets_never_reach_the_logs(client, tenant_a, captured_logs, django_user_model):
    call_command(
        "tenant",
        "telegram",
        "tenant-a",
        "--bot-token",
        BOT_TOKEN,
        "--support-group-id",
        "-100123",
        "--webhook-secret",
        WEBHOOK_SECRET,
        "--header-secret",
        HEADER_SECRET,
        stdout=StringIO(),
    )
    settings_ = telegram_settings_for(tenant_a.tenant)
    logger = logging.getLogger("tenants.tests")
    logger.info("using %r", settings_)
    # A library logging a Bot API URL, or an error quoting one, is masked too.
    logger.info("HTTP Request: POST https://api.telegram.org/bot%s/sendMessage", settings_.bot_token)
    try:
        raise RuntimeError(f"failed: https://api.telegram.org/bot{settings_.bot_token}/getMe")
    except RuntimeError:
        logger.exception("call failed")
    logger.info("issued %s", tenant_a.key)
    # The admin's form, too (a superuser editing the config).
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    config = stored_row(tenant_a.tenant)
    response = client.post(
        f"/admin/tenants/telegramconfig/{config.pk}/change/",
        {"support_group_id": "-100999", "bot_token": "", "webhook_secret": "", "header_secret": ""},
    )
    assert response.status_code == 302

    logged = captured_logs.getvalue()
    assert "HTTP Request" in logged and "call failed" in logged
    for secret in (BOT_TOKEN, WEBHOOK_SECRET, HEADER_SECRET, tenant_a.key):
        assert secret not in logged
    assert telegram_settings_for(tenant_a.tenant).bot_token == BOT_TOKEN


def test_settings_objects_do_not_show_secrets(tenant_a):
    configure(tenant_a.tenant)
    shown = repr(telegram_settings_for(tenant_a.tenant))
    for secret in (BOT_TOKEN, WEBHOOK_SECRET, HEADER_SECRET):
        assert secret not in shown
