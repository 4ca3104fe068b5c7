"""The database a benchmark makes for itself on the server DATABASE_URL names, and drops after."""

import sys

import psycopg


def maintenance(server, url) -> psycopg.Connection:
    """An autocommit connection to the server, outside the benchmark's database: to `postgres`, or
    to the database DATABASE_URL names when `postgres` cannot be reached."""
    try:
        return psycopg.connect(**server, dbname="postgres", autocommit=True)
    except psycopg.OperationalError:
        if url.path.strip("/") in {"", "postgres"}:
            raise
        return psycopg.connect(**server, dbname=url.path.strip("/"), autocommit=True)


def drop_database(server, url, name: str) -> None:
    if "django" in sys.modules:  # Django's own connections to it first, when the benchmark opened them
        from django.db import connections

        connections.close_all()
    with maintenance(server, url) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"\ndropped database {name}")
