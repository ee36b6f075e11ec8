"""manage.py backup: a dump of a populated database verifies, and a restore of it is served."""

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
from django.db import connection

from chatorical.testing import ROOT, process_env
from deploy import backups

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("default_tenant")]


def manage(*args, **env):
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=process_env(**env), capture_output=True, text=True
    )


def drop_database(name):
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database_names():
    with connection.cursor() as cursor:
        cursor.execute("SELECT datname FROM pg_database")
        return {row[0] for row in cursor.fetchall()}


def scratch_databases_left():
    """Scratch databases of this test process's verifies (another xdist worker's are its own)."""
    return [name for name in database_names() if name.startswith(f"{connection.settings_dict['NAME']}_verify_")]


@pytest.fixture
def fresh_database():
    name = f"{connection.settings_dict['NAME']}_restored"
    drop_database(name)
    yield name
    drop_database(name)


@pytest.mark.processes
def test_backup_of_a_populated_database_verifies_and_its_restore_is_served(
    tmp_path, tenant_a, tenant_b, fresh_database, start_server
):
    created = manage("backup", "create", "--dir", str(tmp_path), "--verify")
    assert created.returncode == 0, created.stderr
    (dump,) = tmp_path.glob("chatorical-*.dump")
    assert f"backup written: {dump}" in created.stdout
    assert f"backup {dump} verified" in created.stdout
    assert "ok   migrations: all" in created.stdout
    assert "ok   row_counts:" in created.stdout
    assert "ok   tenants: 3" in created.stdout
    assert "2 messages read" in created.stdout
    counts = json.loads(backups.manifest_path(dump).read_text())["rows"]
    assert counts["conversations_message"] == 4 and counts["tenants_tenant"] == 3
    # The scratch database of the verify is gone.
    assert not scratch_databases_left()

    restored = manage("backup", "restore", str(dump), "--database", fresh_database)
    assert restored.returncode == 0, restored.stderr
    db = connection.settings_dict
    server = start_server(DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{fresh_database}")
    response = httpx.get(
        f"{server.url}/api/v2/conversations/{tenant_a.conversation.id}/messages/",
        headers={"Authorization": f"Api-Key {tenant_a.key}"},
    )
    assert response.status_code == 200
    assert [m["text"] for m in response.json()["results"]] == ["hello from tenant-a", "answer of tenant-a"]


def test_verify_reports_a_dump_whose_rows_differ_from_its_manifest(tmp_path, tenant_a):
    dump = backups.backup_create(directory=tmp_path)
    manifest = json.loads(backups.manifest_path(dump).read_text())
    manifest["rows"]["conversations_message"] += 1
    backups.manifest_path(dump).write_text(json.dumps(manifest))

    result = manage("backup", "verify", str(dump))

    assert result.returncode == 1
    assert "FAIL row counts differ (expected, restored): conversations_message (3, 2)" in result.stdout
    assert "failed verification (1 problems)" in result.stderr


def test_verify_of_a_damaged_file_fails_with_a_clear_message(tmp_path, tenant_a):
    dump = backups.backup_create(directory=tmp_path)
    dump.write_bytes(dump.read_bytes()[: dump.stat().st_size // 2])

    result = manage("backup", "verify", str(dump))

    assert result.returncode == 1
    assert "CommandError: pg_restore failed" in result.stderr
    assert "Traceback" not in result.stderr
    assert not scratch_databases_left()


def test_verify_of_a_missing_file_is_a_clear_error(tmp_path):
    result = manage("backup", "verify", str(tmp_path / "nothing.dump"))
    assert result.returncode == 1
    assert f"CommandError: no such backup: {tmp_path / 'nothing.dump'}" in result.stderr
    assert "Traceback" not in result.stderr


def test_old_backups_are_pruned_by_the_time_in_their_name(tmp_path):
    now = datetime(2026, 5, 20, 3, 15, tzinfo=UTC)
    names = []
    for age_days in (0, 13, 15, 40):
        stamp = (now - timedelta(days=age_days)).strftime(backups.TIMESTAMP_FORMAT)
        path = tmp_path / f"chatorical-support_chat_prod-{stamp}.dump"
        path.write_bytes(b"dump")
        backups.manifest_path(path).write_text("{}")
        names.append(path.name)
    (tmp_path / "unrelated.txt").write_text("kept")

    removed = backups.backups_prune(directory=tmp_path, keep_days=14, now=now)

    assert sorted(path.name for path in removed) == sorted(names[2:])
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        [*names[:2], *(n + ".counts.json" for n in names[:2]), "unrelated.txt"]
    )
