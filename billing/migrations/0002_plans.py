from django.db import migrations

# The plans offered at launch; platform staff edit them in the admin afterwards. `legacy`
# is the default tenant's (tenants/migrations/0002): the v1 deployment, unlimited.
PLANS = [
    {
        "code": "free",
        "name": "Free",
        "monthly_price_cents": 0,
        "conversations_per_month": 100,
        "messages_per_month": 2_000,
        "api_calls_per_month": 10_000,
        "widget_origins": 1,
        "admin_seats": 2,
        "retention_days_max": 30,
        "api_rate_multiplier": 1.0,
    },
    {
        "code": "pro",
        "name": "Pro",
        "monthly_price_cents": 4_900,
        "conversations_per_month": 2_000,
        "messages_per_month": 50_000,
        "api_calls_per_month": 200_000,
        "widget_origins": 10,
        "admin_seats": 10,
        "retention_days_max": 365,
        "api_rate_multiplier": 5.0,
    },
    {
        "code": "enterprise",
        "name": "Enterprise",
        "monthly_price_cents": 49_900,
        "conversations_per_month": 50_000,
        "messages_per_month": 1_000_000,
        "api_calls_per_month": 5_000_000,
        "widget_origins": None,
        "admin_seats": None,
        "retention_days_max": None,
        "api_rate_multiplier": 25.0,
    },
    {
        "code": "legacy",
        "name": "Legacy (v1, unlimited)",
        "monthly_price_cents": 0,
        "conversations_per_month": None,
        "messages_per_month": None,
        "api_calls_per_month": None,
        "widget_origins": None,
        "admin_seats": None,
        "retention_days_max": None,
        "api_rate_multiplier": 1.0,
    },
]


def create_plans(apps, schema_editor):
    Plan = apps.get_model("billing", "Plan")
    for plan in PLANS:
        Plan.objects.update_or_create(code=plan["code"], defaults=plan)


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial"), ("tenants", "0002_default_tenant")]

    operations = [migrations.RunPython(create_plans, migrations.RunPython.noop)]
