"""REDIS_URL=sentinel://...: every Redis client of the project finds the master through a real Sentinel."""

import asyncio
import json
import subprocess
import time

import httpx
import pytest
import redis
import websockets
from django.conf import settings

from chatorical.redis_urls import sentinel_target
from chatorical.testing import free_port, load_settings

MASTER = "chatorical-test"


@pytest.fixture
def sentinel_url(tmp_path):
    """A real Redis Sentinel that names the test Redis (127.0.0.1:6379) as master."""
    port = free_port()
    conf = tmp_path / "sentinel.conf"
    conf.write_text(
        f"port {port}\nbind 127.0.0.1\ndaemonize no\ndir {tmp_path}\n"
        f"sentinel monitor {MASTER} 127.0.0.1 6379 1\n"
        # Never fail over the shared Redis: this test only needs Sentinel to name it.
        f"sentinel down-after-milliseconds {MASTER} 600000\n"
    )
    process = subprocess.Popen(
        ["redis-server", str(conf), "--sentinel"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            if client.sentinel_get_master_addr_by_name(MASTER):
                break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    yield f"sentinel://127.0.0.1:{port}/{MASTER}"
    client.close()
    process.terminate()
    process.wait(timeout=10)


def test_a_sentinel_url_is_read_into_sentinels_master_and_password():
    target = sentinel_target("sentinel://:s3cret@10.0.0.1:26379,10.0.0.2:26380/main", db=3)
    assert target.sentinels == (("10.0.0.1", 26379), ("10.0.0.2", 26380))
    assert (target.master, target.password, target.db) == ("main", "s3cret", 3)
    assert sentinel_target("redis://127.0.0.1:6379/3", db=3) is None


def test_a_sentinel_url_without_a_master_name_is_refused_at_start():
    result = load_settings(REDIS_URL="sentinel://10.0.0.1:26379")
    assert result.returncode != 0
    assert "must end with /MASTER_NAME" in result.stderr


def test_settings_point_every_client_at_the_sentinels():
    code = (
        "import json; print(json.dumps([settings.CHANNEL_LAYERS['default']['CONFIG']['hosts'][0]['sentinels'],"
        " settings.CACHES['default']['LOCATION'], settings.CELERY_BROKER_URL,"
        " settings.CELERY_BROKER_TRANSPORT_OPTIONS['master_name']]))"
    )
    result = load_settings(code, REDIS_URL="sentinel://10.0.0.1:26379,10.0.0.2:26379/main")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        [["10.0.0.1", 26379], ["10.0.0.2", 26379]],
        "redis://main/3",
        "sentinel://10.0.0.1:26379/3;sentinel://10.0.0.2:26379/3",
        "main",
    ]


@pytest.mark.processes
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("default_tenant")
async def test_an_instance_on_a_sentinel_url_is_ready_and_fans_out(sentinel_url, start_server):
    server = start_server(REDIS_URL=sentinel_url)
    async with httpx.AsyncClient() as client:
        ready = await client.get(f"{server.url}/ready", headers={"Authorization": f"Bearer {settings.SERVICE_TOKEN}"})
        assert ready.status_code == 200, ready.text
        assert ready.json()["failing"] == []
        token = (await client.post(f"{server.url}/v1/start", json={"name": "Ada"})).json()["token"]
    async with websockets.connect(f"{server.ws_url}/v1/ws?token={token}") as socket:
        while json.loads(await asyncio.wait_for(socket.recv(), 10)).get("key") != "welcome":
            pass
        await socket.send(json.dumps({"type": "message", "text": "via sentinel"}))
        while (event := json.loads(await asyncio.wait_for(socket.recv(), 10))).get("direction") is None:
            pass
    assert event == {"direction": "INBOUND", "text": "via sentinel"}


def test_celerys_broker_connects_through_the_sentinel(sentinel_url):
    result = load_settings(
        "from chatorical.celery import app; conn = app.connection_for_write(); conn.ensure_connection(max_retries=2);"
        " client = conn.default_channel.client; print(type(client.connection_pool).__name__, client.ping())",
        REDIS_URL=sentinel_url,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-2:] == ["SentinelConnectionPool", "True"]
