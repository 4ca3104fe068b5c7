"""What tests hand to processes of their own (a server, a worker, a fresh Django): the test
database's URL, and a setting as a new process on the production settings reads it."""

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent


def suite_database_url() -> str:
    """The test database as a URL: a process started by the test sees the test's rows."""
    db = settings.DATABASES["default"]
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db.get('PORT') or 5432}/{db['NAME']}"


def printed_by_production_settings(expression: str, env: dict, drop=()) -> str:
    """What `print(<expression>)` prints (`s` is django.conf.settings) in a new Python on
    config.settings, with this process's environment less `drop`, plus `env`."""
    code = f"import django; django.setup(); from django.conf import settings as s; print({expression})"
    base = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", *drop}}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()
