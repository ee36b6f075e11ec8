import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from chatorical.errors import ApiError
from templates_i18n import services
from templates_i18n.models import LegacyMessageTemplate, MessageTemplate
from templates_i18n.rendering import render
from templates_i18n.selectors import resolve, template_text, ui_strings


def set_template(tenant, key, locale, text):
    return services.text_set(tenant=tenant, kind="template", key=key, locale=locale, text=text)


def test_fallback_exact_then_language_then_tenant_default_then_builtin(in_default_tenant):
    tenant = in_default_tenant
    set_template(tenant, "welcome", "de", "Hallo!")
    set_template(tenant, "welcome", "de-CH", "Grüezi!")
    assert resolve(tenant=tenant, kind="template", key="welcome", locale="de-CH").step == "exact"
    assert template_text(tenant_id=tenant.id, key="welcome", locale="de_ch") == "Grüezi!"
    resolved = resolve(tenant=tenant, kind="template", key="welcome", locale="de-AT")
    assert (resolved.text, resolved.step) == ("Hallo!", "language")
    tenant.default_locale = "de"
    assert resolve(tenant=tenant, kind="template", key="welcome", locale="xx-unknown").step == "tenant_default"
    tenant.default_locale = "en"
    resolved = resolve(tenant=tenant, kind="template", key="welcome", locale="pt-BR")
    assert resolved.step == "builtin" and resolved.text.startswith("Hi!")


def test_ui_strings_fall_back_key_by_key(in_default_tenant):
    services.text_set(tenant=in_default_tenant, kind="ui", key="send_button", locale="de", text="Senden")
    strings = ui_strings(tenant=in_default_tenant, locale="de-AT")
    assert strings["send_button"] == "Senden"
    assert strings["start_button"] == "Start chat"


def test_edits_take_effect_without_a_restart(in_default_tenant):
    assert template_text(tenant_id=in_default_tenant.id, key="welcome").startswith("Hi!")
    row = set_template(in_default_tenant, "welcome", "en", "Welcome to {tenant}!")
    assert template_text(tenant_id=in_default_tenant.id, key="welcome") == "Welcome to Default!"
    services.text_update(row=row, text="Hello again")
    assert template_text(tenant_id=in_default_tenant.id, key="welcome") == "Hello again"
    services.text_delete(row=row)
    assert template_text(tenant_id=in_default_tenant.id, key="welcome").startswith("Hi!")


def test_tenants_do_not_see_each_others_texts(in_default_tenant, other_tenant):
    from chatorical import tenancy

    with tenancy.tenant_context(other_tenant):
        set_template(other_tenant, "welcome", "en", "Acme says hi")
    assert not template_text(tenant_id=in_default_tenant.id, key="welcome").startswith("Acme")


@pytest.mark.parametrize(
    "text, code",
    [
        ("Hi {visitor}", "unknown_placeholder"),
        ("Hi {visitor_name.__class__}", "invalid_placeholder"),
        ("Hi {visitor_name[0]}", "invalid_placeholder"),
        ("Hi {visitor_name!r}", "invalid_placeholder"),
        ("Hi {visitor_name:>99999}", "invalid_placeholder"),
        ("Hi {", "invalid_template"),
        ("", "empty_text"),
    ],
)
def test_placeholders_are_validated_on_save(in_default_tenant, text, code):
    with pytest.raises(ApiError) as error:
        set_template(in_default_tenant, "welcome", "en", text)
    assert error.value.code == code
    assert not MessageTemplate.objects.exists()


def test_unknown_key_and_bad_locale_are_refused(in_default_tenant):
    with pytest.raises(ApiError) as error:
        set_template(in_default_tenant, "nope", "en", "x")
    assert error.value.code == "unknown_key"
    with pytest.raises(ApiError) as error:
        set_template(in_default_tenant, "welcome", "not a locale", "x")
    assert error.value.code == "invalid_locale"


def test_rendering_is_plain_substitution():
    assert render("Hi {visitor_name}, {{literal}}", {"visitor_name": "{tenant}"}) == "Hi {tenant}, {literal}"
    assert render("Hi {visitor_name}", {}) == "Hi "


def test_legacy_templates_are_the_fallback_until_v2_templates_exist(in_default_tenant):
    LegacyMessageTemplate.objects.create(key="welcome", locale="de", text="Willkommen (v1)")
    from django.core.cache import cache

    cache.delete("texts:legacy")
    resolved = resolve(tenant=in_default_tenant, kind="template", key="welcome", locale="de-AT")
    assert (resolved.text, resolved.step) == ("Willkommen (v1)", "legacy")
    set_template(in_default_tenant, "offline", "en", "Back soon")
    assert resolve(tenant=in_default_tenant, kind="template", key="welcome", locale="de-AT").step == "builtin"


@pytest.mark.django_db(transaction=True)
def test_migration_copies_legacy_rows_forwards_and_removes_them_backwards(default_tenant):
    executor = MigrationExecutor(connection)
    executor.migrate([("templates_i18n", "0001_initial")])
    LegacyMessageTemplate.objects.create(key="welcome", locale="de_AT", text="Servus (v1)")
    executor = MigrationExecutor(connection)
    executor.migrate([("templates_i18n", "0002_copy_legacy_templates")])
    from chatorical import tenancy

    with tenancy.tenant_context(default_tenant):
        copied = MessageTemplate.objects.get()
        assert (copied.key, copied.locale, copied.text) == ("welcome", "de-AT", "Servus (v1)")
    executor = MigrationExecutor(connection)
    executor.migrate([("templates_i18n", "0001_initial")])
    with tenancy.tenant_context(default_tenant):
        assert not MessageTemplate.objects.exists()
    assert LegacyMessageTemplate.objects.count() == 1
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_a_malformed_stored_text_renders_as_written():
    """v1 rows were stored unvalidated; one with a stray brace must not break the socket."""
    assert render("Hi {visitor_name", {"visitor_name": "Ada"}) == "Hi {visitor_name"
