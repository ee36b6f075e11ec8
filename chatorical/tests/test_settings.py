"""Settings as a deployment meets them: each case imports them in a fresh interpreter."""

import pytest

from chatorical.testing import PROD, STRONG, load_settings


def test_prod_starts_with_strong_secrets_and_uses_the_prod_database():
    result = load_settings(
        "print(settings.DATABASES['default']['NAME'], settings.REDIS_URL,"
        " settings.LOGGING['handlers']['console']['formatter'])",
        **PROD,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["support_chat_prod", "redis://127.0.0.1:6379/3", "json"]


def test_prod_refuses_a_missing_jwt_secret():
    result = load_settings(**{**PROD, "CONVERSATION_JWT_SECRET": ""})
    assert result.returncode != 0
    assert "CONVERSATION_JWT_SECRET" in result.stderr


def test_prod_refuses_the_service_token_as_jwt_secret():
    result = load_settings(**{**PROD, "CONVERSATION_JWT_SECRET": STRONG})
    assert result.returncode != 0
    assert "must differ from SERVICE_TOKEN" in result.stderr


@pytest.mark.parametrize("name", ["SERVICE_TOKEN", "DJANGO_SECRET_KEY", "CONVERSATION_JWT_SECRET"])
def test_prod_refuses_a_short_secret(name):
    result = load_settings(**{**PROD, name: "x" * 31})
    assert result.returncode != 0
    assert f"{name} must be a random value of at least 32 characters" in result.stderr


def test_prod_refuses_missing_channel_config_keys():
    result = load_settings(**{**PROD, "CHANNEL_CONFIG_KEYS": ""})
    assert result.returncode != 0
    assert "CHANNEL_CONFIG_KEYS is required" in result.stderr


def test_dev_uses_the_dev_database_and_pretty_logs():
    result = load_settings(
        "print(settings.DATABASES['default']['NAME'], settings.LOGGING['handlers']['console']['formatter'])",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["support_chat_dev", "pretty"]


def test_flags_are_validated():
    result = load_settings(TENANT_ENFORCEMENT="sometimes")
    assert result.returncode != 0
    assert "TENANT_ENFORCEMENT must be one of strict, warn" in result.stderr


def test_a_periodic_sweep_that_waited_past_the_next_one_is_dropped():
    """Queued behind a busy worker, sweeps would pile up and then run back to back."""
    from django.conf import settings

    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        # A crontab entry (the daily retention run) recurs at most once a day.
        period = entry["schedule"] if isinstance(entry["schedule"], (int, float)) else 24 * 3600
        assert 0 < entry["options"]["expires"] <= period, name
