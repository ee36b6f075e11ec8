"""Lookups written out in SQL, for the few run on every agent's message (the topic's
conversation) and every v1 request (the default tenant).

Compiling a queryset costs Django far more than PostgreSQL takes to answer a lookup by
key: the topic's conversation, a join, took 570 µs through the ORM and 200 µs written out
(bench/webhook_lookups.py). A written-out lookup on tenant-owned rows bypasses the tenant
manager, so it names the tenant itself, from tenancy.require_tenant().
"""

import functools

from django.db import connection, models


def columns(model: type[models.Model], *, alias: str) -> str:
    """The model's columns, as instance_fetched reads them, of the table named `alias`."""
    quote = connection.ops.quote_name
    return ", ".join(f"{alias}.{quote(field.column)}" for field in model._meta.concrete_fields)


def instance_fetched(model: type[models.Model], sql: str, params: dict) -> models.Model | None:
    """The instance of `model` made of the first row `sql` returns (its `columns`), or None."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    names, readers = _reading(model)
    values = []
    for value, (column, converters) in zip(row, readers, strict=True):
        for converter in converters:
            value = converter(value, column, connection)
        values.append(value)
    return model.from_db(connection.alias, names, values)


@functools.cache
def _reading(model: type[models.Model]) -> tuple[list[str], list[tuple]]:
    """The model's field names, and each column's converters: what the ORM applies to the
    values it reads (a JSON field's comes as text, say)."""
    fields = model._meta.concrete_fields
    readers = []
    for field in fields:
        column = field.get_col(model._meta.db_table)
        readers.append((column, connection.ops.get_db_converters(column) + field.get_db_converters(connection)))
    return [field.attname for field in fields], readers
