"""Migration safety: the v1 templates become the default tenant's v2 templates."""

from django.db import migrations

from chatorical.validation import normalize_locale


def copy_legacy(apps, schema_editor):
    Tenant = apps.get_model("tenants", "Tenant")
    Legacy = apps.get_model("templates_i18n", "LegacyMessageTemplate")
    Template = apps.get_model("templates_i18n", "MessageTemplate")
    default = Tenant.objects.filter(slug="default").first()
    if default is None:
        return
    for legacy in Legacy.objects.all():
        Template.objects.get_or_create(
            tenant=default,
            locale=normalize_locale(legacy.locale) or "en",
            key=legacy.key,
            defaults={"text": legacy.text},
        )


def remove_copies(apps, schema_editor):
    Legacy = apps.get_model("templates_i18n", "LegacyMessageTemplate")
    Template = apps.get_model("templates_i18n", "MessageTemplate")
    for legacy in Legacy.objects.all():
        Template.objects.filter(
            tenant__slug="default",
            locale=normalize_locale(legacy.locale) or "en",
            key=legacy.key,
            text=legacy.text,
        ).delete()


class Migration(migrations.Migration):
    dependencies = [("templates_i18n", "0001_initial"), ("tenants", "0002_default_tenant")]
    operations = [migrations.RunPython(copy_legacy, remove_copies)]
