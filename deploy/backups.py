"""Database backups: `pg_dump -Fc` files kept N days, and a verify that restores one into a
scratch database, checks it with the app's own models, and drops it.

Each dump comes with a manifest (`<dump>.counts.json`): the row count of every table, taken
in the very snapshot pg_dump reads (`pg_export_snapshot` + `pg_dump --snapshot`), so verify
compares exact numbers, not numbers that moved while the dump ran.

Redis is not backed up: it holds no record of truth (messages and outbox events live in
PostgreSQL; limits, socket groups and caches rebuild themselves).
"""

import json
import os
import re
import secrets
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from django.conf import settings
from django.db import connections
from django.db.migrations.loader import MigrationLoader
from psycopg import sql

from chatorical.tenancy import cross_tenant, tenant_context

TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"
DUMP_NAME = re.compile(r"^chatorical-(?P<database>.+)-(?P<stamp>\d{8}T\d{6}Z)\.dump$")
SCRATCH_ALIAS = "backup_scratch"


class BackupError(Exception):
    """A dump, restore or check that failed; the message says which and why."""


@dataclass
class VerifyReport:
    path: Path
    checks: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _database() -> dict:
    return connections["default"].settings_dict


def _pg_env() -> dict:
    """libpq's environment for the client tools: no password on a command line."""
    db = _database()
    env = {**os.environ, "PGHOST": db.get("HOST") or "", "PGPORT": str(db.get("PORT") or ""), "PGUSER": db["USER"]}
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    return env


def _connect(database: str, **kwargs) -> psycopg.Connection:
    db = _database()
    return psycopg.connect(
        host=db.get("HOST") or None,
        port=db.get("PORT") or None,
        user=db["USER"],
        password=db.get("PASSWORD") or None,
        dbname=database,
        **kwargs,
    )


def _run(command: list[str]) -> subprocess.CompletedProcess:
    result = subprocess.run(command, env=_pg_env(), capture_output=True, text=True)
    if result.returncode != 0:
        raise BackupError(f"{command[0]} failed: {result.stderr.strip()[-1000:]}")
    return result


def manifest_path(dump: Path) -> Path:
    return dump.with_name(dump.name + ".counts.json")


def backup_create(*, directory: Path, now: datetime | None = None) -> Path:
    """A custom-format dump of the app's database in `directory`, and its row-count manifest."""
    directory.mkdir(parents=True, exist_ok=True)
    database = _database()["NAME"]
    stamp = (now or datetime.now(UTC)).strftime(TIMESTAMP_FORMAT)
    dump = directory / f"chatorical-{database}-{stamp}.dump"
    partial = dump.with_name(dump.name + ".partial")
    # The snapshot lives as long as this transaction: counts and dump see the same rows.
    with _connect(database) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with conn.transaction():
            snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
            counts = _row_counts(conn)
            _run(["pg_dump", "--format=custom", f"--snapshot={snapshot}", f"--file={partial}", database])
    partial.rename(dump)
    manifest_path(dump).write_text(json.dumps({"database": database, "created": stamp, "rows": counts}, indent=1))
    return dump


