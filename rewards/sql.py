"""The statements the ORM cannot write, or not fast enough for the hot path: a multi-row
INSERT … ON CONFLICT … RETURNING, and an UPDATE of many rows to values of their own.

On PostgreSQL many rows travel as one JSON document (`json_to_recordset`): one parameter however
many rows, dumped by the json module's C encoder, where a `VALUES` list binds (and psycopg splits)
one parameter per cell and arrays (`unnest`) are escaped element by element in Python (measured:
a fifth of a 500-event batch's CPU, tests/benchmarks/ingest.py). A few rows (a single event)
travel as `VALUES`, whose handful of cells cost less than building the document.

The f-strings below hold identifiers only (tables and columns from the model's `_meta`, quoted by the
connection) and SQL written in the code; every value is a bound parameter. bandit's B608 (SQL built
from strings) is accepted on those lines for that reason."""

import functools
import json
import uuid
from datetime import date, datetime
from decimal import Decimal

from django.db import connection

# Up to this many rows a statement binds one parameter per cell.
FEW_ROWS = 10


def insert_on_conflict(
    model, rows: list[dict], *, conflict: list[str] | None, update: str | None, returning: list[str]
):
    """Insert `rows` (field name → value) in one statement, in the order given — the order in which
    PostgreSQL locks them, which callers choose so that two statements never wait in a cycle.

    On a `conflict` of the named fields: DO NOTHING when `update` is None, else DO UPDATE SET
    `update` (SQL in which `{table}` is the table and `excluded` the row proposed); no `conflict`:
    a conflict is an IntegrityError. Returns the `returning` columns of each row inserted or
    updated, as the database gives them (nothing when `returning` is empty).
    """
    meta = model._meta
    fields = [meta.get_field(name) for name in rows[0]]
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    if connection.vendor == "postgresql" and len(rows) > FEW_ROWS:
        # A set-returning function's rows come in the document's order: the order of `rows`.
        source = f"SELECT * FROM {_recordset(fields)}"  # nosec B608  # identifiers only
        params = [_document(fields, rows)]
    else:
        one_row = "(" + ", ".join(["%s"] * len(fields)) + ")"
        source = "VALUES " + ", ".join([one_row] * len(rows))
        params = [field.get_db_prep_save(row[field.name], connection) for row in rows for field in fields]
    sql = f"INSERT INTO {table} ({', '.join(quote(field.column) for field in fields)}) {source}"
    if conflict:
        # `update` is SQL the calling service writes in its code, never a request's text.
        action = f"DO UPDATE SET {update.format(table=table)}" if update else "DO NOTHING"  # nosec B608  # see above
        sql += f" ON CONFLICT ({', '.join(quote(meta.get_field(name).column) for name in conflict)}) {action}"
    if returning:
        sql += f" RETURNING {', '.join(quote(meta.get_field(name).column) for name in returning)}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if returning else []


def update_each(model, objects: list, fields: list[str]) -> None:
    """Set `fields` of each object's row to the object's own values, in one statement."""
    if not objects:
        return
    meta = model._meta
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    key = meta.pk
    targets = [meta.get_field(name) for name in fields]
    if len(objects) == 1:
        [obj] = objects
        assignments = ", ".join(f"{quote(field.column)} = %s" for field in targets)
        params = [field.get_db_prep_save(getattr(obj, field.attname), connection) for field in (*targets, key)]
        sql = f"UPDATE {table} SET {assignments} WHERE {quote(key.column)} = %s"  # nosec B608  # identifiers only
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
        return
    if connection.vendor != "postgresql":
        model._base_manager.bulk_update(objects, fields)
        return
    columns = [key, *targets]
    rows = [{field.name: getattr(obj, field.attname) for field in columns} for obj in objects]
    assignments = ", ".join(f"{quote(field.column)} = source.{quote(field.column)}" for field in targets)
    sql = (
        f"UPDATE {table} SET {assignments} FROM {_recordset(columns)} "  # nosec B608  # identifiers only
        f"WHERE {table}.{quote(key.column)} = source.{quote(key.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [_document(columns, rows)])


def _recordset(fields) -> str:
    """`json_to_recordset(%s::json) AS source(column type, …)`: the rows of one JSON document."""
    quote = connection.ops.quote_name
    return (
        "json_to_recordset(%s::json) AS source("
        + ", ".join(f"{quote(field.column)} {_db_type(field)}" for field in fields)
        + ")"
    )


def _document(fields, rows: list[dict]) -> str:
    """The rows as a JSON array of objects keyed by column; each value as its column's input text
    reads it (a decimal, a time, a UUID as their exact strings; a JSON column's value as JSON)."""
    columns = [(field.name, field.column) for field in fields]
    return json.dumps(
        [{column: row[name] for name, column in columns} for row in rows], default=_json_cell, separators=(",", ":")
    )


def _json_cell(value):
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: times are stored timezone-aware")
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not a column value rewards.sql writes")


@functools.cache
def _db_type(field) -> str:
    # A foreign key's column has its target's type.
    return field.target_field.rel_db_type(connection) if field.is_relation else field.db_type(connection)
