import chatorical.ratelimit
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("tenants", "0003_telegram_config"),
    ]

    operations = [
        migrations.AddField(
            model_name="tenant",
            name="rate_limits",
            field=models.JSONField(
                blank=True, default=dict, validators=[chatorical.ratelimit.validate_rate_limits]
            ),
        ),
    ]
