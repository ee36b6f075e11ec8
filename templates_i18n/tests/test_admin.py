"""Templates and UI strings in the Django admin: tenant staff edit their tenant's texts,
validated and cached exactly as through the API."""

import re

import pytest

from chatorical import tenancy
from templates_i18n.catalog import ALWAYS_ALLOWED, CATALOGS, SAMPLE_VALUES
from templates_i18n.models import MessageTemplate, UiString
from templates_i18n.selectors import template_text, ui_strings
from templates_i18n.services import text_set
from tenants.models import Membership

TEMPLATES_URL = "/admin/templates_i18n/messagetemplate/"
STRINGS_URL = "/admin/templates_i18n/uistring/"


def staff_of(django_user_model, tenant, role):
    user = django_user_model.objects.create_user(f"{tenant.slug}-{role}", password="pw", is_staff=True)
    with tenancy.tenant_context(tenant):
        Membership.objects.create(user=user, tenant=tenant, role=role)
    return user


@pytest.fixture
def owner_a(client, django_user_model, tenant_a):
    client.force_login(staff_of(django_user_model, tenant_a.tenant, Membership.Role.OWNER))
    return tenant_a


def stored(tenant, kind, key, locale, text):
    with tenancy.tenant_context(tenant):
        return text_set(tenant=tenant, kind=kind, key=key, locale=locale, text=text)


def welcome(tenant, locale=""):
    with tenancy.tenant_context(tenant):
        return template_text(tenant_id=tenant.id, key="welcome", locale=locale)


def rows(tenant, model):
    with tenancy.tenant_context(tenant):
        return list(model.objects.values_list("key", "locale", "text"))


def test_every_placeholder_has_a_sample_value():
    used = set().union(*(entry.placeholders for catalog in CATALOGS.values() for entry in catalog.values()))
    assert used - ALWAYS_ALLOWED <= set(SAMPLE_VALUES)


def test_adding_a_template_goes_through_the_services(client, owner_a):
    tenant = owner_a.tenant
    assert welcome(tenant, "de-AT").startswith("Hi!")  # now cached
    response = client.post(f"{TEMPLATES_URL}add/", {"key": "welcome", "locale": "de_at", "text": "Servus {tenant}\n"})
    assert response.status_code == 302, response.content.decode()[:3000]
    assert rows(tenant, MessageTemplate) == [("welcome", "de-AT", "Servus {tenant}\n")]
    assert welcome(tenant, "de-AT") == "Servus Tenant tenant-a\n", "the cache was invalidated"


def test_adding_a_ui_string(client, owner_a):
    response = client.post(f"{STRINGS_URL}add/", {"key": "send_button", "locale": "de", "text": "Senden"})
    assert response.status_code == 302
    with tenancy.tenant_context(owner_a.tenant):
        assert ui_strings(tenant=owner_a.tenant, locale="de")["send_button"] == "Senden"


