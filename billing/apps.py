from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class BillingConfig(AppConfig):
    name = "billing"

    def ready(self):
        from billing import handlers  # noqa: F401  (registers the outbox handler)
        from billing.cli import PLAN_SUBCOMMAND
        from billing.models import Plan
        from billing.policy import BillingPolicy
        from billing.selectors import plan_for, plans_forget
        from chatorical import plans
        from tenants.cli import subcommand_register
        from tenants.retention import retention_ceiling_register

        plans.policy_register(BillingPolicy())
        subcommand_register(PLAN_SUBCOMMAND)
        retention_ceiling_register(lambda tenant: getattr(plan_for(tenant), "retention_days_max", None))
        for signal in (post_save, post_delete):
            signal.connect(lambda **_: plans_forget(), sender=Plan, weak=False, dispatch_uid=f"plans-forget-{signal}")
