"""GET /api/v2/exports/stream: every conversation with its messages, as JSON lines."""

import json

import httpx
import pytest
from django.db import connection

from conversations.models import Conversation, Message
from conversations.tests.factories import conversation_for, message_for
from tenants.models import ApiKey
from tenants.services import api_key_create


def key_header(key):
    return {"HTTP_AUTHORIZATION": f"Api-Key {key}"}


def exported(client, key) -> list[dict]:
    response = client.get("/api/v2/exports/stream?format=jsonl", **key_header(key))
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "application/x-ndjson"
    return [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]


def test_each_conversation_is_followed_by_its_messages(client, tenant_a, tenant_b):
    empty = conversation_for(tenant_a.tenant, visitor_name="Silent")
    chatty = conversation_for(tenant_a.tenant, visitor_name="Chatty", locale="fr", page_url="https://a.example/x")
    for i in range(3):
        message_for(chatty, text=f"bonjour {i}")
    lines = exported(client, tenant_a.key)
    shape = [(line["type"], line.get("visitor_name") or line.get("text")) for line in lines]
    assert shape == [
        ("conversation", "Visitor of tenant-a"),
        ("message", "hello from tenant-a"),
        ("message", "answer of tenant-a"),
        ("conversation", "Silent"),
        ("conversation", "Chatty"),
        ("message", "bonjour 0"),
        ("message", "bonjour 1"),
        ("message", "bonjour 2"),
    ]
    assert lines[4]["id"] == str(chatty.id) and lines[4]["locale"] == "fr"
    assert lines[4]["page_url"] == "https://a.example/x"
    assert all(line["conversation_id"] == str(chatty.id) for line in lines[5:])
    assert [line["seq"] for line in lines[5:]] == [1, 2, 3]
    assert lines[3]["id"] == str(empty.id)
    text = json.dumps(lines)
    assert "tenant-b" not in text and str(tenant_b.conversation.id) not in text


def test_the_stream_needs_its_scope_and_a_known_format(client, tenant_a):
    usage_only = api_key_create(tenant=tenant_a.tenant, name="Usage", scopes=[ApiKey.Scope.USAGE_READ]).raw_key
    assert client.get("/api/v2/exports/stream", **key_header(usage_only)).status_code == 403
    response = client.get("/api/v2/exports/stream?format=csv", **key_header(tenant_a.key))
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["format"]


def test_the_v1_admin_export_keeps_its_shape(client, default_tenant, settings):
    conversation = conversation_for(default_tenant, visitor_name="Ada")
    message_for(conversation, text="hi")
    body = client.get("/v1/admin/export", HTTP_AUTHORIZATION=f"Bearer {settings.SERVICE_TOKEN}").json()
    assert set(body) == {"conversations", "page", "page_size", "total", "has_next"}
    assert [m["text"] for m in body["conversations"][0]["messages"]] == ["hi"]


MESSAGES = 20_000
TEXT_CHARS = 4000  # 20,000 messages of 4,000 characters: 80 MB, well above the bound


def _peak_rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


@pytest.mark.processes
@pytest.mark.django_db(transaction=True)
def test_a_large_export_streams_in_constant_memory(start_server, tenant_a, tenant_b):
    """Measured on the serving process itself, a real daphne (the production server): its
    peak resident memory (VmHWM) before and after streaming 80 MB of messages. Collecting
    the export in memory anywhere (Django does, for a synchronous iterator under ASGI)
    would raise the peak by more than the whole export."""
    conversations = [conversation_for(tenant_a.tenant) for _ in range(20)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {Message._meta.db_table}
                (tenant_id, conversation_id, seq, direction, text, agent_name, created_at)
            SELECT %s, (%s::uuid[])[1 + (n - 1) %% 20], 100 + n, 'INBOUND', repeat(md5(n::text), %s), '', now()
            FROM generate_series(1, %s) AS n
            """,
            [tenant_a.tenant.id, [str(c.id) for c in conversations], TEXT_CHARS // 32, MESSAGES],
        )
    server = start_server()
    url = f"{server.url}/api/v2/exports/stream?format=jsonl"

    def stream(key) -> tuple[int, int]:
        lines = size = 0
        with httpx.stream("GET", url, headers={"Authorization": f"Api-Key {key}"}, timeout=120) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                lines += 1
                size += len(line)
        return lines, size

    # Warm-up on the same path (imports, connections, first allocations), with a small tenant.
    assert stream(tenant_b.key)[0] == 3
    before = _peak_rss_kb(server.process.pid)
    lines, size = stream(tenant_a.key)
    growth_mb = (_peak_rss_kb(server.process.pid) - before) / 1024

    expected_lines = Conversation._base_manager.filter(tenant=tenant_a.tenant).count() + MESSAGES + 2
    assert lines == expected_lines
    assert size > MESSAGES * TEXT_CHARS
    assert growth_mb < 50, f"peak RSS grew by {growth_mb:.1f} MB while streaming {size / 2**20:.0f} MB"
