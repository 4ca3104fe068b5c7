"""Fixtures shared by the whole suite, and the rule for tests that need an outside service.

A test marked `@pytest.mark.needs("postgresql", ...)` runs only where that service is reachable.
Locally a missing service skips it with the reason; in CI (`CI=true`) a missing service fails it,
so a green CI run never hides an untested path.
"""

import os
import shutil
import socket
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection

from rewards.process_cache import ProcessCache
from tenants.scoping import across_brands
from tests import factories
from tests.faults.servers import postgres_server_missing, rabbitmq_server_missing
from tests.httpserver import Recorder
from tests.workers import PublishTo, Worker

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
    # The fault tests start private servers of their own to restart (tests/faults/servers.py).
    if name == "postgresql-server":
        return postgres_server_missing()
    if name == "rabbitmq-server":
        return rabbitmq_server_missing()
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
def _test_code_reads_across_brands():
    """A test's own setup and assertions read any brand's rows. The code under test does not
    inherit that: every request and every task starts from an empty, enforcing scope
    (config/scopes.py), so a surface that forgets to enter its brand fails here as in production."""
    with across_brands():
        yield


@pytest.fixture(autouse=True)
def _uploads_in_a_temporary_folder(settings, tmp_path):
    """Files a test uploads (logos, catalog pictures, the demo's) go to a folder of its own."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _required_services(request):
    marker = request.node.get_closest_marker("needs")
    if marker is not None:
        require_services(*marker.args)


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, tmp_path_factory):
    """One real worker for the session (see tests/workers.py)."""
    require_services("postgresql", "rabbitmq")  # session fixtures start before the marker check
    worker = Worker(tmp_path_factory.mktemp("worker")).start()
    yield worker
    worker.stop()
    worker.delete_queue()


@pytest.fixture
def worker(celery_worker, transactional_db):
    """Tasks go to the session's real worker (committed data only: the test is transactional),
    on a queue emptied of what earlier tests left."""
    if celery_worker.process.poll() is not None:
        log = celery_worker.log_path.read_text(errors="replace")
        pytest.fail(f"the session's Celery worker has died:\n{log[-3000:]}")
    celery_worker.purge()
    with PublishTo(celery_worker.queue):
        yield celery_worker


@pytest.fixture
def own_worker(django_db_setup, transactional_db, tmp_path):
    """A worker of the test's own, to kill and restart; tasks go to it."""
    require_services("postgresql", "rabbitmq")
    worker = Worker(tmp_path).start()
    with PublishTo(worker.queue):
        yield worker
    worker.stop()
    worker.delete_queue()


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts with an empty cache: cached API keys must not leak between tests."""
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


@pytest.fixture
def receiver():
    """A brand's webhook endpoint on 127.0.0.1 (the one outside service every webhook test needs):
    it records each request and gives the (status, body) queued in `receiver.answers`, then 200 {}."""
    answers = []
    server = Recorder(lambda request: answers.pop(0) if answers else (200, {}))
    server.answers = answers
    yield server
    server.close()
