"""`manage.py demo`: resets the demo data (admin login, demo tenant and its API key).
`make run` calls it with --keep, which only creates what is missing."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from devtools import services


class Command(BaseCommand):
    help = "Resets the demo data: the admin login, the demo tenant and its API key (dev only)."

    def add_arguments(self, parser):
        parser.add_argument("--keep", action="store_true", help="create what is missing, reset nothing")

    def handle(self, *args, keep, **options):
        if settings.IS_PROD:
            raise CommandError("Demo data is for development; DJANGO_ENV=prod refuses it.")
        login = services.admin_login_ensure(reset=not keep)
        issued = services.demo_tenant_ensure(reset=not keep)
        base = f"http://127.0.0.1:{settings.PORT}"
        password = login.password or "(DJANGO_SUPERUSER_PASSWORD)"
        self.stdout.write(f"Admin: {base}/admin/  user {login.username}  password {password}  ({login.source})")
        if issued is None:
            self.stdout.write(
                f"Demo tenant {settings.DEMO_TENANT_SLUG!r} kept; `python manage.py demo` resets it with a new API key."
            )
        else:
            self.stdout.write(f"Demo tenant {settings.DEMO_TENANT_SLUG!r} with an API key for {base}/api/v2/docs/:")
            self.stdout.write(issued.raw_key)
