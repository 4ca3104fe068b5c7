"""The database a benchmark makes for itself on the server DATABASE_URL names, and drops after."""

import sys
from urllib.parse import unquote

import psycopg

POSTGRES_SCHEMES = {"postgres", "postgresql", "pgsql"}


class Refused(Exception):
    """Why the benchmark cannot run against this server; printed, and the script exits 2."""


def server_for(url, name: str) -> dict:
    """Connection settings of the server DATABASE_URL names, which must be PostgreSQL and must not
    name `name`, the database the benchmark creates and drops."""
    if url.scheme not in POSTGRES_SCHEMES:
        raise Refused("DATABASE_URL must point at a PostgreSQL server (postgres://user@host:port/db).")
    if url.path.strip("/") == name:
        raise Refused(f"DATABASE_URL names {name}, the database this script creates and drops.")
    return {
        "host": url.hostname or "127.0.0.1",
        "port": url.port or 5432,
        "user": unquote(url.username or ""),
        "password": unquote(url.password or ""),
    }


def create_database(server, url, name: str) -> None:
    """A fresh, empty `name` (an earlier run's dropped first)."""
    with maintenance(server, url) as admin:
        version = admin.execute("SHOW server_version_num").fetchone()[0]
        if int(version) < 130000:
            raise Refused("PostgreSQL 13 or later is needed (gen_random_uuid, DROP DATABASE … WITH (FORCE)).")
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')


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
