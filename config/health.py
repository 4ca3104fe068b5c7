"""The probes: `/healthz` (the process is up) and `/readyz` (it can serve: its database, migrations,
broker and cache answer). Plumbing: imports no app.

Load balancers and orchestrators call them every few seconds, unauthenticated, often by the
machine's IP address. So `ProbeMiddleware`, the first of all, answers them itself: no
ALLOWED_HOSTS check (Django checks the Host in `request.get_host()`, which the probes never call:
nothing they answer depends on the Host), no HTTPS redirect, session, CSRF, locale, CSP or rate
limit, and `Cache-Control: no-store`. Their answers carry nothing secret: a state and a fixed
phrase per dependency, never an error's text (that goes to the log, on a change of state).

`/readyz` checks each dependency in a thread of its own, all at once, each with a connect (and
read) timeout, and waits for them at most HEALTH_CHECK_TIMEOUT seconds in all: a dependency that
hangs is `timeout`, and the answer still comes within that time. It opens a connection of its own
to each (closed after), so a probe never takes or spoils a connection the site's requests use.
On the embedded defaults it says what it did not check: tasks running in the web process
(`"broker": {"status": "in_process"}`), a per-process cache (`"cache": {"status": "in_process"}`).
"""

import logging
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import redis
from celery import current_app
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

OK, IN_PROCESS, DOWN, TIMEOUT, PENDING, UNKNOWN = "ok", "in_process", "down", "timeout", "pending", "unknown"
READY = {OK, IN_PROCESS}
IN_PROCESS_CACHES = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)

# Threads for the checks, started at the first probe (so never in gunicorn's master before it forks
# its workers). A check stuck on a hung dependency holds its thread until its own timeout; meanwhile
# the other probes' checks have the rest.
_checks = ThreadPoolExecutor(max_workers=8, thread_name_prefix="readyz")
_last_states: dict[str, str] = {}
_last_states_lock = threading.Lock()


def _timeout() -> float:
    """How long /readyz waits for its checks, in all."""
    return float(settings.HEALTH_CHECK_TIMEOUT)


def _dependency_timeout() -> float:
    """Each check's own connect and read timeout: a little longer than the wait, so that a hung
    dependency is reported as `timeout` by the wait, and its thread is free soon after."""
    return _timeout() + 1


def check_database() -> dict:
    """`SELECT 1` and the migration plan, on this check thread's own connection (with a connect
    timeout on PostgreSQL), closed and forgotten after: `database` and `migrations`."""
    connection = connections[DEFAULT_DB_ALIAS]  # the check thread's: no request ever uses it
    if connection.vendor == "postgresql":
        options = {**connection.settings_dict.get("OPTIONS", {}), "connect_timeout": math.ceil(_dependency_timeout())}
        connection.settings_dict = {**connection.settings_dict, "OPTIONS": options}  # this object's only
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        database = {"status": OK}
        executor = MigrationExecutor(connection)  # reads django_migrations through the same alias
        unapplied = len(executor.migration_plan(executor.loader.graph.leaf_nodes()))
        if unapplied:
            migrations = {"status": PENDING, "error": f"{unapplied} not applied"}
        else:
            migrations = {"status": OK}
    finally:
        connection.close()
        del connections[DEFAULT_DB_ALIAS]  # the next check builds it afresh from the settings
    return {"database": database, "migrations": migrations}


def check_broker() -> dict:
    """An AMQP connection to the broker, opened (handshake and login) and closed."""
    url = settings.CELERY_BROKER_URL
    if url == "memory://":
        return {"broker": {"status": IN_PROCESS}}
    with current_app.connection_for_write(url, connect_timeout=_dependency_timeout()) as connection:
        connection.ensure_connection(max_retries=0)
    return {"broker": {"status": OK}}


