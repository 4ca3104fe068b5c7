"""The probes (issue 17, point 1): /healthz says the process is up; /readyz checks the database, the
migrations, the broker and the cache, names each with its state, and answers 503 when one is down
or hangs — within HEALTH_CHECK_TIMEOUT. Both answer whatever the Host, over plain HTTP, never
throttled.

A dependency is made unreachable by pointing its setting at a port that nothing listens on, or at
a socket that accepts connections and never answers (the shared services are never stopped)."""

import socket
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections
from django.test import Client, override_settings

from config import health
from config.logs import PROBE_PATHS

pytestmark = pytest.mark.django_db


def closed_port() -> int:
    """A port on 127.0.0.1 that refuses connections (just bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Silent:
    """A TCP server on 127.0.0.1 whose kernel accepts connections that nobody ever reads or
    answers: a dependency that hangs."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]

    def close(self):
        self.sock.close()


def postgres_at(port: int) -> dict:
    """The database settings of a PostgreSQL server on 127.0.0.1:`port`."""
    return {
        **connections.settings["default"],
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "moments",
        "USER": "moments",
        "PASSWORD": "",
        "HOST": "127.0.0.1",
        "PORT": port,
        "OPTIONS": {},
    }


def redis_cache_at(port: int) -> dict:
    return {"default": {"BACKEND": "config.cache.ReusingRedisCache", "LOCATION": f"redis://127.0.0.1:{port}/0"}}


def readyz(**client_kwargs):
    started = time.monotonic()
    response = Client(**client_kwargs).get("/readyz")
    return response, time.monotonic() - started


def test_healthz_says_the_process_is_up_and_touches_nothing(django_assert_num_queries):
    with django_assert_num_queries(0):
        response = Client().get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"


def test_readyz_names_each_dependency_and_what_it_checked():
    response, _ = readyz()

    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    checks = body["checks"]
    assert set(checks) == {"database", "migrations", "broker", "cache"}
    assert checks["database"]["status"] == "ok" and checks["database"]["ms"] >= 0
    assert checks["migrations"] == {"status": "ok"}
    # On the embedded defaults nothing is reached, and it says so; on real services each answered.
    in_process_broker = settings.CELERY_BROKER_URL == "memory://"
    assert checks["broker"]["status"] == ("in_process" if in_process_broker else "ok")
    assert checks["cache"]["status"] == ("ok" if settings.REDIS_URL else "in_process")
    assert response["Cache-Control"] == "no-store"


@pytest.mark.needs("postgresql", "rabbitmq", "redis")
def test_readyz_on_the_real_services_reaches_each_of_them():
    checks = readyz()[0].json()["checks"]

    assert {name: check["status"] for name, check in checks.items()} == dict.fromkeys(checks, "ok")
    assert all("ms" in checks[name] for name in ("database", "broker", "cache"))


def test_a_cache_that_refuses_connections_is_down_and_readyz_answers_503():
    with override_settings(CACHES=redis_cache_at(closed_port())):
        response, seconds = readyz()

    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "unavailable"
    assert body["checks"]["cache"] == {
        "status": "down",
        "error": "could not connect",
        "ms": body["checks"]["cache"]["ms"],
    }
    assert body["checks"]["database"]["status"] == "ok"  # the others still say how they are
    assert seconds < 2


def test_a_broker_that_refuses_connections_is_down():
    with override_settings(CELERY_BROKER_URL=f"amqp://guest:guest@127.0.0.1:{closed_port()}//"):
        response, seconds = readyz()

    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["status"] == "down"
    assert seconds < 2


def test_a_database_that_refuses_connections_is_down_and_migrations_unknown(monkeypatch):
    monkeypatch.setitem(connections.settings, "default", postgres_at(closed_port()))

    response, _ = readyz()

    checks = response.json()["checks"]
    assert response.status_code == 503
    assert checks["database"]["status"] == "down" and checks["migrations"] == {"status": "unknown"}


