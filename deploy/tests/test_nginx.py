"""Debian's nginx running deploy/nginx/chatorical.conf in front of two real daphne instances."""

import asyncio
import json
import re
import subprocess
import sys

import httpx
import pytest
import websockets
from django.conf import settings

from chatorical.testing import ROOT, ServerProcess, process_env, wait_until
from deploy.testing import NGINX_CONF, NginxProcess

# One pytest-xdist worker runs the module, so its nginx and daphne instances start once.
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("default_tenant"),
    pytest.mark.processes,
    pytest.mark.xdist_group("nginx"),
]

SITE = "https://tenant-a.example"


def collect_static(parent):
    """collectstatic's output in a directory of its own: nginx's `root` holds `static/`."""
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=process_env(STATIC_ROOT=parent / "static"),
        check=True,
    )
    return parent


@pytest.fixture(scope="module")
def behind_nginx(django_db_setup, django_db_blocker, tmp_path_factory):
    """One nginx and two daphne instances for the module: starting them is most of its time."""
    workdir = tmp_path_factory.mktemp("nginx")
    with django_db_blocker.unblock():
        instances = [ServerProcess(), ServerProcess()]
        static_parent = collect_static(workdir / "public")
    proxy = NginxProcess(workdir, upstream_ports=[i.port for i in instances], static_parent=static_parent)
    try:
        yield proxy.start()
    finally:
        proxy.stop()
        for instance in instances:
            instance.stop()


async def receive_json(socket):
    return json.loads(await asyncio.wait_for(socket.recv(), 10))


async def receive_until(socket, predicate):
    while True:
        event = await receive_json(socket)
        if predicate(event):
            return event


def test_nginx_t_accepts_the_config(tmp_path):
    proxy = NginxProcess(tmp_path, upstream_ports=[1, 2], static_parent=tmp_path)
    result = proxy.test_config()
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_body_limit_matches_the_apps():
    limit = re.search(r"client_max_body_size (\d+)k;", NGINX_CONF.read_text())
    assert int(limit.group(1)) * 1024 == settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def test_widget_scripts_are_served_by_nginx_compressed_and_cacheable(behind_nginx):
    v1 = httpx.get(f"{behind_nginx.url}/widget.js", headers={"Accept-Encoding": "gzip"})
    assert v1.status_code == 200
    assert v1.headers["content-encoding"] == "gzip"
    assert v1.headers["cache-control"] == "public, max-age=300"
    assert v1.headers["access-control-allow-origin"] == "*"
    assert v1.headers["content-type"].startswith("application/javascript")
    assert v1.headers["x-content-type-options"] == "nosniff"
    assert v1.content == (ROOT / "widget_static/static/widget_static/widget-v1.js").read_bytes()
    # The app stamps every response it makes with a request id; nginx served this one alone.
    assert "x-request-id" not in v1.headers

    v2 = httpx.get(f"{behind_nginx.url}/widget/v2.js")
    assert v2.status_code == 200 and v2.headers["etag"]
    revalidated = httpx.get(f"{behind_nginx.url}/widget/v2.js", headers={"If-None-Match": v2.headers["etag"]})
    assert revalidated.status_code == 304

    raw = httpx.get(f"{behind_nginx.url}/static/widget_static/widget-v2.js", headers={"Accept-Encoding": "gzip"})
    assert raw.headers["cache-control"] == "public, max-age=3600"
    assert raw.headers["content-encoding"] == "gzip"
    assert raw.content == (ROOT / "widget_static/static/widget_static/widget-v2.js").read_bytes()


def test_api_responses_keep_the_apps_headers_and_are_not_compressed(behind_nginx):
    response = httpx.post(
        f"{behind_nginx.url}/v1/start",
        json={"name": "Ada"},
        headers={"X-Request-Id": "through-nginx-1", "Accept-Encoding": "gzip"},
    )
    assert response.status_code == 201
    assert response.headers["x-request-id"] == "through-nginx-1"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert "content-encoding" not in response.headers
    assert "nginx/" not in response.headers.get("server", "")