def check_cache() -> dict:
    """Redis: a PING on a connection of the probe's own. A per-process cache has nothing to reach."""
    config = settings.CACHES["default"]
    backend = import_string(config["BACKEND"])
    if config["BACKEND"] in IN_PROCESS_CACHES:
        return {"cache": {"status": IN_PROCESS}}
    if not issubclass(backend, RedisCache):  # any other backend: one read through it
        caches["default"].get("readyz")
        return {"cache": {"status": OK}}
    locations = config["LOCATION"]
    options = {
        name: value
        for name, value in (config.get("OPTIONS") or {}).items()
        if name not in {"pool_class", "parser_class"}
    }
    for location in [locations] if isinstance(locations, str) else locations:
        client = redis.Redis.from_url(
            location, **options, socket_connect_timeout=_dependency_timeout(), socket_timeout=_dependency_timeout()
        )
        try:
            client.ping()
        finally:
            client.close()
    return {"cache": {"status": OK}}


CHECKS = {  # the names each check answers for
    check_database: ("database", "migrations"),
    check_broker: ("broker",),
    check_cache: ("cache",),
}


def _run(check):
    started = time.perf_counter()
    try:
        return check(), None, time.perf_counter() - started
    except Exception as error:  # noqa: BLE001 - any failure of a dependency is its "down"
        return None, error, time.perf_counter() - started


def readiness() -> tuple[bool, dict]:
    """Whether every dependency answers, and each one's state (`ok`, `in_process`, `down`,
    `timeout`, or for migrations `pending`, `unknown`), within HEALTH_CHECK_TIMEOUT in all."""
    deadline = time.monotonic() + _timeout()
    futures = {check: _checks.submit(_run, check) for check in CHECKS}
    states, errors = {}, {}
    for check, future in futures.items():
        names = CHECKS[check]
        try:
            answer, error, seconds = future.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            states.update(dict.fromkeys(names, {"status": TIMEOUT, "error": f"no answer within {_timeout():g} s"}))
            states.update({name: {"status": UNKNOWN} for name in names[1:]})
            continue
        if error is not None:
            states[names[0]] = {"status": DOWN, "error": "could not connect", "ms": round(seconds * 1000, 1)}
            states.update({name: {"status": UNKNOWN} for name in names[1:]})
            errors[names[0]] = error
            continue
        for name in names:
            states[name] = answer[name]
        if states[names[0]]["status"] == OK:
            states[names[0]]["ms"] = round(seconds * 1000, 1)
    _log_changes(states, errors)
    return all(state["status"] in READY for state in states.values()), states


def _log_changes(states: dict, errors: dict) -> None:
    """One log line when a dependency's state changes in this process (not one per probe)."""
    with _last_states_lock:
        changed = {name: state["status"] for name, state in states.items() if _last_states.get(name) != state["status"]}
        _last_states.update(changed)
    for name, status in changed.items():
        error = errors.get(name)
        if status in READY:
            logger.info("readyz: %s: %s", name, status)
        elif error is not None:
            logger.warning("readyz: %s: %s (%s: %s)", name, status, type(error).__name__, error)
        else:
            logger.warning("readyz: %s: %s (%s)", name, status, states[name].get("error", ""))


def _answer(request, status: int, body: dict) -> JsonResponse:
    if request.method not in ("GET", "HEAD"):
        response = JsonResponse({"status": "method_not_allowed"}, status=405)
        response["Allow"] = "GET, HEAD"
    else:
        response = JsonResponse(body, status=status)
    response["Cache-Control"] = "no-store"
    # Not Django's "Service Unavailable: /readyz" at ERROR for each failing probe: a change of state
    # is logged once (`_log_changes`), and gunicorn's access log has every failed probe.
    response._has_been_logged = True
    return response


def healthz(request) -> JsonResponse:
    """The process is up and answers; nothing else is checked."""
    return _answer(request, 200, {"status": "ok"})


def readyz(request) -> JsonResponse:
    """200 when every dependency answers, else 503; each named with its state."""
    if request.method not in ("GET", "HEAD"):
        return _answer(request, 405, {})
    ready, checks = readiness()
    return _answer(request, 200 if ready else 503, {"status": "ok" if ready else "unavailable", "checks": checks})


PROBES = {"/healthz": healthz, "/readyz": readyz}  # the PROBE_PATHS whose good answers gunicorn does not log


class ProbeMiddleware:
    """Answers the probes before any other middleware runs (see the module's docstring)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        probe = PROBES.get(request.path_info)
        if probe is None:
            return self.get_response(request)
        return probe(request)
