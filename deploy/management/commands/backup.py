"""python manage.py backup create|verify|restore: dumps kept BACKUP_KEEP_DAYS days, verified by restoring."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from deploy import backups


class Command(BaseCommand):
    help = "Database backups: create (pg_dump -Fc, then prune old ones), verify a dump, restore one."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="dump the database, then delete dumps older than --keep-days")
        create.add_argument("--dir", type=Path, default=Path(settings.BACKUP_DIR))
        create.add_argument("--keep-days", type=int, default=settings.BACKUP_KEEP_DAYS)
        create.add_argument("--verify", action="store_true", help="verify the new dump (exit 1 if it fails)")
        verify = actions.add_parser("verify", help="restore a dump into a scratch database, check it, drop it")
        verify.add_argument("file", type=Path)
        restore = actions.add_parser("restore", help="restore a dump into a new database")
        restore.add_argument("file", type=Path)
        restore.add_argument("--database", required=True, help="the new database's name (must not exist)")

    def handle(self, *args, action, **options):
        try:
            getattr(self, f"_{action}")(**options)
        except backups.BackupError as exc:
            raise CommandError(str(exc)) from exc

    def _create(self, *, dir, keep_days, verify, **_):
        if keep_days < 1:
            raise CommandError("--keep-days must be at least 1")
        dump = backups.backup_create(directory=dir)
        self.stdout.write(f"backup written: {dump}")
        for removed in backups.backups_prune(directory=dir, keep_days=keep_days):
            self.stdout.write(f"older than {keep_days} days, removed: {removed}")
        if verify:
            self._verify(file=dump)

    def _verify(self, *, file, **_):
        report = backups.backup_verify(dump=file)
        for name, result in report.checks.items():
            self.stdout.write(f"ok   {name}: {result}")
        for problem in report.problems:
            self.stdout.write(f"FAIL {problem}")
        if not report.ok:
            raise CommandError(f"backup {file} failed verification ({len(report.problems)} problems)")
        self.stdout.write(f"backup {file} verified")

    def _restore(self, *, file, database, **_):
        backups.backup_restore(dump=file, database=database)
        self.stdout.write(f"restored {file} into database {database}; migrate it if the code is newer")
