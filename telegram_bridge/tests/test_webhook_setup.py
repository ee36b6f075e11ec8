import pytest

from chatorical.errors import ApiError
from telegram_bridge.tests.conftest import HEADER_SECRET, WEBHOOK_SECRET
from telegram_bridge.webhook_setup import set_webhook


def test_set_webhook_registers_url_secret_and_updates(telegram, default_tenant):
    url = set_webhook(tenant=default_tenant, base_url="https://chat.example/")
    assert url == f"https://chat.example/v2/telegram/webhook/{WEBHOOK_SECRET}"
    hook = telegram.webhook()
    assert hook["url"] == url
    assert hook["secret_token"] == HEADER_SECRET
    assert hook["allowed_updates"] == ["message", "callback_query"]


def test_set_webhook_refuses_plain_http(telegram, default_tenant):
    with pytest.raises(ApiError) as error:
        set_webhook(tenant=default_tenant, base_url="http://chat.example")
    assert error.value.code == "invalid_base_url"
    assert telegram.webhook() is None
