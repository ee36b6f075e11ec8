"""What DJANGO_ENV=prod requires, checked in one place when the settings load.

Every check reads the finished settings and returns its problems; the process refuses to
start listing all of them at once, so a deployment is fixed in one round, not one variable
per restart. Add a requirement by appending a check to PROD_CHECKS.
"""

from collections.abc import Callable, Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured

Settings = Mapping[str, Any]
PROD_DATABASE_NAME = "support_chat_prod"
MIN_SECRET_CHARS = 32
# Setting name -> the environment variable that sets it.
SECRETS = {
    "CONVERSATION_JWT_SECRET": "CONVERSATION_JWT_SECRET",
    "SERVICE_TOKEN": "SERVICE_TOKEN",
    "SECRET_KEY": "DJANGO_SECRET_KEY",
}


def _secrets(values: Settings) -> list[str]:
    problems = [
        f"{variable} must be a random value of at least {MIN_SECRET_CHARS} characters"
        for name, variable in SECRETS.items()
        if not values.get(name) or len(values[name]) < MIN_SECRET_CHARS
    ]
    if values.get("CONVERSATION_JWT_SECRET") and values["CONVERSATION_JWT_SECRET"] == values.get("SERVICE_TOKEN"):
        problems.append("CONVERSATION_JWT_SECRET must differ from SERVICE_TOKEN")
    return problems


def _channel_config_keys(values: Settings) -> list[str]:
    return (
        []
        if values.get("CHANNEL_CONFIG_KEYS")
        else ["CHANNEL_CONFIG_KEYS is required (Fernet keys for tenant secrets)"]
    )


def _database(values: Settings) -> list[str]:
    # A second prod-like deployment (staging) names its own database with PROD_DATABASE_NAME;
    # pointing prod at a dev database then takes two mistakes, not one.
    expected = values.get("PROD_DATABASE_NAME", PROD_DATABASE_NAME)
    database = values.get("DATABASES", {}).get("default")
    if not database:
        return [f"DATABASE_URL is required (PostgreSQL, database {expected})"]
    name = database.get("NAME")
    if name != expected or name.endswith("_dev"):
        return [f"DATABASE_URL must name the database {expected}, not {name!r}"]
    return []


def _redis(values: Settings) -> list[str]:
    return [] if values.get("REDIS_URL") else ["REDIS_URL is required (channel layer, cache, Celery broker)"]


def _hosts(values: Settings) -> list[str]:
    hosts = values.get("ALLOWED_HOSTS") or []
    if not hosts or "*" in hosts:
        return ["ALLOWED_HOSTS must list the public host names (not empty, not *)"]
    return []


def _origins(values: Settings) -> list[str]:
    if not values.get("WIDGET_ALLOWED_ORIGINS"):
        return ["WIDGET_ALLOWED_ORIGINS must list the sites that embed the default tenant's widget"]
    return []


def _telegram_header_secret(values: Settings) -> list[str]:
    # Without it the v1 webhook refuses every update: a prod bot without one is a mistake.
    if values.get("BOT_TOKEN") and not values.get("TELEGRAM_HEADER_SECRET"):
        return ["TELEGRAM_HEADER_SECRET is required when BOT_TOKEN is set"]
    return []


def _metrics_token(values: Settings) -> list[str]:
    token = values.get("METRICS_TOKEN")
    if token and len(token) < MIN_SECRET_CHARS:
        return [f"METRICS_TOKEN must be at least {MIN_SECRET_CHARS} characters"]
    return []


PROD_CHECKS: list[Callable[[Settings], list[str]]] = [
    _secrets,
    _channel_config_keys,
    _database,
    _redis,
    _hosts,
    _origins,
    _telegram_header_secret,
    _metrics_token,
]


def prod_settings_problems(values: Settings) -> list[str]:
    return [problem for check in PROD_CHECKS for problem in check(values)]


def prod_settings_check(values: Settings) -> None:
    problems = prod_settings_problems(values)
    if problems:
        listing = "\n".join(f"  - {problem}" for problem in problems)
        raise ImproperlyConfigured(f"DJANGO_ENV=prod cannot start, {len(problems)} settings to fix:\n{listing}")