def _row_counts(conn: psycopg.Connection) -> dict[str, int]:
    tables = [row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
    return {
        table: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()[0]
        for table in sorted(tables)
    }


def backups_prune(*, directory: Path, keep_days: int, now: datetime | None = None) -> list[Path]:
    """Deletes dumps (and their manifests) older than `keep_days`, by the time in their name."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=keep_days)
    removed = []
    for path in sorted(directory.glob("chatorical-*.dump")):
        match = DUMP_NAME.match(path.name)
        if match and datetime.strptime(match["stamp"], TIMESTAMP_FORMAT).replace(tzinfo=UTC) < cutoff:
            path.unlink()
            manifest_path(path).unlink(missing_ok=True)
            removed.append(path)
    return removed


def backup_restore(*, dump: Path, database: str) -> None:
    """Restores `dump` into a new database `database` (which must not exist yet)."""
    if not dump.is_file():
        raise BackupError(f"no such backup: {dump}")
    with _connect("postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    _run(["pg_restore", "--no-owner", "--exit-on-error", f"--dbname={database}", str(dump)])


def _drop_database(database: str) -> None:
    with _connect("postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))


def backup_verify(*, dump: Path) -> VerifyReport:
    """Restores `dump` into a scratch database, checks it as the app would read it, drops it."""
    if not dump.is_file():
        raise BackupError(f"no such backup: {dump}")
    report = VerifyReport(path=dump)
    tables = _dump_tables(dump)
    scratch = f"{_database()['NAME']}_verify_{secrets.token_hex(4)}"
    try:
        backup_restore(dump=dump, database=scratch)
        with _scratch_connection(scratch) as alias:
            _check_migrations(report, alias)
            _check_row_counts(report, dump, tables, scratch)
            _check_tenants_and_messages(report, alias)
    finally:
        _drop_database(scratch)
    return report


def _dump_tables(dump: Path) -> set[str]:
    """The tables whose rows the dump holds, from its table of contents (`pg_restore -l`)."""
    listing = _run(["pg_restore", "--list", str(dump)]).stdout
    # e.g. "3401; 0 16390 TABLE DATA public conversations_message postgres"
    return set(re.findall(r"^\d+; \d+ \d+ TABLE DATA public (\S+) ", listing, re.M))


@contextmanager
def _scratch_connection(database: str):
    """A Django connection to the restored database, so the checks use the app's models."""
    db = {**_database(), "NAME": database}
    db["OPTIONS"] = {key: value for key, value in db.get("OPTIONS", {}).items() if key != "pool"}
    connections.settings[SCRATCH_ALIAS] = db
    try:
        yield SCRATCH_ALIAS
    finally:
        connections[SCRATCH_ALIAS].close()
        del connections[SCRATCH_ALIAS]
        del connections.settings[SCRATCH_ALIAS]


def _check_migrations(report: VerifyReport, alias: str) -> None:
    loader = MigrationLoader(connections[alias])
    missing = sorted(f"{app}.{name}" for app, name in set(loader.disk_migrations) - set(loader.applied_migrations))
    if missing:
        report.problems.append(f"migrations not applied in the backup: {', '.join(missing)}")
    else:
        report.checks["migrations"] = f"all {len(loader.applied_migrations)} applied"


def _check_row_counts(report: VerifyReport, dump: Path, tables: set[str], database: str) -> None:
    with _connect(database) as conn:
        restored = _row_counts(conn)
    missing = sorted(tables - set(restored))
    if missing:
        report.problems.append(f"tables in the dump's table of contents but not restored: {', '.join(missing)}")
    manifest = manifest_path(dump)
    if not manifest.is_file():
        report.problems.append(f"no row-count manifest beside the dump ({manifest.name})")
        return
    expected = json.loads(manifest.read_text())["rows"]
    if set(expected) != tables:
        report.problems.append("the manifest and the dump's table of contents name different tables")
    wrong = {table: (count, restored.get(table)) for table, count in expected.items() if restored.get(table) != count}
    if wrong:
        report.problems.append(
            "row counts differ (expected, restored): "
            + ", ".join(f"{table} {pair}" for table, pair in sorted(wrong.items()))
        )
    else:
        report.checks["row_counts"] = f"{len(expected)} tables, {sum(expected.values())} rows, as dumped"


def _check_tenants_and_messages(report: VerifyReport, alias: str) -> None:
    from conversations.models import Conversation, Message
    from tenants.crypto import SecretUnreadable, decrypt
    from tenants.models import TelegramConfig, Tenant

    tenants = list(Tenant.objects.using(alias).order_by("id"))
    if not any(tenant.slug == settings.DEFAULT_TENANT_SLUG for tenant in tenants):
        report.problems.append("the default tenant is missing")
    report.checks["tenants"] = str(len(tenants))
    with cross_tenant("backup verify: every tenant's secrets must decrypt with today's keys"):
        configs = list(TelegramConfig.objects.using(alias).all())
    try:
        for config in configs:
            decrypt(config.bot_token_encrypted)
    except SecretUnreadable as exc:
        report.problems.append(f"a tenant's Telegram secrets do not decrypt with CHANNEL_CONFIG_KEYS ({exc})")
    else:
        report.checks["telegram_configs"] = f"{len(configs)} decrypt"
    with cross_tenant("backup verify: the latest conversation of any tenant"):
        conversation = Conversation.objects.using(alias).order_by("-updated_at").first()
    if conversation is None:
        report.checks["messages"] = "no conversation yet"
        return
    tenant = next(tenant for tenant in tenants if tenant.id == conversation.tenant_id)
    with tenant_context(tenant):
        texts = [message.text for message in Message.objects.using(alias).filter(conversation=conversation)]
    report.checks["messages"] = f"conversation {conversation.id} of {tenant.slug}: {len(texts)} messages read"
