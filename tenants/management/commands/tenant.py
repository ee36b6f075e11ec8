"""`manage.py tenant create|list|telegram|retention|rotate-keys`: the operator's tenant
commands, and those other apps register (tenants/cli.py), such as billing's `plan`."""

import functools

from django.core.management.base import BaseCommand, CommandError

from chatorical.actors import acting_as, cli_actor
from chatorical.errors import ApiError
from tenants import cli, crypto, selectors, services


class Command(BaseCommand):
    help = "Create and list tenants, set their Telegram bot, re-encrypt their secrets."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)

        create = actions.add_parser("create", help="Create a tenant.")
        create.add_argument("slug")
        create.add_argument("--name", required=True)
        create.add_argument(
            "--origin", action="append", default=[], help="An origin the widget may run on (repeatable)."
        )
        create.add_argument("--locale", default="en")
        create.add_argument("--plan", default="free")

        actions.add_parser("list", help="List tenants.")

        telegram = actions.add_parser("telegram", help="Store a tenant's Telegram bot (encrypted).")
        telegram.add_argument("slug")
        telegram.add_argument("--bot-token", required=True)
        telegram.add_argument("--support-group-id", required=True, type=int)
        telegram.add_argument(
            "--webhook-secret", default="", help="The v2 path secret (32+ characters); generated when not given."
        )
        telegram.add_argument(
            "--header-secret", default="", help="X-Telegram-Bot-Api-Secret-Token; generated when not given."
        )
        telegram.add_argument(
            "--set-webhook", action="store_true", help="Also point the bot's webhook at this deployment."
        )
        telegram.add_argument("--base-url", help="This deployment's public URL, for --set-webhook.")

        retention = actions.add_parser("retention", help="Set how many days closed conversations are kept.")
        retention.add_argument("slug")
        retention.add_argument("--days", required=True, type=int, help="0 keeps them for good.")

        actions.add_parser(
            "rotate-keys", help="Re-encrypt every tenant's secrets with the first key of CHANNEL_CONFIG_KEYS."
        )
        for subcommand in cli.subcommands():
            subcommand.add_arguments(actions.add_parser(subcommand.name, help=subcommand.help))

    def handle(self, *args, action, **options):
        registered = {subcommand.name: subcommand for subcommand in cli.subcommands()}
        if action in registered:
            handler = functools.partial(registered[action].handle, self)
        else:
            handler = getattr(self, f"handle_{action.replace('-', '_')}")
        try:
            with acting_as(cli_actor(f"tenant {action}")):
                handler(**options)
        except ApiError as exc:
            raise CommandError(exc.message) from None

    def handle_create(self, *, slug, name, origin, locale, plan, **_):
        tenant = services.tenant_create(slug=slug, name=name, origins=origin, locale=locale, plan=plan)
        self.stdout.write(f"Created tenant {tenant.slug} (id {tenant.id}).")
        if not tenant.allowed_origins:
            self.stdout.write("No --origin given: no website may embed its widget until origins are added.")

    def handle_list(self, **_):
        rows = [("slug", "name", "status", "plan", "locale", "telegram", "api keys", "origins")]
        for tenant in selectors.tenant_list():
            rows.append(
                (
                    tenant.slug,
                    tenant.name,
                    tenant.status,
                    tenant.plan,
                    tenant.default_locale,
                    "yes" if tenant.has_telegram else "no",
                    str(tenant.api_key_count),
                    " ".join(tenant.allowed_origins) or "-",
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
        for row in rows:
            self.stdout.write(
                "  ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
            )

    def handle_telegram(
        self, *, slug, bot_token, support_group_id, webhook_secret, header_secret, set_webhook, base_url, **_
    ):
        tenant = selectors.tenant_get(slug=slug)
        if tenant is None:
            raise CommandError(f"No tenant `{slug}`.")
        set_webhook_fn = self._set_webhook_function(base_url) if set_webhook else None
        generated = {}
        if not webhook_secret:
            webhook_secret = generated["webhook secret"] = services.telegram_secret_generate()
        if not header_secret:
            header_secret = generated["header secret"] = services.telegram_secret_generate()
        services.telegram_config_set(
            tenant=tenant,
            bot_token=bot_token,
            support_group_id=support_group_id,
            webhook_secret=webhook_secret,
            header_secret=header_secret,
        )
        self.stdout.write(f"Stored the Telegram settings of {tenant.slug} (encrypted).")
        for name, value in generated.items():
            self.stdout.write(f"Generated {name} (shown once, stored encrypted): {value}")
        if set_webhook_fn is not None:
            set_webhook_fn(tenant=tenant, base_url=base_url)
            self.stdout.write(f"Webhook of {tenant.slug} set.")

    @staticmethod
    def _set_webhook_function(base_url):
        """Checked before anything is stored, so a refused --set-webhook changes nothing."""
        if not base_url:
            raise CommandError("--set-webhook needs --base-url, the public https URL of this deployment.")
        set_webhook = cli.webhook_setter()
        if set_webhook is None:
            raise CommandError(
                "--set-webhook is not available in this build (no app registered it); "
                "run without it and set the webhook later."
            )
        return set_webhook

    def handle_retention(self, *, slug, days, **_):
        tenant = selectors.tenant_get(slug=slug)
        if tenant is None:
            raise CommandError(f"No tenant `{slug}`.")
        services.tenant_retention_set(tenant=tenant, days=days)
        kept = "for good" if days == 0 else f"{days} days"
        self.stdout.write(f"Closed conversations of {tenant.slug} are kept {kept}.")

    def handle_rotate_keys(self, **_):
        try:
            count = services.telegram_configs_reencrypt()
        except crypto.SecretUnreadable:
            raise CommandError(
                "A stored secret is readable by no key in CHANNEL_CONFIG_KEYS; nothing was changed. "
                "Put the old key back (after the new one) and run again."
            ) from None
        self.stdout.write(f"Re-encrypted the Telegram settings of {count} tenant(s) with the first key.")
