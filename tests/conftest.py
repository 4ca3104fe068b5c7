"""Fixtures shared by the whole suite, and the rule for tests that need an outside service.

A test marked `@pytest.mark.needs("postgresql", ...)` runs only where that service is reachable.
Locally a missing service skips it with the reason; in CI (`CI=true`) a missing service fails it,
so a green CI run never hides an untested path.
"""

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.db import connection

from tests import factories

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=1):
            return True
    except OSError:
        return False


def service_missing(name: str) -> str | None:
    """Why the service cannot be used here, or None when it can."""
    if name == "postgresql":
        return None if connection.vendor == "postgresql" else "DATABASE_URL does not point at PostgreSQL"
    if name == "redis":
        if not settings.REDIS_URL:
            return "REDIS_URL is not set"
        return None if _reachable(settings.REDIS_URL, 6379) else f"Redis at {settings.REDIS_URL} is not reachable"
    if name == "rabbitmq":
        url = settings.CELERY_BROKER_URL
        if not url.startswith("amqp"):
            return "CELERY_BROKER_URL does not point at RabbitMQ"
        return None if _reachable(url, 5672) else "RabbitMQ is not reachable"
    if name == "chromium":
        return None if shutil.which(CHROMIUM) else f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    raise ValueError(f"unknown service {name!r}")


def require_services(*names: str) -> None:
    """Skip (locally) or fail (in CI) unless every named service can be used here."""
    reasons = [reason for reason in map(service_missing, names) if reason]
    if not reasons:
        return
    message = "needs a service: " + "; ".join(reasons)
    if IN_CI:
        pytest.fail(f"{message} (CI must provide every service)")
    pytest.skip(message)


@pytest.fixture(autouse=True)
def _required_services(request):
    marker = request.node.get_closest_marker("needs")
    if marker is not None:
        require_services(*marker.args)


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, tmp_path_factory):
    """A real Celery worker process on the real broker and the test database.

    It consumes a queue of its own, so no other run's tasks reach it; tasks publish to that
    queue (not run eagerly) while a test uses the `worker` fixture. Its emails go to files.
    """
    require_services("postgresql", "rabbitmq")  # session fixtures start before the marker check
    database = settings.DATABASES["default"]
    queue = f"moments-test-{uuid.uuid4().hex[:8]}"
    mail_dir = tmp_path_factory.mktemp("worker-mail")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SECRET_KEY": settings.SECRET_KEY,
        "ALLOWED_HOSTS": "testserver",
        "DATABASE_URL": (
            f"postgres://{database['USER']}:{database.get('PASSWORD') or ''}@{database['HOST']}:"
            f"{database.get('PORT') or 5432}/{database['NAME']}"
        ),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "REDIS_URL": settings.REDIS_URL,
        "ALLOW_PROCESS_LOCAL_CACHE": "true",
        "EMAIL_URL": f"filemail:///{mail_dir}",
        "SITE_URL": settings.SITE_URL,
    }
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "-Q",
        queue,
        "--concurrency",
        "1",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--loglevel",
        "INFO",
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        lines.append(line)
        if " ready." in line or process.poll() is not None:
            break
    if process.poll() is not None or not any(" ready." in line for line in lines):
        process.kill()
        pytest.fail("the Celery worker did not start:\n" + "".join(lines[-30:]))
    # Keep reading its output, so a full pipe never stalls it.
    threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()
    yield WorkerHandle(process=process, queue=queue, mail_dir=mail_dir)
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


@dataclass
class WorkerHandle:
    process: subprocess.Popen
    queue: str
    mail_dir: Path

    def wait_for(self, condition, timeout=30.0, what="the worker"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.1)
        pytest.fail(f"timed out waiting for {what}")


@pytest.fixture
def worker(celery_worker, transactional_db):
    """Publish tasks to the real worker (committed data only: the test is transactional)."""
    from config.celery import app

    conf = app.conf
    saved = conf.task_always_eager, conf.task_default_queue
    conf.task_always_eager, conf.task_default_queue = False, celery_worker.queue
    yield celery_worker
    conf.task_always_eager, conf.task_default_queue = saved


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts with an empty cache: cached API keys must not leak between tests."""
    from django.core.cache import cache

    from rewards.selectors import ProcessCache

    cache.clear()
    for process_cache in ProcessCache.instances:
        process_cache.clear()
    yield


@pytest.fixture
def brand_a(db):
    return factories.BrandFactory(slug="alpha-fitness", name="Alpha Fitness")


@pytest.fixture
def brand_b(db):
    return factories.BrandFactory(slug="beta-news", name="Beta News")


@pytest.fixture
def owner_a(brand_a):
    return factories.MembershipFactory(brand=brand_a, role="owner").user


@pytest.fixture
def owner_b(brand_b):
    return factories.MembershipFactory(brand=brand_b, role="owner").user


@pytest.fixture
def operator(db):
    return factories.UserFactory(is_staff=True, is_superuser=True)
