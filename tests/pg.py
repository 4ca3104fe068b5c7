"""A second PostgreSQL connection to the test database, outside Django's: to hold a lock, or to
see what another transaction leaves locked, as a concurrent request would."""

import psycopg
from django.conf import settings


def other_connection() -> psycopg.Connection:
    db = settings.DATABASES["default"]
    return psycopg.connect(
        host=db["HOST"], port=db.get("PORT") or 5432, user=db["USER"], dbname=db["NAME"], password=db.get("PASSWORD")
    )
