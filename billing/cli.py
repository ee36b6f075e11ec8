"""`manage.py tenant plan <slug> <code>`: registered into the tenant command (tenants/cli.py)."""

import getpass

from django.core.management.base import CommandError

from billing import services
from billing.models import BillingEvent
from tenants.cli import Subcommand
from tenants.selectors import tenant_get


def _add_arguments(parser) -> None:
    parser.add_argument("slug")
    parser.add_argument("code", help="The plan's code, e.g. free, pro, enterprise.")
    parser.add_argument("--reason", default="", help="Why, for the tenant's billing history.")


def _handle(command, *, slug, code, reason, **_) -> None:
    tenant = tenant_get(slug=slug)
    if tenant is None:
        raise CommandError(f"No tenant `{slug}`.")
    previous = tenant.plan
    tenant = services.tenant_plan_set(
        tenant=tenant, code=code, source=BillingEvent.Source.CLI, actor=f"cli {getpass.getuser()}", reason=reason
    )
    if previous == tenant.plan:
        command.stdout.write(f"{tenant.slug} is already on plan {tenant.plan}.")
    else:
        command.stdout.write(f"{tenant.slug}: plan {previous} -> {tenant.plan}.")


PLAN_SUBCOMMAND = Subcommand(
    name="plan",
    help="Put a tenant on a plan (recorded in its billing history).",
    add_arguments=_add_arguments,
    handle=_handle,
)
