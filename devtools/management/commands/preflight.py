"""`manage.py preflight`: the start-up checks and notices (chatorical/preflight.py), run by
deploy/run-local.sh before migrating; exits non-zero with one clear line on a problem."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from chatorical import preflight


class Command(BaseCommand):
    help = "Checks that PostgreSQL and Redis answer (creating the dev database if missing) and prints start-up notices."

    def handle(self, *args, **options):
        for line in preflight.notices():
            self.stdout.write(line)
        try:
            done = preflight.database_ensure(settings.DATABASES["default"], may_create=not settings.IS_PROD)
            if settings.REDIS_URL:
                preflight.redis_check(settings.REDIS_URL)
        except preflight.PreflightError as exc:
            raise CommandError(str(exc)) from None
        if done:
            self.stdout.write(done)
