"""Backups restore (platform/DEPLOY.md, "Backups"): the demo seeded into a scratch database, dumped
with the documented `pg_dump` command, restored with the documented `pg_restore` command into another
empty one, holds the same rows in every table and needs no migration. Both scratch databases are
dropped afterwards."""

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlparse

import psycopg
import pytest
from django.conf import settings

from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parent.parent
# Tables whose rows the demo must have made: the dump is checked on real data, not on empty tables.
KEY_TABLES = [
    "tenants_brand",
    "tenants_user",
    "tenants_apikey",
    "tenants_auditentry",
    "rewards_campaign",
    "rewards_event",
    "rewards_progress",
    "rewards_moment",
    "rewards_ledgerentry",
    "rewards_donation",
    "storefront_order",
    "storefront_walletentry",
]

pytestmark = pytest.mark.needs("postgresql")


def server():
    db = settings.DATABASES["default"]
    return {"host": db["HOST"], "port": db.get("PORT") or 5432, "user": db["USER"], "password": db.get("PASSWORD")}


def url_of(name: str) -> str:
    s = server()
    password = f":{s['password']}" if s["password"] else ""
    return f"postgres://{s['user']}{password}@{s['host']}:{s['port']}/{name}"


def admin_sql(statement: str) -> None:
    with psycopg.connect(dbname="postgres", autocommit=True, **server()) as conn:
        conn.execute(statement)


def row_counts(name: str) -> dict[str, int]:
    with psycopg.connect(dbname=name, **server()) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1"
            )
        ]
        return {table: conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] for table in tables}


def run(command, **env) -> str:
    result = subprocess.run(command, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{command[:3]}: {result.stdout[-2000:]}{result.stderr[-2000:]}"
    return result.stdout


def test_a_dump_of_a_seeded_database_restores_every_row_into_an_empty_one(tmp_path):
    missing = [tool for tool in ("pg_dump", "pg_restore") if shutil.which(tool) is None]
    if missing:
        message = f"needs PostgreSQL's client tools: {', '.join(missing)} (apt-get install postgresql-client)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    # Named after the run's own database (moments_ci_<run> in CI), so runs side by side never meet.
    base = urlparse(os.environ["DATABASE_URL"]).path.lstrip("/")
    source, restored = (f"{base}_backup_{uuid.uuid4().hex[:8]}_{side}" for side in ("source", "restored"))
    dump = tmp_path / "moments.dump"
    app = {
        "DJANGO_SETTINGS_MODULE": "config.settings_test",  # secrets of the tests; tasks in-process
        "DATABASE_URL": url_of(source),
        "CELERY_BROKER_URL": "",
        "REDIS_URL": "",
    }
    try:
        admin_sql(f'CREATE DATABASE "{source}"')
        admin_sql(f'CREATE DATABASE "{restored}"')
        run([sys.executable, "manage.py", "migrate", "--noinput"], **app)
        run([sys.executable, "manage.py", "seed_demo"], **app)

        # platform/DEPLOY.md, "Backups": these two commands, word for word.
        deploy = (ROOT / "platform" / "DEPLOY.md").read_text()
        assert 'pg_dump --format=custom --file=moments.dump "$DATABASE_URL"' in deploy
        assert 'pg_restore --no-owner --no-privileges --exit-on-error --dbname="$RESTORE_URL" moments.dump' in deploy
        run(["pg_dump", "--format=custom", f"--file={dump}", url_of(source)])
        run(["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", f"--dbname={url_of(restored)}", dump])

        before, after = row_counts(source), row_counts(restored)
        assert after == before
        assert [table for table in KEY_TABLES if before.get(table, 0) == 0] == []
        check = run([sys.executable, "manage.py", "migrate", "--check"], **{**app, "DATABASE_URL": url_of(restored)})
        assert "error" not in check.lower()
    finally:
        admin_sql(f'DROP DATABASE IF EXISTS "{source}" WITH (FORCE)')
        admin_sql(f'DROP DATABASE IF EXISTS "{restored}" WITH (FORCE)')
