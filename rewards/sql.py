"""The one raw-SQL statement the ORM cannot write: a multi-row INSERT … ON CONFLICT … RETURNING."""

from django.db import connection


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
    one_row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    params = [field.get_db_prep_save(row[field.name], connection) for row in rows for field in fields]
    action = f"DO UPDATE SET {update.format(table=table)}" if update else "DO NOTHING"
    sql = (
        f"INSERT INTO {table} ({', '.join(quote(field.column) for field in fields)}) "
        f"VALUES {', '.join([one_row] * len(rows))} "
        f"ON CONFLICT ({', '.join(quote(meta.get_field(name).column) for name in conflict)}) {action} "
        f"RETURNING {', '.join(quote(meta.get_field(name).column) for name in returning)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
