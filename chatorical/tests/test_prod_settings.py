"""DJANGO_ENV=prod lists every missing or unsafe setting at once, and starts when none is."""

from chatorical import prod_settings
from chatorical.testing import PROD, load_settings

# The finished settings of a complete prod environment, as the checks see them.
PROD_VALUES = {
    "CONVERSATION_JWT_SECRET": "j" * 40,
    "SERVICE_TOKEN": "s" * 40,
    "SECRET_KEY": "k" * 40,
    "CHANNEL_CONFIG_KEYS": ["key"],
    "DATABASES": {"default": {"NAME": "support_chat_prod"}},
    "REDIS_URL": "redis://127.0.0.1:6379/3",
    "ALLOWED_HOSTS": ["chat.example"],
    "WIDGET_ALLOWED_ORIGINS": ["https://www.example.com"],
}


def test_prod_with_nothing_set_lists_every_problem_in_one_error():
    result = load_settings(DJANGO_ENV="prod")
    assert result.returncode != 0
    message = result.stderr[result.stderr.rindex("DJANGO_ENV=prod cannot start") :]
    for variable in (
        "CONVERSATION_JWT_SECRET",
        "SERVICE_TOKEN",
        "DJANGO_SECRET_KEY",
        "CHANNEL_CONFIG_KEYS",
        "DATABASE_URL",
        "REDIS_URL",
        "ALLOWED_HOSTS",
        "WIDGET_ALLOWED_ORIGINS",
    ):
        assert f"  - {variable} " in message, variable
    assert message.startswith("DJANGO_ENV=prod cannot start, 8 settings to fix:")


def test_prod_refuses_a_database_other_than_the_prod_one_and_a_wildcard_host():
    result = load_settings(
        **{**PROD, "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/support_chat_dev", "ALLOWED_HOSTS": "*"}
    )
    assert result.returncode != 0
    assert "2 settings to fix" in result.stderr
    assert "DATABASE_URL must name the database support_chat_prod, not 'support_chat_dev'" in result.stderr
    assert "ALLOWED_HOSTS must list the public host names" in result.stderr


def test_prod_refuses_a_bot_without_a_header_secret():
    result = load_settings(**{**PROD, "BOT_TOKEN": "123:abc"})
    assert result.returncode != 0
    assert "1 settings to fix:\n  - TELEGRAM_HEADER_SECRET is required when BOT_TOKEN is set" in result.stderr


def test_a_short_metrics_token_is_a_problem():
    problems = prod_settings.prod_settings_problems({**PROD_VALUES, "METRICS_TOKEN": "short"})
    assert problems == ["METRICS_TOKEN must be at least 32 characters"]


def test_prod_with_every_setting_starts():
    result = load_settings("print('started')", **PROD)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "started"


def test_a_requirement_appended_to_the_list_is_reported_with_the_others(monkeypatch):
    values = {"ALLOWED_HOSTS": ["chat.example"]}
    monkeypatch.setattr(
        prod_settings, "PROD_CHECKS", [*prod_settings.PROD_CHECKS, lambda _: ["TELEGRAM_HEADER_SECRET is required"]]
    )
    problems = prod_settings.prod_settings_problems(values)
    assert problems[-1] == "TELEGRAM_HEADER_SECRET is required"
    assert len(problems) == 8
