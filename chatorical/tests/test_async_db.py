"""The event loop's own PostgreSQL connections (chatorical/async_db.py), on the real server."""

import asyncio
import gc
import time

import psycopg
import pytest
from django.db import connection
from django.db.utils import DataError

from chatorical import async_db

pytestmark = pytest.mark.django_db(transaction=True)


async def backend_pid() -> int:
    async with async_db.cursor() as cursor:
        await cursor.execute("SELECT pg_backend_pid()")
        return (await cursor.fetchone())[0]


def server_connection() -> psycopg.Connection:
    db = connection.settings_dict
    return psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"], autocommit=True)


def terminated(pid: int) -> None:
    with server_connection() as other:
        other.execute("SELECT pg_terminate_backend(%s)", (pid,))
    deadline = time.monotonic() + 5
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.01)


def alive(pid: int) -> bool:
    with server_connection() as other:
        return other.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()[0] == 1


async def test_a_connection_is_kept_for_the_next_statement():
    assert await backend_pid() == await backend_pid()


async def test_a_connection_the_server_closed_is_replaced_before_it_is_used():
    pid = await backend_pid()
    terminated(pid)  # as a PostgreSQL restart ends every session
    assert await backend_pid() != pid


async def test_a_statement_error_is_django_s_own_and_keeps_the_connection():
    pid = await backend_pid()
    with pytest.raises(DataError):  # division by zero: a DataError in the DB-API's terms
        async with async_db.cursor() as cursor:
            await cursor.execute("SELECT 1 / 0")
    assert await backend_pid() == pid


async def test_statements_are_prepared_unless_a_transaction_pooler_is_between(settings):
    async with async_db.cursor() as cursor:
        for _ in range(2):
            await cursor.execute("SELECT %s::int", (1,))
        await cursor.execute("SELECT count(*) FROM pg_prepared_statements")
        assert (await cursor.fetchone())[0] >= 1
    settings.DATABASE_POOLER = "pgbouncer-transaction"
    assert async_db._connect_params()["prepare_threshold"] is None


def test_the_connections_close_with_their_event_loop():
    async def three_at_once():
        return await asyncio.gather(*(backend_pid() for _ in range(3)))

    loop = asyncio.new_event_loop()
    pids = loop.run_until_complete(three_at_once())
    assert len(set(pids)) == 3
    assert all(alive(pid) for pid in pids)
    loop.close()
    del loop
    gc.collect()
    assert not any(alive(pid) for pid in pids)
