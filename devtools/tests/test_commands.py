"""The start-up commands: preflight, demo and telegram_sandbox's refusals."""

import os
import subprocess
import sys
import uuid

import httpx
import psycopg
import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client

from chatorical import preflight
from chatorical.testing import ROOT, free_port, process_env
from devtools import services
from tenants.models import Tenant


def run_manage(*args, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=process_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )


# --- preflight ---------------------------------------------------------------------------


@pytest.fixture
def missing_database():
    db = dict(connection.settings_dict, NAME=f"chatorical_preflight_{uuid.uuid4().hex[:10]}")
    yield db
    with psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname="postgres", autocommit=True) as pg:
        pg.execute(f'DROP DATABASE IF EXISTS "{db["NAME"]}"')


def test_a_missing_dev_database_is_created(missing_database):
    done = preflight.database_ensure(missing_database, may_create=True)
    assert done == f'created database "{missing_database["NAME"]}" on 127.0.0.1:5432'
    assert preflight.database_ensure(missing_database, may_create=True) is None


def test_a_missing_database_that_may_not_be_created_is_named_with_the_command_that_creates_it(missing_database):
    with pytest.raises(preflight.PreflightError) as refused:
        preflight.database_ensure(missing_database, may_create=False)
    name = missing_database["NAME"]
    assert str(refused.value) == (
        f'Database "{name}" does not exist on 127.0.0.1:5432. '
        f"Create it with: createdb -h 127.0.0.1 -p 5432 -U postgres {name}"
    )


def test_an_unreachable_postgresql_is_named():
    db = dict(connection.settings_dict, PORT=str(free_port()))
    with pytest.raises(preflight.PreflightError, match=f"PostgreSQL at 127.0.0.1:{db['PORT']} does not answer"):
        preflight.database_ensure(db, may_create=True)


def test_an_unreachable_redis_is_named_with_its_url_password_masked():
    port = free_port()
    with pytest.raises(preflight.PreflightError) as refused:
        preflight.redis_check(f"redis://:hunter2@127.0.0.1:{port}/3")
    assert str(refused.value).startswith(f"Redis at redis://:***@127.0.0.1:{port}/3 does not answer")
    assert "hunter2" not in str(refused.value)


def test_preflight_stops_at_once_naming_the_missing_database(missing_database):
    url = f"postgres://postgres@127.0.0.1:5432/{missing_database['NAME']}"
    env = {
        "DJANGO_ENV": "prod",
        "DATABASE_URL": url,
        "DJANGO_SECRET_KEY": "k" * 40,
        "CONVERSATION_JWT_SECRET": "j" * 40,
        "SERVICE_TOKEN": "s" * 40,
        "CHANNEL_CONFIG_KEYS": "ZGV2LW9ubHkta2V5LW5vdC1mb3ItcHJvZHVjdGlvbiE=",
        "ALLOWED_HOSTS": "chat.example",
        "WIDGET_ALLOWED_ORIGINS": "https://www.example.com",
        "PROD_DATABASE_NAME": missing_database["NAME"],
    }
    result = run_manage("preflight", **env)
    assert result.returncode == 1
    assert f'Database "{missing_database["NAME"]}" does not exist' in result.stderr
    assert "Traceback" not in result.stderr


def test_preflight_warns_once_about_a_redis_db_it_does_not_use():
    base = os.environ["REDIS_URL"].rstrip("/")
    result = run_manage("preflight", REDIS_URL=f"{base}/5")
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stdout.splitlines() if "REDIS_URL names DB 5" in line]
    assert len(warnings) == 1 and "DB 3" in warnings[0]


def test_preflight_is_quiet_about_our_own_redis_db():
    base = os.environ["REDIS_URL"].rstrip("/")
    result = run_manage("preflight", REDIS_URL=f"{base}/3")
    assert result.returncode == 0 and "REDIS_URL names" not in result.stdout


# --- /ready in embedded mode ---------------------------------------------------------------


@pytest.mark.django_db
def test_ready_says_embedded_for_what_embedded_mode_does_not_use(settings):
    settings.REDIS_URL = ""
    checks = Client().get("/ready", HTTP_AUTHORIZATION=f"Bearer {settings.SERVICE_TOKEN}").json()["checks"]
    assert checks["redis"] == {"ok": True, "mode": "embedded"}
    assert checks["rate_limiter"] == {"ok": True, "mode": "embedded"}
    assert checks["database"]["ok"] and "mode" not in checks["database"]


