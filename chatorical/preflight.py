"""Start-up checks, run once before the processes start (`manage.py preflight`): each
problem stops the start at once, naming what is wrong and how to fix it, instead of a
pool time-out seconds later."""

from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis
from django.conf import settings
from psycopg import sql

CONNECT_TIMEOUT_SECONDS = 3


class PreflightError(Exception):
    pass


def url_without_password(url: str) -> str:
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def notices() -> list[str]:
    """What a developer should know about this start: embedded stand-ins, an ignored Redis DB."""
    lines = [f"embedded default -> {line}" for line in settings.EMBEDDED_DEFAULTS]
    if settings.EMBEDDED_DEFAULTS:
        lines.append("Set DATABASE_URL and REDIS_URL to run on PostgreSQL and Redis.")
    if settings.REDIS_URL_IGNORED_DB is not None:
        lines.append(
            f"warning: REDIS_URL names DB {settings.REDIS_URL_IGNORED_DB}, but Chatorical keeps its keys on "
            f"DB {settings.REDIS_DB} under the prefix {settings.REDIS_KEY_PREFIX!r}; DB "
            f"{settings.REDIS_URL_IGNORED_DB} is not used."
        )
    return lines


def _connect(db: dict, name: str):
    return psycopg.connect(
        host=db.get("HOST") or None,
        port=db.get("PORT") or None,
        user=db.get("USER") or None,
        password=db.get("PASSWORD") or None,
        dbname=name,
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        autocommit=True,
    )


def database_ensure(db: dict, *, may_create: bool) -> str | None:
    """Connects to the database of `db` (an entry of DATABASES); creates it when it is
    missing and `may_create`. Returns what was done, or None; raises PreflightError."""
    if db["ENGINE"] != "django.db.backends.postgresql":
        return None
    name, host, port = db["NAME"], db.get("HOST") or "localhost", db.get("PORT") or 5432
    where = f"{host}:{port}"
    create_hint = f"createdb -h {host} -p {port} -U {db.get('USER') or 'postgres'} {name}"
    try:
        _connect(db, name).close()
        return None
    except psycopg.OperationalError as exc:
        # A failed connection carries no SQLSTATE: the server's message is all there is.
        if f'database "{name}" does not exist' not in str(exc):
            raise PreflightError(f"PostgreSQL at {where} does not answer: {_first_line(exc)}") from None
    if not may_create:
        raise PreflightError(f'Database "{name}" does not exist on {where}. Create it with: {create_hint}')
    try:
        with _connect(db, "postgres") as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        raise PreflightError(
            f'Database "{name}" does not exist on {where}, and creating it failed ({_first_line(exc)}). '
            f"Create it with: {create_hint}"
        ) from None
    return f'created database "{name}" on {where}'


def redis_check(url: str) -> None:
    timeout = CONNECT_TIMEOUT_SECONDS
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise PreflightError(f"Redis at {url_without_password(url)} does not answer: {_first_line(exc)}") from None
    finally:
        client.close()


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