def test_a_too_large_body_is_refused_by_nginx_with_the_json_error(behind_nginx):
    response = httpx.post(
        f"{behind_nginx.url}/v1/start",
        content=b"x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"  # as the app answers


async def test_v1_socket_through_nginx_reaches_both_instances(behind_nginx):
    async with httpx.AsyncClient() as client:
        started = (await client.post(f"{behind_nginx.url}/v1/start", json={"name": "Ada"})).json()
    token = started["token"]
    # Round robin: the two sockets land on different instances, and a message crosses between them.
    async with (
        websockets.connect(f"{behind_nginx.ws_url}/v1/ws?token={token}") as first,
        websockets.connect(f"{behind_nginx.ws_url}/v1/ws?token={token}") as second,
    ):
        for socket in (first, second):
            assert (await receive_json(socket))["key"] == "welcome"
        await first.send(json.dumps({"type": "message", "text": "through nginx"}))
        expected = {"direction": "INBOUND", "text": "through nginx"}
        assert await receive_until(second, lambda event: "direction" in event) == expected
        assert await receive_until(first, lambda event: "direction" in event) == expected
    assert len(behind_nginx.upstreams_used()) == 2


async def test_v2_socket_resumes_by_seq_through_nginx(behind_nginx, tenant_a):
    base = f"{behind_nginx.url}/v2/tenants/{tenant_a.tenant.slug}/conversations"
    async with httpx.AsyncClient(headers={"Origin": SITE}) as client:
        conversation_id = (await client.post(base, json={"name": "Ada"})).json()["conversation_id"]

        async def token():
            return (await client.post(f"{base}/{conversation_id}/token")).json()["token"]

        async with websockets.connect(f"{behind_nginx.ws_url}/v2/ws?token={await token()}", origin=SITE) as socket:
            await receive_until(socket, lambda event: event.get("key") == "welcome")
            await socket.send(json.dumps({"type": "message", "text": "first"}))
            first = await receive_until(socket, lambda event: "seq" in event)
            await socket.send(json.dumps({"type": "message", "text": "second"}))
            await receive_until(socket, lambda event: event.get("text") == "second")

        resume_url = f"{behind_nginx.ws_url}/v2/ws?token={await token()}&after_seq={first['seq']}"
        async with websockets.connect(resume_url, origin=SITE) as socket:
            backlog = [event async for event in _until_welcome(socket)]
    assert [event["text"] for event in backlog if "direction" in event] == ["second"]


async def _until_welcome(socket):
    while (event := await receive_json(socket)).get("key") != "welcome":
        yield event


def test_rate_limits_count_the_visitors_address_not_nginxs(behind_nginx):
    """Visitors on 127.0.0.2 and 127.0.0.3 reach nginx; the app sees only nginx's 127.0.0.1."""

    def visitor(address):
        return httpx.Client(transport=httpx.HTTPTransport(local_address=address), base_url=behind_nginx.url)

    with visitor("127.0.0.2") as busy, visitor("127.0.0.3") as other:
        statuses = [busy.post("/v1/start", json={}).status_code for _ in range(10)]
        assert statuses == [201] * 10
        limited = busy.post("/v1/start", json={})
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) > 0
        assert limited.json()["error"]["code"] == "rate_limited"
        # A visitor who claims another address in X-Forwarded-For is still counted as himself.
        spoofed = busy.post("/v1/start", json={}, headers={"X-Forwarded-For": "203.0.113.9"})
        assert spoofed.status_code == 429
        assert other.post("/v1/start", json={}).status_code == 201


def test_the_access_log_holds_no_webhook_secret_nor_socket_token(behind_nginx):
    path_secret, token = "a-path-secret-that-must-not-be-logged-0123456789", "a.socket.token-never-logged"
    httpx.post(f"{behind_nginx.url}/v2/telegram/webhook/{path_secret}", json={"update_id": 1})
    httpx.get(f"{behind_nginx.url}/v1/ws?token={token}")

    def log_with_the_socket_request() -> str:
        logged = behind_nginx.access_log.read_text()
        return logged if "/v1/ws " in logged else ""

    # nginx writes a request's line once it is done with it, which can be after the answer.
    logged = wait_until(log_with_the_socket_request, what="the socket request's line in nginx's access log")
    assert "/v2/telegram/webhook/<redacted>" in logged and "/v1/ws " in logged
    assert path_secret not in logged and token not in logged