def test_unapplied_migrations_make_it_not_ready(monkeypatch, tmp_path: Path):
    """A database that answers but was never migrated (a release step that did not run)."""
    empty = {**connections.settings["default"], "ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "db")}
    empty.update(HOST="", PORT="", USER="", PASSWORD="", OPTIONS={})
    monkeypatch.setitem(connections.settings, "default", empty)

    response, _ = readyz()

    checks = response.json()["checks"]
    assert response.status_code == 503
    assert checks["database"]["status"] == "ok"
    assert checks["migrations"]["status"] == "pending"
    assert checks["migrations"]["error"].endswith(" not applied") and int(checks["migrations"]["error"].split()[0]) > 0


def test_dependencies_that_hang_are_a_timeout_and_readyz_still_answers_in_time(monkeypatch):
    silent = Silent()
    try:
        monkeypatch.setitem(connections.settings, "default", postgres_at(silent.port))
        with override_settings(
            HEALTH_CHECK_TIMEOUT=1.0,
            CACHES=redis_cache_at(silent.port),
            CELERY_BROKER_URL=f"amqp://guest:guest@127.0.0.1:{silent.port}//",
        ):
            response, seconds = readyz()
    finally:
        silent.close()

    checks = response.json()["checks"]
    assert response.status_code == 503
    assert seconds < 1.8, seconds  # the deadline, not the dependencies' own timeouts
    assert {name: checks[name]["status"] for name in ("database", "broker", "cache")} == dict.fromkeys(
        ("database", "broker", "cache"), "timeout"
    )
    assert checks["database"]["error"] == "no answer within 1 s"
    assert checks["migrations"] == {"status": "unknown"}


def test_a_change_of_state_is_logged_once_not_at_every_probe(caplog, monkeypatch):
    monkeypatch.setattr(health, "_last_states", {})  # as in a fresh process
    with override_settings(CACHES=redis_cache_at(closed_port())), caplog.at_level("INFO", logger="config.health"):
        readyz()
        readyz()
    with caplog.at_level("INFO", logger="config.health"):
        readyz()

    lines = [record.getMessage() for record in caplog.records if record.name == "config.health"]
    down = [line for line in lines if line.startswith("readyz: cache: down")]
    assert len(down) == 1, lines
    assert "ConnectionError" in down[0]  # the error's class and text go to the log, not the answer
    assert lines[-1] in ("readyz: cache: ok", "readyz: cache: in_process"), lines
    assert not [record for record in caplog.records if record.name == "django.request"]  # no "Service Unavailable"


@pytest.mark.parametrize("path", sorted(PROBE_PATHS))
def test_probes_answer_any_host_over_plain_http(path):
    """Load balancers and kubelets probe by the machine's IP address, over HTTP: neither
    ALLOWED_HOSTS nor the HTTPS redirect applies to the probes (and still does to every page)."""
    with override_settings(SECURE_SSL_REDIRECT=True, ALLOWED_HOSTS=["moments.example"]):
        by_ip = Client(HTTP_HOST="10.0.3.7:8000").get(path)
        page_by_ip = Client(HTTP_HOST="10.0.3.7:8000").get("/")
        page_over_http = Client(HTTP_HOST="moments.example").get("/")

    assert by_ip.status_code == 200
    assert page_by_ip.status_code == 400  # DisallowedHost
    assert page_over_http.status_code == 301 and page_over_http["Location"].startswith("https://")


@pytest.mark.parametrize("path", sorted(PROBE_PATHS))
def test_probes_are_never_throttled_nor_need_a_session_or_csrf(path, settings):
    settings.API_RATE_LIMITS = {**settings.API_RATE_LIMITS, "default": 1}
    client = Client(enforce_csrf_checks=True)

    statuses = [client.get(path).status_code for _ in range(5)]
    posted = client.post(path)

    assert statuses == [200] * 5
    assert posted.status_code == 405 and posted["Allow"] == "GET, HEAD"  # not a CSRF 403: no form here
    assert "sessionid" not in client.cookies and "csrftoken" not in client.cookies


def test_the_probes_answer_before_any_other_middleware():
    assert settings.MIDDLEWARE[0] == "config.health.ProbeMiddleware"
    assert set(health.PROBES) == PROBE_PATHS  # the paths whose good answers the access log skips


def test_many_probes_at_once_against_a_hung_dependency_all_answer_in_time():
    silent = Silent()
    answers = []
    try:
        with override_settings(HEALTH_CHECK_TIMEOUT=1.0, CACHES=redis_cache_at(silent.port)):

            def probe():
                answers.append(readyz())

            threads = [threading.Thread(target=probe) for _ in range(6)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(10)
    finally:
        silent.close()

    assert len(answers) == 6
    assert all(response.status_code == 503 and seconds < 2.5 for response, seconds in answers), [
        (r.status_code, s) for r, s in answers
    ]
