"""python manage.py release_migrate: `migrate`, one release at a time across every host."""

import zlib

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection

# A PostgreSQL advisory lock: held by the session, so released even if this process dies.
MIGRATION_LOCK_ID = zlib.crc32(b"chatorical:release_migrate")


class Command(BaseCommand):
    help = "Runs migrate under a database-wide lock, so two releases never migrate at once."

    def handle(self, *args, **options):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [MIGRATION_LOCK_ID])
            if not cursor.fetchone()[0]:
                self.stdout.write("waiting for the migration lock: another release is migrating")
                self.stdout.flush()
                cursor.execute("SELECT pg_advisory_lock(%s)", [MIGRATION_LOCK_ID])
            try:
                call_command("migrate", interactive=False, stdout=self.stdout, verbosity=options["verbosity"])
            finally:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [MIGRATION_LOCK_ID])
