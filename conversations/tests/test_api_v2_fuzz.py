"""Schemathesis fuzzes every /api/v2 operation of a running server from its own OpenAPI
schema, with a valid and with an unknown key: no input may cause a server error.

Derandomized (a fixed seed, no example database), so a run is repeatable. With the valid
key: the coverage phase (each parameter's boundary and invalid values) and 15 generated
cases per operation. With the unknown key every request ends at the routing or the key
check, so the coverage phase alone walks those paths with its malformed inputs; the 420
random cases it also ran there took a sixth of the test's time and tested the same paths."""

import subprocess
import sys
from pathlib import Path

import pytest

from conversations.tests.factories import conversation_for, message_for
from tenants.models import ApiKey
from tenants.services import api_key_create

ST = Path(sys.executable).with_name("st")


def schemathesis_run(server, authorization: str, *, phases: str, workdir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            str(ST),
            "run",
            f"{server.url}/api/v2/schema/?format=json",
            "--checks",
            "not_a_server_error",
            "--header",
            f"Authorization: {authorization}",
            "--max-examples",
            "15",
            "--phases",
            phases,
            "--workers",
            "1",
            "--seed",
            "4012",
            "--generation-database",
            "none",
            "--request-timeout",
            "10",
            "--no-color",
        ],
        cwd=workdir,  # schemathesis keeps a cache directory where it runs
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.processes
@pytest.mark.django_db(transaction=True)
def test_no_operation_answers_a_server_error(start_server, default_tenant, tmp_path):
    tenant_conversation = conversation_for(default_tenant, visitor_name="Fuzzed")
    message_for(tenant_conversation, text="something to list")
    key = api_key_create(tenant=default_tenant, name="Fuzzer", scopes=list(ApiKey.Scope.values)).raw_key
    server = start_server(RATE_LIMIT_SCALE=1000)
    for authorization, phases in (
        (f"Api-Key {key}", "examples,coverage,fuzzing"),
        ("Api-Key chk_not-a-key-at-all-0123456789abcdef", "coverage"),
    ):
        result = schemathesis_run(server, authorization, phases=phases, workdir=tmp_path)
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
        assert "28 selected / 28 total" in result.stdout, result.stdout[-3000:]
