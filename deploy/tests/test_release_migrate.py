"""manage.py release_migrate: two releases never migrate at once."""

import subprocess
import sys

import pytest
from django.db import connection

from chatorical.testing import ROOT, process_env
from deploy.management.commands.release_migrate import MIGRATION_LOCK_ID

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_second_release_waits_for_the_first_ones_migrations():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [MIGRATION_LOCK_ID])
        try:
            waiting = subprocess.Popen(
                [sys.executable, "manage.py", "release_migrate"],
                cwd=ROOT,
                env=process_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            # The first line is written only once the lock was found taken; then it blocks.
            assert waiting.stdout.readline() == "waiting for the migration lock: another release is migrating\n"
            assert waiting.poll() is None
        finally:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [MIGRATION_LOCK_ID])
    rest, errors = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, errors
    assert "No migrations to apply." in rest


def test_without_another_release_it_migrates_at_once():
    result = subprocess.run(
        [sys.executable, "manage.py", "release_migrate"], cwd=ROOT, env=process_env(), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "waiting" not in result.stdout
    assert "No migrations to apply." in result.stdout
