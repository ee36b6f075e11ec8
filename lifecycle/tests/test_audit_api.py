"""The audit log through /api/v2: GET audit/ (filters, pages) and GET audit/export."""

import csv
import io
import json
from datetime import timedelta

from django.utils import timezone

from chatorical.actors import Actor
from chatorical.audit_trail import audit_record
from tenants.models import ApiKey
from tenants.services import api_key_create, api_key_revoke


def key_header(key):
    return {"HTTP_AUTHORIZATION": f"Api-Key {key}"}


def streamed(response) -> str:
    assert response.streaming
    return b"".join(response.streaming_content).decode()


def test_list_shows_the_tenants_entries_oldest_first_and_filters(client, tenant_a, tenant_b):
    revoked = api_key_create(tenant=tenant_a.tenant, name="Old key", scopes=[ApiKey.Scope.USAGE_READ]).api_key
    api_key_revoke(api_key=revoked)
    audit_record(
        tenant_id=tenant_a.tenant.id,
        action="conversation.claim",
        object_type="conversations.conversation",
        object_id="c1",
        actor=Actor(type="telegram_agent", id="4242", name="grace"),
    )
    response = client.get("/api/v2/audit/", **key_header(tenant_a.key))
    assert response.status_code == 200
    actions = [entry["action"] for entry in response.json()["results"]]
    # The fixture's own key, then the two above.
    assert actions == ["api_key.create", "api_key.create", "api_key.revoke", "conversation.claim"]
    revoke = response.json()["results"][2]
    assert revoke["object_id"] == str(revoked.pk) and revoke["changed_fields"] == ["revoked_at"]
    assert revoke["detail"] == {"prefix": revoked.prefix, "name": "Old key"}

    by_agent = client.get("/api/v2/audit/?actor_type=telegram_agent&actor_id=4242", **key_header(tenant_a.key))
    assert [e["actor_name"] for e in by_agent.json()["results"]] == ["grace"]
    by_action = client.get("/api/v2/audit/?action=api_key.revoke", **key_header(tenant_a.key))
    assert by_action.json()["count"] == 1
    future = (timezone.now() + timedelta(hours=1)).isoformat()
    assert client.get("/api/v2/audit/", {"since": future}, **key_header(tenant_a.key)).json()["count"] == 0
    assert client.get("/api/v2/audit/", {"until": future}, **key_header(tenant_a.key)).json()["count"] == 4

    paged = client.get("/api/v2/audit/?page_size=3", **key_header(tenant_a.key)).json()
    assert paged["count"] == 4 and len(paged["results"]) == 3 and paged["next"]


def test_nothing_of_another_tenant_appears(client, tenant_a, tenant_b):
    audit_record(tenant_id=tenant_b.tenant.id, action="secret.of_b", object_type="x", object_id=str(tenant_b.tenant.pk))
    listed = client.get("/api/v2/audit/", **key_header(tenant_a.key)).json()["results"]
    exported = streamed(client.get("/api/v2/audit/export?format=jsonl", **key_header(tenant_a.key)))
    assert listed and all(entry["action"] != "secret.of_b" for entry in listed)
    assert "secret.of_b" not in exported and tenant_b.api_key.prefix not in exported
    assert tenant_a.api_key.prefix in exported


def test_bad_filters_are_a_clear_400(client, tenant_a):
    for query in (
        "since=yesterday",
        "actor_type=robot",
        "format=xml",
        "since=2030-01-01T00:00Z&until=2020-01-01T00:00Z",
    ):
        path = "/api/v2/audit/export" if query.startswith("format") else "/api/v2/audit/"
        response = client.get(f"{path}?{query}", **key_header(tenant_a.key))
        assert response.status_code == 400, query
        assert response.json()["error"]["code"] == "invalid"


def test_the_audit_needs_its_scope(client, tenant_a):
    reader = api_key_create(tenant=tenant_a.tenant, name="Reader", scopes=[ApiKey.Scope.EXPORTS_READ]).raw_key
    assert client.get("/api/v2/audit/", **key_header(reader)).status_code == 403
    assert client.get("/api/v2/audit/export", **key_header(reader)).status_code == 403
    assert client.get("/api/v2/audit/").status_code == 401


def test_export_as_json_lines_and_csv(client, tenant_a):
    audit_record(
        tenant_id=tenant_a.tenant.id,
        action="template.update",
        object_type="templates_i18n.template",
        object_id="5",
        changed_fields=["text", "locale"],
        detail={"key": "welcome", "locale": "de"},
    )
    response = client.get("/api/v2/audit/export?format=jsonl&action=template.update", **key_header(tenant_a.key))
    assert response["Content-Type"] == "application/x-ndjson"
    assert 'filename="tenant-a-audit.jsonl"' in response["Content-Disposition"]
    lines = [json.loads(line) for line in streamed(response).splitlines()]
    assert [(line["action"], line["changed_fields"], line["detail"]) for line in lines] == [
        ("template.update", ["locale", "text"], {"key": "welcome", "locale": "de"})
    ]

    response = client.get("/api/v2/audit/export?format=csv", **key_header(tenant_a.key))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(streamed(response))))
    # The export is recorded as it starts, so it lists itself (and the export before it).
    assert [row["action"] for row in rows] == ["api_key.create", "template.update", "audit.export", "audit.export"]
    assert json.loads(rows[1]["changed_fields"]) == ["locale", "text"]
    # Each export is itself recorded, with the filters it used.
    exports = client.get("/api/v2/audit/?action=audit.export", **key_header(tenant_a.key)).json()["results"]
    assert [(e["detail"]["format"], e["detail"]["filters"]) for e in exports] == [
        ("jsonl", {"action": "template.update"}),
        ("csv", {}),
    ]


def test_api_writes_are_audited(client, tenant_a):
    conversation_id = tenant_a.conversation.id
    sent = client.post(
        f"/api/v2/conversations/{conversation_id}/messages/",
        {"text": "Shipped."},
        content_type="application/json",
        **key_header(tenant_a.key),
    )
    assert sent.status_code == 201
    client.post(f"/api/v2/conversations/{conversation_id}/close/", **key_header(tenant_a.key))
    entries = client.get(f"/api/v2/audit/?object_id={conversation_id}", **key_header(tenant_a.key)).json()["results"]
    assert [(e["action"], e["actor_type"], e["actor_id"], e["detail"]) for e in entries] == [
        ("message.create", "api_key", tenant_a.api_key.prefix, {"seq": 3}),
        ("conversation.close", "api_key", tenant_a.api_key.prefix, {}),
    ]
    assert entries[0]["request_id"] == sent["X-Request-Id"]
