"""PostgreSQL on the event loop, for the one statement every socket message costs.

Through Django, each message store hops to a database thread, checks a connection out of
Django's pool and back, and goes through Django's cursor wrapper: at a few hundred messages
a second that costs the process more than the statement itself. The sockets' message store
instead runs its raw statement on a few connections of the event loop's own, in autocommit,
made with the same settings as Django's connections.

Statements are prepared on the server unless a transaction-mode pooler (PgBouncer) sits in
between, which would hand a prepared statement's connection to another client. psycopg's
errors come out as Django's DatabaseError, as callers of the ORM expect; a connection that
failed is dropped, so the next use connects afresh (after a PostgreSQL restart, say).
"""

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator

import psycopg
from django.conf import settings
from django.db import DatabaseError, connection
from psycopg.pq import TransactionStatus

# Enough for the message batches a process runs at once (conversations/message_batches.py).
CONNECTIONS_MAX = 4
CONNECT_TIMEOUT_SECONDS = 5


def supported() -> bool:
    """Whether the database is PostgreSQL (the embedded SQLite of a first run is not)."""
    return connection.vendor == "postgresql"


def _connect_params() -> dict:
    params = connection.get_connection_params()
    # Django's adapters and cursor class: the raw statements use psycopg's own.
    for django_only in ("context", "cursor_factory", "prepare_threshold", "server_side_binding"):
        params.pop(django_only, None)
    pooled = settings.DATABASES["default"].get("DISABLE_SERVER_SIDE_CURSORS", False)
    params.setdefault("connect_timeout", CONNECT_TIMEOUT_SECONDS)
    return {**params, "autocommit": True, "prepare_threshold": None if pooled else 0}


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
        raise DatabaseError(str(error)) from error
