"""Template edits are audited, by whoever makes them."""

from audit.models import AuditEntry
from chatorical import tenancy


def test_template_edits_through_the_api_are_audited(client, tenant_a):
    headers = {"HTTP_AUTHORIZATION": f"Api-Key {tenant_a.key}"}
    created = client.post(
        "/api/v2/templates/",
        {"key": "welcome", "locale": "de", "text": "Hallo!"},
        content_type="application/json",
        **headers,
    )
    assert created.status_code == 201
    template_id = created.json()["id"]
    client.patch(f"/api/v2/templates/{template_id}/", {"text": "Servus!"}, content_type="application/json", **headers)
    client.delete(f"/api/v2/templates/{template_id}/", **headers)
    with tenancy.tenant_context(tenant_a.tenant):
        entries = list(
            AuditEntry.objects.filter(object_type="templates_i18n.messagetemplate")
            .order_by("id")
            .values_list("action", "object_id", "changed_fields", "actor_id")
        )
    prefix = tenant_a.api_key.prefix
    assert entries == [
        ("template.create", str(template_id), ["key", "locale", "text"], prefix),
        ("template.update", str(template_id), ["text"], prefix),
        ("template.delete", str(template_id), [], prefix),
    ]
