"""PostgreSQL on the event loop, for the one statement every socket message costs.

Through Django, each message store hops to a database thread, checks a connection out of
Django's pool and back, and goes through Django's cursor wrapper: at a few hundred messages
a second that costs the process more than the statement itself. The sockets' message store
instead runs its raw statement on a few connections of the event loop's own, in autocommit,
made with the same settings as Django's connections.

Statements are prepared on the server unless a transaction-mode pooler (PgBouncer) sits in
between, which would hand a prepared statement's connection to another client. psycopg's
errors come out as Django's (django.db.utils), as callers of the ORM expect. A connection
is looked at before each use, without a round trip: one the server closed (a restart) is
replaced then, and one that failed in use is dropped. TCP keepalives find a peer that
vanished without closing.
"""

import asyncio
import contextlib
import select
import weakref
from collections.abc import AsyncIterator

import psycopg
from django.conf import settings
from django.db import connection, utils
from psycopg.pq import ConnStatus, TransactionStatus

# Enough for the message batches a process runs at once (conversations/message_batches.py).
CONNECTIONS_MAX = 4
CONNECT_TIMEOUT_SECONDS = 5
# Seconds idle before TCP probes a connection, between probes, and probes unanswered before
# the connection counts as gone: a peer that vanished without closing is found in a minute.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}


def supported() -> bool:
    """Whether the database is PostgreSQL (the embedded SQLite of a first run is not)."""
    return connection.vendor == "postgresql"


def _connect_params() -> dict:
    params = connection.get_connection_params()
    # Django's adapters and cursor class: the raw statements use psycopg's own.
    for django_only in ("context", "cursor_factory", "prepare_threshold", "server_side_binding"):
        params.pop(django_only, None)
    pooled = settings.DATABASE_POOLER == "pgbouncer-transaction"
    params.setdefault("connect_timeout", CONNECT_TIMEOUT_SECONDS)
    return {**params, **KEEPALIVES, "autocommit": True, "prepare_threshold": None if pooled else 0}


def _usable(conn: psycopg.AsyncConnection) -> bool:
    """Whether an idle connection still works, as far as its socket tells without a round
    trip: the server sends an idle connection nothing unasked but its goodbye (a restart,
    a terminated session) and the end of the stream."""
    if conn.pgconn.status != ConnStatus.OK:
        return False
    readable, _, _ = select.select([conn.pgconn.socket], [], [], 0)
    return not readable


class _LoopConnections:
    """Up to CONNECTIONS_MAX connections of one event loop, made when first needed and kept
    while they work. They are closed when the loop goes away (a test's loop, say)."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self._idle: list[psycopg.AsyncConnection] = []
        self._free = asyncio.Semaphore(CONNECTIONS_MAX)
        weakref.finalize(loop, _close_all, self._idle)

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection]:
        async with self._free:
            while self._idle and not _usable(self._idle[-1]):
                self._idle.pop().pgconn.finish()
            conn = self._idle.pop() if self._idle else await psycopg.AsyncConnection.connect(**_connect_params())
            try:
                yield conn
            finally:
                if not conn.closed and conn.info.transaction_status == TransactionStatus.IDLE:
                    self._idle.append(conn)
                else:
                    conn.pgconn.finish()


def _close_all(connections: list) -> None:
    for conn in connections:
        conn.pgconn.finish()


_loops: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@contextlib.asynccontextmanager
async def cursor() -> AsyncIterator[psycopg.AsyncCursor]:
    """A cursor on one of the loop's connections, in autocommit."""
    loop = asyncio.get_running_loop()
    connections = _loops.get(loop)
    if connections is None:
        connections = _loops[loop] = _LoopConnections(loop)
    try:
        async with connections.connection() as conn, conn.cursor() as cur:
            yield cur
    except psycopg.Error as error:
        raise _django_error(error) from error


def _django_error(error: psycopg.Error) -> utils.DatabaseError:
    """Django's class of the same DB-API name (OperationalError, IntegrityError, ...)."""
    for kind in type(error).__mro__:
        django_class = getattr(utils, kind.__name__, None)
        if isinstance(django_class, type) and issubclass(django_class, utils.DatabaseError):
            return django_class(*error.args)
    return utils.DatabaseError(*error.args)
