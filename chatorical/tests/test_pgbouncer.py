"""DATABASE_POOLER=pgbouncer-transaction: an instance works through a real PgBouncer in transaction mode."""

import asyncio
import json
import os
import shutil
import subprocess
import time

import httpx
import psycopg
import pytest
import websockets
from django.db import connection

from chatorical.testing import free_port, load_settings


@pytest.fixture
def pgbouncer(tmp_path):
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not os.path.exists(binary):
        pytest.fail("pgbouncer is missing: `apt-get install -y pgbouncer` (.ci/run does it)")
    port = free_port()
    (tmp_path / "users.txt").write_text('"postgres" ""\n')
    ini = tmp_path / "pgbouncer.ini"
    ini.write_text(
        "[databases]\n* = host=127.0.0.1 port=5432\n"
        f"[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nauth_type = trust\n"
        f"auth_file = {tmp_path / 'users.txt'}\npool_mode = transaction\nunix_socket_dir =\n"
        "logfile =\npidfile =\ndefault_pool_size = 4\nignore_startup_parameters = extra_float_digits,options\n"
    )
    # PgBouncer refuses to run as root; it reads its files first, then becomes `nobody`.
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    process = subprocess.Popen([binary, *user, str(ini)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while True:
        try:
            psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres").close()
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise
            time.sleep(0.1)
    yield port
    process.terminate()
    process.wait(timeout=10)


def test_the_pooler_setting_turns_server_side_cursors_off():
    result = load_settings(
        "d = settings.DATABASES['default'];"
        " print(d['DISABLE_SERVER_SIDE_CURSORS'], d['OPTIONS'].get('prepare_threshold'))",
        DATABASE_URL="postgres://postgres@127.0.0.1:6432/",
        DATABASE_POOLER="pgbouncer-transaction",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "None"]


@pytest.mark.processes
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("default_tenant")
async def test_an_instance_serves_widgets_through_pgbouncer_in_transaction_mode(pgbouncer, start_server, tenant_a):
    db = connection.settings_dict
    server = start_server(
        DATABASE_URL=f"postgres://{db['USER']}@127.0.0.1:{pgbouncer}/{db['NAME']}",
        DATABASE_POOLER="pgbouncer-transaction",
    )
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"{server.url}/ready")).status_code == 200
        started = (await client.post(f"{server.url}/v1/start", json={"name": "Ada"})).json()
        async with websockets.connect(f"{server.ws_url}/v1/ws?token={started['token']}") as socket:
            while json.loads(await asyncio.wait_for(socket.recv(), 10)).get("key") != "welcome":
                pass
            for n in range(5):
                await socket.send(json.dumps({"type": "message", "text": f"pooled {n}"}))
            echoes = []
            while len(echoes) < 5:
                event = json.loads(await asyncio.wait_for(socket.recv(), 10))
                if "direction" in event:
                    echoes.append(event["text"])
        history = await client.get(
            f"{server.url}/v1/conversations/{started['conversation_id']}/messages",
            headers={"Authorization": f"Bearer {started['token']}"},
        )
        exported = await client.get(
            f"{server.url}/api/v2/exports/", headers={"Authorization": f"Api-Key {tenant_a.key}"}
        )
    assert echoes == [f"pooled {n}" for n in range(5)]
    assert [m["text"] for m in history.json()["messages"]] == echoes
    assert exported.status_code == 200
    assert "hello from tenant-a" in exported.text
