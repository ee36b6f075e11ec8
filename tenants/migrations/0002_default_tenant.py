"""Backfill: the v1 deployment becomes the tenant `default`."""

from django.db import migrations


def create_default_tenant(apps, schema_editor):
    Tenant = apps.get_model("tenants", "Tenant")
    Tenant.objects.get_or_create(slug="default", defaults={"name": "Default", "plan": "legacy"})


def remove_default_tenant(apps, schema_editor):
    apps.get_model("tenants", "Tenant").objects.filter(slug="default").delete()


class Migration(migrations.Migration):
    dependencies = [("tenants", "0001_initial")]
    operations = [migrations.RunPython(create_default_tenant, remove_default_tenant)]