# --- demo ----------------------------------------------------------------------------------


@pytest.fixture
def login_file(tmp_path, monkeypatch):
    path = tmp_path / "dev-admin-login.json"
    monkeypatch.setattr(services, "ADMIN_LOGIN_FILE", path)
    monkeypatch.delenv("DJANGO_SUPERUSER_USERNAME", raising=False)
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    return path


def demo(*args) -> list[str]:
    from io import StringIO

    out = StringIO()
    call_command("demo", *args, stdout=out)
    return out.getvalue().splitlines()


def can_log_in(username, password) -> bool:
    return Client().login(username=username, password=password)


def api_status(key: str) -> int:
    return Client().get("/api/v2/conversations/", HTTP_AUTHORIZATION=f"Api-Key {key}").status_code


@pytest.mark.django_db
def test_make_run_creates_the_admin_once_and_prints_its_login(login_file):
    first = demo("--keep")
    password = first[0].split("password ")[1].split()[0]
    assert first[0].startswith("Admin: http://127.0.0.1:") and "user admin" in first[0] and "(created)" in first[0]
    assert can_log_in("admin", password)
    assert api_status(first[-1]) == 200
    assert Tenant.objects.get(slug="demo").allowed_origins == services.demo_origins()

    again = demo("--keep")
    assert f"password {password}" in again[0] and "(kept)" in again[0]
    assert "kept" in again[1] and api_status(first[-1]) == 200


@pytest.mark.django_db
def test_demo_resets_the_login_the_tenant_and_its_key(login_file):
    first = demo("--keep")
    old_password, old_key = first[0].split("password ")[1].split()[0], first[-1]
    reset = demo()
    new_password, new_key = reset[0].split("password ")[1].split()[0], reset[-1]
    assert new_password != old_password and new_key != old_key
    assert can_log_in("admin", new_password) and not can_log_in("admin", old_password)
    assert api_status(old_key) == 401 and api_status(new_key) == 200


@pytest.mark.django_db
def test_demo_takes_the_login_from_django_superuser_variables(login_file, monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "ops")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-chosen-password-1")
    lines = demo("--keep")
    assert "user ops" in lines[0] and "a-chosen-password-1" not in "\n".join(lines)
    assert get_user_model().objects.get(username="ops").is_superuser
    assert can_log_in("ops", "a-chosen-password-1")
    assert not login_file.exists()


@pytest.mark.parametrize("command", ["demo", "telegram_sandbox"])
def test_dev_commands_are_refused_in_prod(settings, command):
    settings.IS_PROD = True
    with pytest.raises(CommandError, match="DJANGO_ENV=prod"):
        call_command(command)


def test_telegram_sandbox_needs_the_app_pointed_at_it(settings):
    settings.TELEGRAM_SANDBOX = False
    with pytest.raises(CommandError, match="TELEGRAM_SANDBOX=1"):
        call_command("telegram_sandbox")


def test_prod_settings_refuse_the_sandbox():
    env = {
        "DJANGO_ENV": "prod",
        "TELEGRAM_SANDBOX": "1",
        "TELEGRAM_HEADER_SECRET": "x" * 32,
        "DJANGO_SECRET_KEY": "k" * 40,
        "CONVERSATION_JWT_SECRET": "j" * 40,
        "SERVICE_TOKEN": "s" * 40,
        "CHANNEL_CONFIG_KEYS": "ZGV2LW9ubHkta2V5LW5vdC1mb3ItcHJvZHVjdGlvbiE=",
        "ALLOWED_HOSTS": "chat.example",
    }
    result = run_manage("check", **env)
    assert result.returncode != 0
    assert "TELEGRAM_SANDBOX stands in for Telegram in development; DJANGO_ENV=prod refuses it" in result.stderr


def test_an_unknown_page_api_call_never_reaches_the_sandbox_without_a_running_app():
    # The sandbox's own port refuses nothing it does not know: a plain 404 in Telegram's shape.
    from telegram_bridge.sandbox import Sandbox

    sandbox = Sandbox(bot_token="7000000010:AnotherSandboxTestToken-0123456789", group_id=-1009000000098).start()
    try:
        answer = httpx.get(f"{sandbox.base_url}/nothing-here", timeout=5).json()
    finally:
        sandbox.stop()
    assert answer == {"ok": False, "error_code": 404, "description": "Not Found"}