@pytest.mark.parametrize(
    "data, field, message",
    [
        ({"key": "welcome", "locale": "en", "text": "Hi {agent}"}, "text", "Unknown placeholder {agent}"),
        ({"key": "welcome", "locale": "en", "text": "Hi {visitor_name!r}"}, "text", "is not allowed"),
        ({"key": "welcome", "locale": "en", "text": "Hi {"}, "text", "Unbalanced braces"),
        ({"key": "welcome", "locale": "not a tag", "text": "Hi"}, "locale", "must be a language tag"),
        ({"key": "nope", "locale": "en", "text": "Hi"}, "key", "Select a valid choice"),
        ({"key": "welcome", "locale": "en", "text": ""}, "text", "This field is required"),
    ],
)
def test_invalid_texts_are_errors_on_the_form(client, owner_a, data, field, message):
    response = client.post(f"{TEMPLATES_URL}add/", data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert message in " ".join(errors[field]), errors
    assert rows(owner_a.tenant, MessageTemplate) == []


def test_a_duplicate_is_an_error_on_the_form(client, owner_a):
    stored(owner_a.tenant, "template", "welcome", "de", "Hallo")
    response = client.post(f"{TEMPLATES_URL}add/", {"key": "welcome", "locale": "DE", "text": "Noch mal"})
    assert response.status_code == 200
    assert "exists already" in " ".join(response.context["adminform"].form.non_field_errors())
    other = stored(owner_a.tenant, "template", "welcome", "fr", "Bonjour")
    response = client.post(f"{TEMPLATES_URL}{other.pk}/change/", {"key": "welcome", "locale": "de", "text": "Bonjour"})
    assert response.status_code == 200
    assert "exists already" in response.content.decode()
    assert sorted(rows(owner_a.tenant, MessageTemplate)) == [("welcome", "de", "Hallo"), ("welcome", "fr", "Bonjour")]


def test_another_tenants_same_key_and_locale_is_no_duplicate(client, owner_a, tenant_b):
    stored(tenant_b.tenant, "template", "welcome", "de", "Hallo von B")
    response = client.post(f"{TEMPLATES_URL}add/", {"key": "welcome", "locale": "de", "text": "Hallo von A"})
    assert response.status_code == 302
    assert rows(tenant_b.tenant, MessageTemplate) == [("welcome", "de", "Hallo von B")]


def test_change_page_previews_the_text_with_sample_values(client, owner_a):
    row = stored(owner_a.tenant, "template", "welcome", "en", "Hi {visitor_name} <b>from</b> {tenant}\nWelcome!")
    page = client.get(f"{TEMPLATES_URL}{row.pk}/change/").content.decode()
    assert "Hi Ada &lt;b&gt;from&lt;/b&gt; Tenant tenant-a<br>Welcome!" in page


def test_editing_and_deleting_take_effect_at_once(client, owner_a):
    tenant = owner_a.tenant
    row = stored(tenant, "template", "welcome", "en", "Before")
    assert welcome(tenant) == "Before"
    response = client.post(f"{TEMPLATES_URL}{row.pk}/change/", {"key": "welcome", "locale": "en", "text": "After"})
    assert response.status_code == 302, response.content.decode()[:3000]
    assert welcome(tenant) == "After"
    assert client.post(f"{TEMPLATES_URL}{row.pk}/delete/", {"post": "yes"}).status_code == 302
    assert welcome(tenant).startswith("Hi!")


def test_bulk_delete_takes_effect_at_once(client, owner_a):
    tenant = owner_a.tenant
    rows_ = [stored(tenant, "template", "welcome", locale, f"Hi {locale}") for locale in ("en", "de")]
    assert welcome(tenant, "de") == "Hi de"
    response = client.post(
        TEMPLATES_URL,
        {"action": "delete_selected", "_selected_action": [str(r.pk) for r in rows_], "post": "yes"},
    )
    assert response.status_code == 302
    assert rows(tenant, MessageTemplate) == []
    assert welcome(tenant, "de").startswith("Hi!")


def test_changelist_filters_by_key_and_locale_within_the_tenant(client, owner_a, tenant_b):
    stored(owner_a.tenant, "template", "welcome", "de", "welcome-de of a")
    stored(owner_a.tenant, "template", "offline", "fr", "offline-fr of a")
    stored(tenant_b.tenant, "template", "welcome", "pt-BR", "welcome-pt of b")
    listing = client.get(TEMPLATES_URL).content.decode()
    assert "welcome-de of a" in listing and "offline-fr of a" in listing
    assert "of b" not in listing and "pt-BR" not in listing, "filter choices leak no other tenant's locales"
    by_key = client.get(f"{TEMPLATES_URL}?key=welcome").content.decode()
    assert "welcome-de of a" in by_key and "offline-fr of a" not in by_key
    by_locale = client.get(f"{TEMPLATES_URL}?locale=fr").content.decode()
    assert "offline-fr of a" in by_locale and "welcome-de of a" not in by_locale


def test_a_post_to_another_tenants_text_changes_nothing(client, owner_a, tenant_b):
    theirs = stored(tenant_b.tenant, "ui", "title", "en", "B's title")
    client.post(f"{STRINGS_URL}{theirs.pk}/change/", {"key": "title", "locale": "en", "text": "Hijacked"})
    client.post(f"{STRINGS_URL}{theirs.pk}/delete/", {"post": "yes"})
    client.post(STRINGS_URL, {"action": "delete_selected", "_selected_action": [str(theirs.pk)], "post": "yes"})
    assert rows(tenant_b.tenant, UiString) == [("title", "en", "B's title")]


@pytest.mark.parametrize("role", [Membership.Role.VIEWER, Membership.Role.AGENT])
def test_viewers_and_agents_read_but_cannot_change(client, django_user_model, tenant_a, role):
    row = stored(tenant_a.tenant, "template", "welcome", "en", "Hello")
    client.force_login(staff_of(django_user_model, tenant_a.tenant, role))
    assert client.get(f"{TEMPLATES_URL}{row.pk}/change/").status_code == 200
    data = {"key": "welcome", "locale": "en", "text": "Changed"}
    assert client.post(f"{TEMPLATES_URL}{row.pk}/change/", data).status_code == 403
    assert client.post(f"{TEMPLATES_URL}add/", data).status_code == 403
    assert rows(tenant_a.tenant, MessageTemplate) == [("welcome", "en", "Hello")]


def test_superuser_sees_every_tenant_and_picks_the_tenant_of_a_new_text(client, django_user_model, tenant_a, tenant_b):
    stored(tenant_a.tenant, "template", "welcome", "en", "welcome of a")
    stored(tenant_b.tenant, "template", "welcome", "en", "welcome of b")
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw"))
    listing = client.get(TEMPLATES_URL).content.decode()
    assert "welcome of a" in listing and "welcome of b" in listing
    data = {"tenant": tenant_b.tenant.pk, "key": "welcome", "locale": "en", "text": "again"}
    duplicate = client.post(f"{TEMPLATES_URL}add/", data)
    assert duplicate.status_code == 200 and "exists already" in duplicate.content.decode()
    response = client.post(f"{TEMPLATES_URL}add/", {**data, "locale": "de", "text": "Hallo {tenant}"})
    assert response.status_code == 302, response.content.decode()[:3000]
    assert welcome(tenant_b.tenant, "de") == "Hallo Tenant tenant-b"
    assert rows(tenant_a.tenant, MessageTemplate) == [("welcome", "en", "welcome of a")]


def test_text_pages_work_under_the_content_security_policy(client, owner_a):
    """The policy allows no inline script: the pages must have none."""
    row = stored(owner_a.tenant, "template", "welcome", "en", "Hello")
    for page in (TEMPLATES_URL, f"{TEMPLATES_URL}add/", f"{TEMPLATES_URL}{row.pk}/change/", f"{STRINGS_URL}add/"):
        response = client.get(page)
        assert response.status_code == 200, page
        html = response.content.decode()
        for tag in re.findall(r"<script[^>]*>", html):
            assert "src=" in tag or "application/json" in tag, (page, tag)
        assert not re.search(r"\son[a-z]+=", html), page
