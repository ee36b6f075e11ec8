"""No public default secret: with none set, dev makes random ones once and keeps them
under var/, and nothing written in the code signs a token a running server accepts."""

import json
import stat
import time
import uuid

import httpx
import jwt
import pytest
from cryptography.fernet import Fernet

from chatorical.testing import load_settings

GENERATED = ("CONVERSATION_JWT_SECRET", "DJANGO_SECRET_KEY", "CHANNEL_CONFIG_KEYS")
# What the code held before it generated its dev secrets; any copy of the code had them.
FORMER_PLACEHOLDER = "dev-insecure-placeholder-never-use-in-prod"


def dev_secrets(directory) -> dict:
    result = load_settings(
        "import json; print(json.dumps({'CONVERSATION_JWT_SECRET': settings.CONVERSATION_JWT_SECRET,"
        " 'DJANGO_SECRET_KEY': settings.SECRET_KEY, 'CHANNEL_CONFIG_KEYS': settings.CHANNEL_CONFIG_KEYS[0]}))",
        DEV_SECRETS_DIR=str(directory),
        CHANNEL_CONFIG_KEYS="",
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_dev_generates_each_secret_once_and_keeps_it(tmp_path):
    first = dev_secrets(tmp_path / "a")
    assert dev_secrets(tmp_path / "a") == first, "a restart reads the same secrets"
    other_checkout = dev_secrets(tmp_path / "b")
    for name in GENERATED:
        assert first[name] != other_checkout[name]
        assert len(first[name]) >= 32
        kept = tmp_path / "a" / name
        assert kept.read_text() == first[name]
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    Fernet(first["CHANNEL_CONFIG_KEYS"])  # a usable key


def test_a_set_secret_wins_and_nothing_is_written_for_it(tmp_path):
    result = load_settings(
        "print(settings.CONVERSATION_JWT_SECRET)", DEV_SECRETS_DIR=str(tmp_path), CONVERSATION_JWT_SECRET="j" * 40
    )
    assert result.stdout.strip() == "j" * 40
    assert not (tmp_path / "CONVERSATION_JWT_SECRET").exists()


@pytest.mark.django_db(transaction=True)
def test_a_token_signed_with_the_former_placeholder_is_refused(start_server, default_tenant, tmp_path):
    server = start_server(CONVERSATION_JWT_SECRET="", DEV_SECRETS_DIR=str(tmp_path))
    with httpx.Client(base_url=server.url, timeout=10) as http:
        started = http.post("/v1/start", json={"name": "Ada"})
        assert started.status_code == 201, started.text
        conversation_id = started.json()["conversation_id"]
        now = int(time.time())
        claims = {
            "tid": default_tenant.id, "cid": conversation_id, "aud": "ws",
            "iat": now, "exp": now + 600, "jti": uuid.uuid4().hex,
        }  # fmt: skip
        forged = jwt.encode(claims, FORMER_PLACEHOLDER, algorithm="HS256")
        history = f"/v1/conversations/{conversation_id}/messages"
        refused = http.get(history, headers={"Authorization": f"Bearer {forged}"})
        issued = http.get(history, headers={"Authorization": f"Bearer {started.json()['token']}"})
    assert refused.status_code == 401
    assert issued.status_code == 200, "the generated secret signs and checks the server's own tokens"
    assert (tmp_path / "CONVERSATION_JWT_SECRET").exists()
