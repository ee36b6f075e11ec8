"""`manage.py apikey create|revoke`: API keys for the /api/v2 integration API."""

from django.core.management.base import BaseCommand, CommandError

from chatorical.actors import acting_as, cli_actor
from chatorical.errors import ApiError
from tenants import selectors, services


class Command(BaseCommand):
    help = "Create or revoke API keys."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="Create a key; it is printed once, on the last line.")
        create.add_argument("slug")
        create.add_argument("--scopes", required=True, help="Comma-separated, e.g. conversations:read,usage:read.")
        create.add_argument("--name", default="", help="Shown as the agent name of messages the key sends.")
        revoke = actions.add_parser("revoke", help="Revoke a key by its prefix (chk_…) or id.")
        revoke.add_argument("key")

    def handle(self, *args, action, **options):
        handler = getattr(self, f"handle_{action}")
        try:
            with acting_as(cli_actor(f"apikey {action}")):
                handler(**options)
        except ApiError as exc:
            raise CommandError(exc.message) from None

    def handle_create(self, *, slug, scopes, name, **_):
        tenant = selectors.tenant_get(slug=slug)
        if tenant is None:
            raise CommandError(f"No tenant `{slug}`.")
        issued = services.api_key_create(
            tenant=tenant,
            name=name or "Integration",
            scopes=[scope.strip() for scope in scopes.split(",") if scope.strip()],
        )
        key = issued.api_key
        self.stdout.write(f"Created API key {key.prefix} (id {key.id}) for {tenant.slug}: {', '.join(key.scopes)}.")
        self.stdout.write("It is shown once, below; only its hash is kept.")
        self.stdout.write(issued.raw_key)

    def handle_revoke(self, *, key, **_):
        api_key = selectors.api_key_find(prefix_or_id=key)
        if api_key is None:
            raise CommandError(f"No API key with prefix or id `{key}`.")
        services.api_key_revoke(api_key=api_key)
        self.stdout.write(f"Revoked API key {api_key.prefix} (id {api_key.id}) of {api_key.tenant.slug}.")
