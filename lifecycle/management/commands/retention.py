"""`manage.py retention run [--tenant slug] [--dry-run]`: the retention job, by hand."""

from django.core.management.base import BaseCommand, CommandError

from chatorical.actors import acting_as, cli_actor
from lifecycle.retention import retention_run
from tenants import selectors


class Command(BaseCommand):
    help = "Purge what is past its retention (closed conversations, raw Telegram updates, old audit entries)."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        run = actions.add_parser("run", help="Run the retention job now.")
        run.add_argument("--tenant", help="Only this tenant (its slug).")
        run.add_argument("--dry-run", action="store_true", help="Count what would be purged; delete nothing.")

    def handle(self, *args, action, tenant, dry_run, **options):
        if tenant is not None and selectors.tenant_get(slug=tenant) is None:
            raise CommandError(f"No tenant `{tenant}`.")
        with acting_as(cli_actor("retention run")):
            results = retention_run(tenant_slug=tenant, dry_run=dry_run)
        verb = "would purge" if dry_run else "purged"
        for result in results:
            self.stdout.write(
                f"{result.tenant}: {verb} {result.conversations} conversations, {result.messages} messages, "
                f"{result.telegram_updates} Telegram updates, {result.audit_entries} audit entries"
            )
