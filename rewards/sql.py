"""The statements the ORM cannot write, or not fast enough for the hot path: a multi-row
INSERT … ON CONFLICT … RETURNING, and an UPDATE of many rows to values of their own.

On PostgreSQL many rows travel as one array per column (`unnest`): a handful of parameters however
many rows, where a `VALUES` list binds (and psycopg splits) one parameter per cell. A few rows (a
single event) travel as `VALUES`: psycopg's array dumping costs more than the cells it saves."""

import functools

from django.db import connection

# Up to this many rows a statement binds one parameter per cell (measured on the single-event path,
# tests/benchmarks/ingest.py: one-element arrays cost a fifth of an event's CPU to dump).
FEW_ROWS = 10


def insert_on_conflict(model, rows: list[dict], *, conflict: list[str], update: str | None, returning: list[str]):
    """Insert `rows` (field name → value) in one statement, in the order given — the order in which
    PostgreSQL locks them, which callers choose so that two statements never wait in a cycle.

    On a `conflict` of the named fields: DO NOTHING when `update` is None, else DO UPDATE SET
    `update` (SQL in which `{table}` is the table and `excluded` the row proposed). Returns the
    `returning` columns of each row inserted or updated, as the database gives them.
    """
    meta = model._meta
    fields = [meta.get_field(name) for name in rows[0]]
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    columns = _prepared_columns(fields, rows)
    if connection.vendor == "postgresql" and len(rows) > FEW_ROWS:
        # unnest keeps the rows in order (WITH ORDINALITY is not needed for a single call).
        source = "SELECT * FROM unnest(" + ", ".join(f"%s::{_db_type(field)}[]" for field in fields) + ")"
        params = columns
    else:
        one_row = "(" + ", ".join(["%s"] * len(fields)) + ")"
        source = "VALUES " + ", ".join([one_row] * len(rows))
        params = [value for row in zip(*columns, strict=True) for value in row]
    action = f"DO UPDATE SET {update.format(table=table)}" if update else "DO NOTHING"
    sql = (
        f"INSERT INTO {table} ({', '.join(quote(field.column) for field in fields)}) {source} "
        f"ON CONFLICT ({', '.join(quote(meta.get_field(name).column) for name in conflict)}) {action} "
        f"RETURNING {', '.join(quote(meta.get_field(name).column) for name in returning)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


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
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {table} SET {assignments} WHERE {quote(key.column)} = %s", params)
        return
    if connection.vendor != "postgresql":
        model._base_manager.bulk_update(objects, fields)
        return
    rows = [{field.name: getattr(obj, field.attname) for field in (key, *targets)} for obj in objects]
    params = _prepared_columns([key, *targets], rows)
    names = ["pk", *[f"v{index}" for index in range(len(targets))]]
    source = ", ".join(f"%s::{_db_type(field)}[]" for field in (key, *targets))
    assignments = ", ".join(
        f"{quote(field.column)} = source.{name}" for field, name in zip(targets, names[1:], strict=True)
    )
    sql = (
        f"UPDATE {table} SET {assignments} FROM unnest({source}) AS source({', '.join(names)}) "
        f"WHERE {table}.{quote(key.column)} = source.pk"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _prepared_columns(fields, rows: list[dict]) -> list[list]:
    """Each field's values as the database takes them, one list per field. A value repeated down a
    column (the brand, the mode, the time of the call) is prepared once."""
    columns = []
    for field in fields:
        prepared, column = {}, []
        for row in rows:
            value = row[field.name]
            try:
                column.append(prepared[value])
            except KeyError:
                column.append(prepared.setdefault(value, field.get_db_prep_save(value, connection)))
            except TypeError:  # unhashable (a JSON object): prepared each time
                column.append(field.get_db_prep_save(value, connection))
        columns.append(column)
    return columns


@functools.cache
def _db_type(field) -> str:
    # A foreign key's column has its target's type; arrays take the base type without a length.
    return field.target_field.rel_db_type(connection) if field.is_relation else field.db_type(connection)
