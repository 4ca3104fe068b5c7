"""Benchmark: the events API under load, against the least SQL one event needs (issue 13).

A script, not a test (pytest collects only test_*.py). PostgreSQL only; it creates its own database,
`moments_bench_ingest`, on the server DATABASE_URL names (the database in the URL is only used to
reach the server) and drops it at the end, on failure and Ctrl-C too:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python tests/benchmarks/ingest.py

(`--quick` for a short smoke run: 5 s phases.) Needs `wrk` (apt-get install wrk) and `pgbench` on
PATH, Redis (`--redis-url`, default redis://127.0.0.1:6379/7: a db of its own, flushed before and
after, nothing else) and a RabbitMQ broker (`--broker-url`; the ingest path publishes nothing here,
the brand having no webhook endpoint, and any task would go to the queue `moments-bench-ingest`).

The scene, through the ORM and the services: one brand (monthly cap 15,000.00), a live API key,
three active campaigns on `workout_completed` (threshold 5, CPA 3.00, budget 5,000.00, max one
moment per user, a digital-code item each).

The server: gunicorn with platform/gunicorn.conf.py (gthread, preloaded app, access log on) and
production settings (config.settings, DEBUG off, the cache and the throttle's counters in Redis,
CONN_MAX_AGE 60), bound to 127.0.0.1 on a free port, 3 workers × 4 threads by default. What this
run changes from production: `API_RATE_LIMIT` and `API_BATCH_RATE_LIMIT` (requests per key per
minute, 6,000 and 120 by default) are raised to 1,000,000,000, so the throttle still counts every
request in Redis but never refuses one; `WEB_CONCURRENCY` is 3 (the conf's default, 2 × CPUs + 1,
would be 5 processes on 2 cores that also run PostgreSQL and the load generator); a fresh random
SECRET_KEY, ALLOWED_HOSTS=127.0.0.1.

The load: wrk (C, so the load generator costs little of the 2 cores), from other processes, with
a Lua script this file writes. Every new event has a unique event_id and a unique user_id; one new
event in 100 has quantity 5 (it crosses the threshold: a moment in each campaign), the others 1 (one
in 100 keeps a month's budget, 1,666 moments a campaign, from running out within the run at several
times today's rate: a capped campaign would change what an event costs; the run says if one was);
10 % of the posts (of the items, in batches) re-post an event_id already sent, with the identical body.
Single events: 16 connections, a 3 s warm-up, then 20 s measured. Batches of 500: 4 connections,
the same. The latencies are wrk's, per request (a batch is one request). After each wrk run the
script waits until the workers are idle again (what wrk left in flight still runs on the server),
so no phase measures the tail of the one before. Events/s count every post, replays included;
wrk counts only the answers it got, so a closed loop of 4 slow batches reads a few % low.

The baselines, in the same run on the same server and database, with pgbench: the two statements
the least SQL a new event needs (issue 13's definition; the service itself claims the event's id in
the narrow key table first, then writes the event with its answer: rewards/earning/services.py), with
random ids and the event's answer stored in the same INSERT — insert the event (ON CONFLICT DO
NOTHING RETURNING), upsert its progress rows (one per active campaign, three rows in one statement,
ON CONFLICT DO UPDATE … RETURNING; `--progress-rows 1` for one row only).
"Single": one event per transaction, 8 clients; "bulk": 500 events per transaction (INSERT … SELECT
generate_series), 4 clients. Order: pgbench single, API single, API batch, pgbench bulk (last: it
writes the most rows, hundreds of thousands, which no later phase should find in its indexes).

Two opt-in phases (issue 13, point 2), off by default so that the default run stays ~90 s:
`--half-rate` runs single events again right after the single-event phase, paced at half the rate
that phase measured (wrk cannot pace at a fixed rate: each connection waits before every request, as
wrk's Lua `delay()` lets it, the wait calibrated on the warm-up so that wait + latency gives the
target rate), and prints p50/p99 there against the target p99 <= 50 ms. `--stored N` then loads N
events for the brand with COPY (THRESHOLD - 1 events a user, so each stored user has one progress
row per campaign one event short of the threshold, as the service would have left it: no moments),
VACUUM ANALYZEs both tables and measures single events again, printed as a ratio to the rate of the
single-event phase on the small table (target >= 0.9x). With `--stored`, the batch and pgbench bulk
phases that follow run on the large tables.
Every API figure is printed as a ratio to its baseline, with p50/p99, each worker's peak RSS
(VmHWM of the master's children) and the machine.
"""

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import psycopg
from scratch_database import Refused, create_database, drop_database, server_for  # beside this script

ROOT = Path(__file__).resolve().parents[2]
BENCH_DB = "moments_bench_ingest"
ACTION = "workout_completed"
CAMPAIGNS = 3
THRESHOLD = 5
CPA = "3.00"
BUDGET = "5000.00"
UNLIMITED = "1000000000"  # API_RATE_LIMIT / API_BATCH_RATE_LIMIT for this run
CELERY_QUEUE = "moments-bench-ingest"
TARGETS = {"single": 0.30, "batch": 0.25, "rss_mib": 150, "half_rate_p99_ms": 50, "stored": 0.9}  # issue 13, point 2


def main() -> int:
    options = parse_args()
    url = urlparse(os.environ.get("DATABASE_URL", ""))
    try:
        server = server_for(url, BENCH_DB)
    except Refused as refused:
        print(f"refused: {refused}")
        return 2
    missing = [tool for tool in ("wrk", "pgbench") if not shutil.which(tool)]
    if missing:
        print(f"refused: {' and '.join(missing)} not on PATH (apt-get install wrk postgresql-client).")
        return 2
    # SIGTERM ends the run like Ctrl-C does: through the `finally` that stops and drops everything.
    # Ctrl-C is KeyboardInterrupt even when this process was started with SIGINT ignored (`cmd &`).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    started = time.perf_counter()
    processes = Processes()
    work_dir = Path(tempfile.mkdtemp(prefix="moments-bench-ingest-"))
    created = redis_used = failed = False
    try:
        try:
            create_database(server, url, BENCH_DB)
        except Refused as refused:
            print(f"refused: {refused}")
            return 2
        created = True
        flush_redis(options.redis_url)
        redis_used = True
        configure_django(url, options)
        return run(options, server, processes, work_dir)
    except BaseException:
        failed = True
        raise
    finally:
        processes.stop_all()
        if created:
            drop_database(server, url, BENCH_DB)
        if redis_used:
            flush_redis(options.redis_url)
            print(f"flushed {options.redis_url}")
        if failed or options.keep_logs:
            print(f"logs kept in {work_dir}")
        else:
            shutil.rmtree(work_dir, ignore_errors=True)
        print(f"total time: {time.perf_counter() - started:.0f} s")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20, help="measured seconds of each API phase")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up seconds before each API phase")
    parser.add_argument("--pgbench-seconds", type=int, default=15, help="seconds of each pgbench phase")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 5 s phases, 1 s warm-ups")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections for single events")
    parser.add_argument("--batch-clients", type=int, default=4, help="wrk connections for batches")
    parser.add_argument("--batch-size", type=int, default=500, help="events per batch")
    parser.add_argument("--pgbench-clients", type=int, default=8, help="pgbench clients, single")
    parser.add_argument("--pgbench-bulk-clients", type=int, default=4, help="pgbench clients, bulk")
    parser.add_argument(
        "--progress-rows",
        type=int,
        default=CAMPAIGNS,
        choices=range(1, CAMPAIGNS + 1),
        help="progress rows pgbench upserts per event (default: one per active campaign, as the service does)",
    )
    parser.add_argument("--replays", type=float, default=0.10, help="share of posts that are replays")
    parser.add_argument("--grant-every", type=int, default=100, help="one new event in N crosses the threshold")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/7", help="a Redis db of the run's own")
    parser.add_argument("--broker-url", default="amqp://guest:guest@127.0.0.1:5672//")
    parser.add_argument("--keep-logs", action="store_true", help="keep gunicorn's log and the scripts")
    parser.add_argument(
        "--half-rate", action="store_true", help="also run single events paced at half their maximum rate (p99)"
    )
    parser.add_argument(
        "--stored",
        type=int,
        default=0,
        metavar="N",
        help="also load N events with COPY and measure single events again (e.g. 1000000)",
    )
    parser.add_argument(
        "--flamegraph",
        type=Path,
        metavar="DIR",
        help="record the workers with py-spy during the measured single and batch phases; SVGs into DIR",
    )
    parser.add_argument(
        "--flamegraph-format",
        choices=["flamegraph", "raw"],
        default="flamegraph",
        help="an SVG, or raw collapsed stacks (a .txt to read or diff)",
    )
    options = parser.parse_args()
    if options.quick:
        options.seconds, options.warmup, options.pgbench_seconds = 5, 1, 5
    return options


def flush_redis(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        client.flushdb()  # this db only
    finally:
        client.close()


def production_environment(url, options) -> dict:
    """What gunicorn and this process run with: production settings, this run's database and Redis db."""
    return {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",  # gunicorn is reached over plain HTTP on loopback
        "DATABASE_URL": urlunparse(url._replace(path=f"/{BENCH_DB}")),
        "REDIS_URL": options.redis_url,
        "CELERY_BROKER_URL": options.broker_url,
        "CELERY_QUEUE": CELERY_QUEUE,
        "API_RATE_LIMIT": UNLIMITED,
        "API_BATCH_RATE_LIMIT": UNLIMITED,
        "LOG_LEVEL": "info",
    }


def configure_django(url, options) -> None:
    for name in ("ALLOW_PROCESS_LOCAL_CACHE", "WEB_CONCURRENCY", "GUNICORN_THREADS", "PORT"):
        os.environ.pop(name, None)  # a caller's setting must not change what is measured
    os.environ.update(production_environment(url, options))
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings

    assert not settings.DEBUG, "DEBUG must be off while timing"
    assert "redis" in settings.CACHES["default"]["BACKEND"].lower(), "the cache must be Redis, as in production"


# --- processes ---------------------------------------------------------------------------------


class Processes:
    """Every process this run starts, each in a session of its own (so a Ctrl-C reaches only this
    script, which stops them in order): stopped by id at the end, on failure too."""

    def __init__(self):
        self.started: list[tuple[str, subprocess.Popen]] = []

    def start(self, name, command, **kwargs) -> subprocess.Popen:
        process = subprocess.Popen(command, start_new_session=True, **kwargs)
        self.started.append((name, process))
        return process

    def stop(self, process: subprocess.Popen, grace: float = 10.0) -> None:
        if process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # its own session: the process and its children
            process.wait(timeout=10)

    def stop_all(self) -> None:
        for name, process in reversed(self.started):
            if process.poll() is None:
                grace = 40.0 if name == "gunicorn" else 5.0  # gunicorn's graceful_timeout is 30 s
                self.stop(process, grace)
                print(f"stopped {name} (pid {process.pid})")


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return sorted(found)


def memory_kib(pid: int) -> dict:
    values = {}
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                name, _, rest = line.partition(":")
                if name in ("VmHWM", "VmRSS"):
                    values[name] = int(rest.split()[0])
    except OSError:
        pass
    return values


class MemorySampler(threading.Thread):
    """Each gunicorn worker's VmHWM (peak RSS), read every half second, so that a worker recycled
    (max_requests) or killed during the run still has its figure."""

    def __init__(self, master_pid: int):
        super().__init__(daemon=True)
        self.master_pid = master_pid
        self.peaks: dict[int, int] = {}
        self.alive: set[int] = set()
        self.halt = threading.Event()

    def sample(self) -> None:
        self.alive = set(children_of(self.master_pid))
        for pid in self.alive:
            peak = memory_kib(pid).get("VmHWM")
            if peak:
                self.peaks[pid] = max(peak, self.peaks.get(pid, 0))

    def run(self) -> None:
        while not self.halt.wait(0.5):
            self.sample()


def cpu_seconds(pids) -> float:
    """User + system CPU time of these processes, in seconds."""
    ticks = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def wait_until_idle(master_pid: int, limit: float = 120.0) -> float:
    """Wait until the workers have finished what wrk left in flight when it stopped (a batch goes on
    after its client has gone): a second in which they use under 5 % of a CPU and the benchmark's
    database runs no query. Returns the seconds waited."""
    from django.db import connection

    started = time.monotonic()
    try:
        while time.monotonic() - started < limit:
            workers = children_of(master_pid)
            before = cpu_seconds(workers)
            time.sleep(1.0)
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND backend_type = 'client backend' "
                    "AND state <> 'idle' AND pid <> pg_backend_pid()"
                )
                busy = cursor.fetchone()[0]
            if cpu_seconds(workers) - before < 0.05 and not busy:
                break
    finally:
        connection.close()
    return time.monotonic() - started


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- the run ------------------------------------------------------------------------------------


def run(options, server, processes, work_dir) -> int:
    from django.core.management import call_command
    from django.db import connection, connections

    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        pg_version = cursor.fetchone()[0]
    describe_machine(pg_version)
    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    print(f"migrate: {time.perf_counter() - started:.1f} s")
    scene = make_scene()
    connections.close_all()

    port = free_port()
    server_info = start_gunicorn(options, processes, work_dir, port, scene)
    base = f"http://127.0.0.1:{port}"
    check_api(base, scene)
    sampler = MemorySampler(server_info["master"])
    sampler.sample()
    sampler.start()

    figures = {}
    try:
        figures["pgbench_single"] = pgbench(
            options, server, work_dir, "single", options.pgbench_clients, 1, single_sql(scene, options)
        )
        single = figures["api_single"] = api_phase(
            options, processes, work_dir, base, scene, server_info["master"], batch=0
        )
        new = single["statuses"].get(201, 0) + single["warmup"]["statuses"].get(201, 0)
        figures["capped"] = report_state(scene, "after the single events", "s", new)
        figures["small_events"] = table_counts(server, scene)[0]
        if options.stored:
            figures["plans_small"] = explain_hot_path(scene, stored_users=0)
        if options.half_rate:
            figures["api_half"] = half_rate_phase(
                options, processes, work_dir, base, scene, server_info["master"], single
            )
        if options.stored:
            figures["stored"] = load_stored(options, server, scene)
            figures["api_stored"] = api_phase(
                options,
                processes,
                work_dir,
                base,
                scene,
                server_info["master"],
                batch=0,
                letter="l",
                title=f" with {figures['stored']['events']:,} events stored",
            )
            figures["plans_large"] = explain_hot_path(scene, stored_users=figures["stored"]["users"])
            figures["plans_unchanged"] = plan_shapes(figures["plans_small"]) == plan_shapes(figures["plans_large"])
            print(
                "  the hot path's plans with the large tables: "
                + ("the same nodes and indexes as with the small ones" if figures["plans_unchanged"] else "CHANGED")
            )
        batch = figures["api_batch"] = api_phase(
            options, processes, work_dir, base, scene, server_info["master"], batch=options.batch_size
        )
        new = batch["items"].get(201, 0) + batch["warmup"]["items"].get(201, 0)
        figures["capped"] = report_state(scene, "after the batches", "b", new)
        figures["pgbench_bulk"] = pgbench(
            options,
            server,
            work_dir,
            "bulk",
            options.pgbench_bulk_clients,
            options.batch_size,
            bulk_sql(scene, options),
        )
    finally:
        sampler.halt.set()
        sampler.join()
    sampler.sample()
    workers = server_info["workers"]
    rss = {pid: sampler.peaks.get(pid, 0) for pid in sorted(set(sampler.peaks) | set(workers))}
    master_peak = memory_kib(server_info["master"]).get("VmHWM", 0)
    log_summary = summarise_log(server_info["log"])
    print_table(options, figures, rss, sampler.alive, master_peak, log_summary, server_info, pg_version)
    return 0


def describe_machine(pg_version: str) -> None:
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "")
    load_average = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(pg_version)
    print(f"CPUs: {os.cpu_count()} ({len(os.sched_getaffinity(0))} usable) {model}; load average {load_average}")
    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    pgbench_version = subprocess.run(["pgbench", "--version"], capture_output=True, text=True).stdout.strip()
    print(f"Python {platform.python_version()}; {platform.platform()}; {wrk_version.split(' Copyright')[0]}; ", end="")
    print(pgbench_version)


def make_scene() -> dict:
    """The brand, its live key, three catalog items and three active campaigns on one action: through
    the ORM and the services, as the admin and the API make them."""
    from rewards.campaigns.services import campaign_activate, campaign_create
    from rewards.catalog.models import CatalogItem
    from rewards.earning.models import Event, EventKey, Progress
    from tenants.models import Brand
    from tenants.scoping import across_brands
    from tenants.services import api_key_create

    with across_brands():  # the benchmark's own setup, before any request
        brand = Brand.objects.create(slug="bench", name="Bench")
        issued = api_key_create(brand=brand, mode="live", name="benchmark", actor=None)
        campaigns = []
        for number in range(1, CAMPAIGNS + 1):
            item = CatalogItem.objects.create(
                sku=f"BENCH-{number}",
                name=f"Bench reward {number}",
                kind=CatalogItem.Kind.DIGITAL_CODE,
                value=Decimal("10.00"),
                cost=Decimal("9.00"),
            )
            campaign = campaign_create(
                brand=brand,
                mode="live",
                data={
                    "slug": f"bench-{number}",
                    "name": f"Bench {number}",
                    "action": ACTION,
                    "threshold": Decimal(THRESHOLD),
                    "cpa": Decimal(CPA),
                    "monthly_budget": Decimal(BUDGET),
                    "max_per_user": 1,
                    "rewards": [item.sku],
                },
                actor=None,
            )
            campaigns.append(campaign_activate(campaign=campaign, actor=None))
    campaigns.sort(key=lambda campaign: str(campaign.pk))  # the service's lock order
    print(
        f"scene: brand {brand.slug} (monthly cap {brand.monthly_cap}), live key {issued.api_key.prefix}…, "
        f"{len(campaigns)} active campaigns on {ACTION} (threshold {THRESHOLD}, CPA {CPA}, budget {BUDGET}, "
        "max 1 per user, a digital-code item each)"
    )
    return {
        "brand": brand,
        "secret": issued.secret,
        "campaigns": campaigns,
        "event_table": Event._meta.db_table,
        "key_table": EventKey._meta.db_table,
        "progress_table": Progress._meta.db_table,
    }


def start_gunicorn(options, processes, work_dir, port, scene) -> dict:
    log_path = work_dir / "gunicorn.log"
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        "platform/gunicorn.conf.py",
        "--bind",
        f"127.0.0.1:{port}",  # the conf binds 0.0.0.0: the command line wins
        "config.wsgi:application",
    ]
    env = os.environ | {"WEB_CONCURRENCY": str(options.workers), "GUNICORN_THREADS": str(options.threads)}
    with open(log_path, "wb") as log:
        master = processes.start("gunicorn", command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    workers = []
    while True:
        if master.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {master.returncode}:\n{tail(log_path)}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"gunicorn did not answer within 90 s:\n{tail(log_path)}")
        workers = children_of(master.pid)
        if len(workers) >= options.workers and api_get(f"http://127.0.0.1:{port}/api/v1/me", scene) == 200:
            break
        time.sleep(0.2)
    cpus = len(os.sched_getaffinity(0))
    print(
        f"gunicorn: 127.0.0.1:{port}, master {master.pid}, {options.workers} workers × {options.threads} threads "
        f"(gthread, platform/gunicorn.conf.py; its default would be 2 × {cpus} CPUs + 1 = {2 * cpus + 1} workers), "
        f"worker pids {', '.join(map(str, workers))}"
    )
    print(
        f"  production settings: DEBUG off, cache and throttle in Redis ({options.redis_url}), broker "
        f"{redact(options.broker_url)} (queue {CELERY_QUEUE}); changed for the run: API_RATE_LIMIT and "
        f"API_BATCH_RATE_LIMIT = {int(UNLIMITED):,} a minute (defaults 6,000 and 120)"
    )
    return {"master": master.pid, "workers": workers, "log": log_path, "port": port}


def redact(url: str) -> str:
    parts = urlparse(url)
    if parts.password:
        parts = parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":****@"))
    return urlunparse(parts)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def api_get(url: str, scene) -> int | None:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {scene['secret']}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def api_post(url: str, scene, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {scene['secret']}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def check_api(base: str, scene) -> None:
    """One granting event, its replay and a small batch, before any load: a benchmark of an API that
    answers something else measures nothing."""
    event = {"event_id": "check-1", "user_id": "check-user", "action": ACTION, "quantity": THRESHOLD}
    status, body = api_post(f"{base}/api/v1/events", scene, event)
    assert status == 201, (status, body)
    assert len(body["moments"]) == CAMPAIGNS and len(body["progress"]) == CAMPAIGNS, body
    replay_status, replay = api_post(f"{base}/api/v1/events", scene, event)
    assert replay_status == 200 and replay == body, (replay_status, replay)
    batch = {"events": [event, {**event, "event_id": "check-2", "user_id": "check-user-2", "quantity": 1}]}
    status, body = api_post(f"{base}/api/v1/events/batch", scene, batch)
    assert status == 200 and [r["status"] for r in body["results"]] == [200, 201], (status, body)
    print(
        f"check: a granting event → 201 with {CAMPAIGNS} moments, its replay → 200 with the same body, "
        "a batch of that replay and a new event → 200 [200, 201]"
    )


# --- pgbench -----------------------------------------------------------------------------------

# A time-ordered UUID like the uuid7 ids the models default to: the key is appended at the right
# of the primary key's index, as the service's inserts are.
UUID7_SQL = "(lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0') || substr(md5(random()::text), 1, 20))::uuid"  # noqa: E501

EVENT_COLUMNS = (
    "id, brand_id, event_id, mode, body_hash, user_id, action, quantity, occurred_at, received_at, country, "
    "properties, response"
)
PROGRESS_COLUMNS = "id, brand_id, campaign_id, mode, user_id, count, granted, updated_at"


def progress_answer(scene) -> str:
    """The `progress` of a stored answer: one item per campaign, as the service writes it."""
    items = [{"campaign": c.slug, "count": 1, "threshold": THRESHOLD, "blocked": None} for c in scene["campaigns"]]
    return json.dumps(items).replace("'", "''")


def single_sql(scene, options) -> str:
    """One event per transaction: the event (ON CONFLICT DO NOTHING), its progress rows."""
    brand = scene["brand"].pk
    rows = ",\n       ".join(
        f"({UUID7_SQL}, '{brand}', '{c.pk}', 'live', 'pgb-u' || :u, 1, 0, now())"
        for c in scene["campaigns"][: options.progress_rows]
    )
    return f"""\\set u random(1, 1000000000000)
BEGIN;
INSERT INTO {scene["event_table"]} ({EVENT_COLUMNS})
VALUES ({UUID7_SQL}, '{brand}', 'pgb-e' || :u, 'live', md5('a' || :u) || md5('b' || :u), 'pgb-u' || :u,
        '{ACTION}', 1, now(), now(), '', '{{}}'::jsonb,
        jsonb_build_object('event_id', 'pgb-e' || :u, 'moments', '[]'::jsonb,
                           'progress', '{progress_answer(scene)}'::jsonb))
ON CONFLICT (brand_id, event_id) DO NOTHING RETURNING event_id;
INSERT INTO {scene["progress_table"]} ({PROGRESS_COLUMNS})
VALUES {rows}
ON CONFLICT (campaign_id, mode, user_id)
DO UPDATE SET count = {scene["progress_table"]}.count + excluded.count, updated_at = excluded.updated_at
RETURNING id, campaign_id, user_id, count, granted;
END;
"""


def bulk_sql(scene, options) -> str:
    """N events per transaction: one INSERT … SELECT generate_series of the events, in event_id order,
    and one of their progress rows, in (campaign, user) order — the service's lock orders."""
    brand = scene["brand"].pk
    campaigns = ", ".join(f"('{c.pk}'::uuid)" for c in scene["campaigns"][: options.progress_rows])
    return f"""\\set b random(1, 1000000000000)
BEGIN;
INSERT INTO {scene["event_table"]} ({EVENT_COLUMNS})
SELECT {UUID7_SQL}, '{brand}', 'pgb-b' || :b || '-' || g, 'live', md5('a' || g) || md5('b' || :b),
       'pgb-b' || :b || '-' || g, '{ACTION}', 1, now(), now(), '', '{{}}'::jsonb,
       jsonb_build_object('event_id', 'pgb-b' || :b || '-' || g, 'moments', '[]'::jsonb,
                          'progress', '{progress_answer(scene)}'::jsonb)
FROM generate_series(1, {options.batch_size}) AS g
ORDER BY 3
ON CONFLICT (brand_id, event_id) DO NOTHING RETURNING event_id;
INSERT INTO {scene["progress_table"]} ({PROGRESS_COLUMNS})
SELECT {UUID7_SQL}, '{brand}', c.id, 'live', 'pgb-b' || :b || '-' || g, 1, 0, now()
FROM (VALUES {campaigns}) AS c(id) CROSS JOIN generate_series(1, {options.batch_size}) AS g
ORDER BY c.id::text, 5
ON CONFLICT (campaign_id, mode, user_id)
DO UPDATE SET count = {scene["progress_table"]}.count + excluded.count, updated_at = excluded.updated_at
RETURNING id, campaign_id, user_id, count, granted;
END;
"""


def pgbench(options, server, work_dir, name, clients, events_per_tx, script) -> dict:
    path = work_dir / f"pgbench-{name}.sql"
    path.write_text(script)
    command = [
        "pgbench",
        "-n",  # no vacuum of pgbench's own tables (there are none)
        "-h",
        server["host"],
        "-p",
        str(server["port"]),
        "-c",
        str(clients),
        "-j",
        str(min(clients, len(os.sched_getaffinity(0)))),
        "-T",
        str(options.pgbench_seconds),
        "-f",
        str(path),
    ]
    if server["user"]:
        command += ["-U", server["user"]]
    command.append(BENCH_DB)
    env = os.environ | ({"PGPASSWORD": server["password"]} if server["password"] else {})
    print(
        f"\npgbench {name}: {clients} clients, {events_per_tx} event(s) per transaction (the event inserted, "
        f"{options.progress_rows} progress row(s) upserted per event), {options.pgbench_seconds} s; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=options.pgbench_seconds + 120)
    if result.returncode != 0:
        raise RuntimeError(f"pgbench {name} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    tps = float(re.search(r"tps = ([\d.]+) \(without initial connection time\)", result.stdout).group(1))
    latency = re.search(r"latency average = ([\d.]+) ms", result.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", result.stdout)
    figures = {
        "tps": tps,
        "events_per_s": tps * events_per_tx,
        "latency_ms": float(latency.group(1)) if latency else None,
        "failed": int(failed.group(1)) if failed else 0,
        "clients": clients,
    }
    print(
        f"  {tps:,.0f} tx/s = {figures['events_per_s']:,.0f} events/s, latency average "
        f"{figures['latency_ms']:.2f} ms, failed transactions {figures['failed']}"
    )
    return figures


# --- the API under wrk -------------------------------------------------------------------------

# Per wrk thread: a counter for new events (event and user ids unique to the run, the phase and the
# thread) and a ring of bodies already sent, from which replays are drawn (identical bodies). A
# batch's replays come from earlier requests only. The measured run's ring starts with the first
# half of what its warm-up sent (those were answered long before the warm-up ended).
WRK_LUA = r"""
local threads = {}
local next_tid = 1

function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
  table.insert(threads, thread)
end

local function event_body(tag, seq)
  local id = tag .. "-" .. tid .. "-" .. seq
  local quantity = (seq % grant_every == 0) and threshold or 1
  return '{"event_id":"' .. id .. '","user_id":"u-' .. id .. '","action":"' .. action
    .. '","quantity":' .. quantity .. '}'
end

local function remember(body)
  if ring_n < ring_max then
    ring_n = ring_n + 1
    ring[ring_n] = body
  else
    ring[math.random(ring_max)] = body
  end
end

function init(args)
  tag = args[1]
  batch = tonumber(args[2])
  replay_share = tonumber(args[3])
  grant_every = tonumber(args[4])
  threshold = tonumber(args[5])
  action = args[6]
  local prior_tag = args[8]
  local prior = args[9] and tonumber(args[9]) or 0
  seq = 0
  new_sent = 0
  replays_sent = 0
  statuses = {}
  items = {}
  ring = {}
  ring_n = 0
  ring_max = 50000
  math.randomseed(os.time() + tid * 7919)
  for s = math.max(1, prior - ring_max + 1), prior do
    remember(event_body(prior_tag, s))
  end
  wrk.method = "POST"
  wrk.path = (batch > 0) and "/api/v1/events/batch" or "/api/v1/events"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. args[7]
end

local function new_event()
  seq = seq + 1
  new_sent = new_sent + 1
  return event_body(tag, seq)
end

function request()
  local body
  if batch > 0 then
    local parts, fresh = {}, {}
    for i = 1, batch do
      if ring_n > 0 and math.random() < replay_share then
        replays_sent = replays_sent + 1
        parts[i] = ring[math.random(ring_n)]
      else
        parts[i] = new_event()
        fresh[#fresh + 1] = parts[i]
      end
    end
    for _, b in ipairs(fresh) do remember(b) end
    body = '{"events":[' .. table.concat(parts, ",") .. ']}'
  else
    if ring_n > 0 and math.random() < replay_share then
      replays_sent = replays_sent + 1
      body = ring[math.random(ring_n)]
    else
      body = new_event()
      remember(body)
    end
  end
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
  if batch > 0 and status == 200 then
    for item in string.gmatch(body, '{"status":(%d+)') do
      items[item] = (items[item] or 0) + 1
    end
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local figures = {
    duration_us = summary.duration, requests = summary.requests, bytes = summary.bytes,
    errors_connect = e.connect, errors_read = e.read, errors_write = e.write, errors_status = e.status,
    errors_timeout = e.timeout, p50_us = latency:percentile(50), p90_us = latency:percentile(90),
    p99_us = latency:percentile(99), max_us = latency.max, mean_us = latency.mean,
  }
  for k, v in pairs(figures) do io.write(string.format("RESULT %s %.0f\n", k, v)) end
  local min_new = nil
  for _, thread in ipairs(threads) do
    local n = thread:get("new_sent")
    io.write(string.format("RESULT new_sent %d\nRESULT replays_sent %d\n", n, thread:get("replays_sent")))
    if min_new == nil or n < min_new then min_new = n end
    for k, v in pairs(thread:get("statuses")) do io.write(string.format("STATUS %s %d\n", k, v)) end
    for k, v in pairs(thread:get("items")) do io.write(string.format("ITEM %s %d\n", k, v)) end
  end
  io.write(string.format("RESULT min_new_per_thread %d\n", min_new or 0))
end
"""


# Paced: each connection waits `pace_ms` before each request (wrk calls delay() before every request
# when the script defines it, and starts the request's latency clock only when it is written).
WRK_PACED_LUA = r"""
function delay()
  return pace_ms
end
"""


def wrk(options, processes, work_dir, base, scene, *, batch, tag, seconds, prior_tag="", prior=0, pace_ms=None) -> dict:
    if pace_ms is None:
        script = work_dir / "ingest.lua"
        if not script.exists():
            script.write_text(WRK_LUA)
    else:
        script = work_dir / "ingest-paced.lua"
        if not script.exists():
            paced = WRK_LUA.replace("function init(args)\n", "function init(args)\n  pace_ms = tonumber(args[10])\n")
            script.write_text(paced + WRK_PACED_LUA)
    connections = options.batch_clients if batch else options.connections
    threads = min(connections, len(os.sched_getaffinity(0)))
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "60s",  # a slow batch is a figure, not an error
        "-s",
        str(script),
        base,
        "--",
        tag,
        str(batch),
        str(options.replays),
        str(options.grant_every),
        str(THRESHOLD),
        ACTION,
        scene["secret"],
        prior_tag,
        str(prior),
    ]
    if pace_ms is not None:
        command.append(str(pace_ms))
    process = processes.start("wrk", command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = process.communicate(timeout=seconds + 120)
    except subprocess.TimeoutExpired:
        processes.stop(process)
        raise
    if process.returncode != 0 or "RESULT duration_us" not in stdout:
        raise RuntimeError(f"wrk failed ({process.returncode}):\n{stdout}\n{stderr}")
    result = {"statuses": {}, "items": {}, "new_sent": 0, "replays_sent": 0, "threads": threads}
    for line in stdout.splitlines():
        kind, *rest = line.split()
        if kind == "RESULT" and len(rest) == 2:
            name, value = rest
            if name in ("new_sent", "replays_sent"):
                result[name] += int(value)
            else:
                result[name] = int(float(value))
        elif kind in ("STATUS", "ITEM") and len(rest) == 2:
            bucket = result["statuses" if kind == "STATUS" else "items"]
            bucket[int(rest[0])] = bucket.get(int(rest[0]), 0) + int(rest[1])
    seconds_measured = result["duration_us"] / 1e6
    events = result["requests"] * (batch or 1)
    result |= {
        "seconds": seconds_measured,
        "requests_per_s": result["requests"] / seconds_measured,
        "events_per_s": events / seconds_measured,
        "connections": connections,
    }
    return result


def api_phase(options, processes, work_dir, base, scene, master, *, batch, letter=None, title="") -> dict:
    name = f"POST /api/v1/events/batch, {options.batch_size} events a batch" if batch else "POST /api/v1/events"
    connections = options.batch_clients if batch else options.connections
    print(
        f"\n{name}{title}: wrk, {connections} connections, {options.warmup} s warm-up then {options.seconds} s; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    letter = letter or ("b" if batch else "s")
    warm = wrk(options, processes, work_dir, base, scene, batch=batch, tag=f"{letter}w", seconds=options.warmup)
    waited = wait_until_idle(master)
    print(
        f"  warm-up: {warm['requests']:,} requests answered ({format_counts(warm['statuses'])}); "
        f"{waited:.1f} s until the server was idle again"
    )
    profiler = start_flamegraph(options, processes, master, f"ingest-{'batch' if batch else 'single'}-{letter}")
    result = wrk(
        options,
        processes,
        work_dir,
        base,
        scene,
        batch=batch,
        tag=f"{letter}m",
        seconds=options.seconds,
        prior_tag=f"{letter}w",
        prior=warm["min_new_per_thread"] // 2,
    )
    result["warmup"] = warm
    result["drain_s"] = wait_until_idle(master)
    if profiler:
        profiler.wait(timeout=60)
        print(f"  flame graph: {profiler.args[profiler.args.index('--output') + 1]}")
    unit = "batches" if batch else "requests"
    posted = result["new_sent"] + result["replays_sent"]
    print(
        f"  {result['requests']:,} {unit} answered in {result['seconds']:.1f} s: {result['requests_per_s']:,.1f} "
        f"{unit}/s = {result['events_per_s']:,.0f} events/s; latency p50 {result['p50_us'] / 1000:.1f} ms, "
        f"p90 {result['p90_us'] / 1000:.1f} ms, p99 {result['p99_us'] / 1000:.1f} ms, "
        f"max {result['max_us'] / 1000:.1f} ms"
    )
    print(f"  answers: {format_counts(result['statuses'])}", end="")
    if batch:
        print(f"; batch items: {format_counts(result['items'])}", end="")
    share = result["replays_sent"] / posted if posted else 0
    print(f"; posted {posted:,} events, {share:.1%} of them replays")
    errors = {k: result[f"errors_{k}"] for k in ("connect", "read", "write", "timeout") if result[f"errors_{k}"]}
    if errors:
        print(f"  wrk socket errors: {errors}")
    print(f"  {result['drain_s']:.1f} s until the server was idle again (requests in flight when wrk stopped)")
    return result


def start_flamegraph(options, processes, master, name) -> subprocess.Popen | None:
    """py-spy sampling every worker (the master's children) for the measured seconds, without
    pausing them (--nonblocking), so the figures of a profiled run stay close to an unprofiled one."""
    if not options.flamegraph:
        return None
    options.flamegraph.mkdir(parents=True, exist_ok=True)
    output = options.flamegraph / f"{name}.{'txt' if options.flamegraph_format == 'raw' else 'svg'}"
    command = [str(Path(sys.executable).with_name("py-spy")), "record", "--nonblocking", "--subprocesses"]
    command += ["--format", options.flamegraph_format]
    command += ["--rate", "200", "--duration", str(options.seconds), "--output", str(output), "--pid", str(master)]
    return processes.start("py-spy", command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def half_rate_phase(options, processes, work_dir, base, scene, master, single) -> dict:
    """Single events paced at half the rate the single-event phase measured: each of the connections
    waits before each request. The warm-up runs with the wait of a zero latency; its achieved rate
    gives the latency a request adds to the wait, which the measured run subtracts."""
    target = single["requests_per_s"] / 2
    connections = options.connections
    interval_ms = 1000 * connections / target  # per connection, between two requests' starts
    first = max(1, round(interval_ms))
    print(
        f"\nPOST /api/v1/events at half the maximum rate ({target:,.0f} requests/s of {single['requests_per_s']:,.0f}):"
        f" wrk, {connections} connections each waiting before every request, {options.warmup} s warm-up "
        f"(wait {first} ms) then {options.seconds} s; load average {os.getloadavg()[0]:.2f}"
    )
    warm = wrk(options, processes, work_dir, base, scene, batch=0, tag="hw", seconds=options.warmup, pace_ms=first)
    achieved = warm["requests_per_s"]
    added_ms = max(0.0, 1000 * connections / achieved - first) if achieved else 0.0
    pace = max(0, round(interval_ms - added_ms))
    waited = wait_until_idle(master)
    print(
        f"  warm-up: {achieved:,.1f} requests/s with a {first} ms wait, so a request adds {added_ms:.1f} ms: "
        f"wait {pace} ms in the measured run; {waited:.1f} s until the server was idle again"
    )
    result = wrk(
        options,
        processes,
        work_dir,
        base,
        scene,
        batch=0,
        tag="hm",
        seconds=options.seconds,
        prior_tag="hw",
        prior=warm["min_new_per_thread"] // 2,
        pace_ms=pace,
    )
    result |= {"warmup": warm, "target_per_s": target, "pace_ms": pace, "drain_s": wait_until_idle(master)}
    posted = result["new_sent"] + result["replays_sent"]
    share = result["replays_sent"] / posted if posted else 0
    print(
        f"  {result['requests']:,} requests answered in {result['seconds']:.1f} s: {result['requests_per_s']:,.1f} "
        f"requests/s ({result['requests_per_s'] / target:.0%} of the target); latency p50 "
        f"{result['p50_us'] / 1000:.1f} ms, p90 {result['p90_us'] / 1000:.1f} ms, "
        f"p99 {result['p99_us'] / 1000:.1f} ms, max {result['max_us'] / 1000:.1f} ms"
    )
    print(f"  answers: {format_counts(result['statuses'])}; posted {posted:,} events, {share:.1%} of them replays")
    return result


STORED_PREFIX = "z-"  # the stored events' event_id and user_id prefix: no phase's tag starts with z


def table_counts(server, scene) -> tuple[int, int]:
    with psycopg.connect(**server, dbname=BENCH_DB) as db:
        events = db.execute(f"SELECT count(*) FROM {scene['event_table']}").fetchone()[0]
        progress = db.execute(f"SELECT count(*) FROM {scene['progress_table']}").fetchone()[0]
    return events, progress


def load_stored(options, server, scene) -> dict:
    """N events for the brand with COPY, THRESHOLD - 1 a user, received over the last 30 days in id
    order (uuid7-like ids), each with a stored answer as the service writes it; one progress row per
    user and campaign with the count of its events; then VACUUM ANALYZE of both tables."""
    count = options.stored
    per_user = THRESHOLD - 1
    brand = scene["brand"].pk
    campaigns = [str(c.pk) for c in scene["campaigns"]]
    answer_progress = json.dumps(
        [{"campaign": c.slug, "count": 1, "threshold": THRESHOLD, "blocked": None} for c in scene["campaigns"]]
    )
    now_ms = int(time.time() * 1000)
    span_ms = 30 * 24 * 3600 * 1000
    first_ms = now_ms - span_ms
    step = span_ms / max(count, 1)
    print(
        f"\nstored events: COPY {count:,} events for brand {scene['brand'].slug}, {per_user} a user "
        f"({-(-count // per_user):,} users × {len(campaigns)} progress rows); load average {os.getloadavg()[0]:.2f}"
    )
    started = time.perf_counter()
    with psycopg.connect(**server, dbname=BENCH_DB, autocommit=True) as db:
        with db.cursor() as cursor, cursor.copy(f"COPY {scene['event_table']} ({EVENT_COLUMNS}) FROM STDIN") as copy:
            lines = []
            for i in range(count):
                ms = first_ms + int(i * step)
                stamp = datetime.fromtimestamp(ms / 1000, UTC).isoformat()
                event_id = f"{STORED_PREFIX}{secrets.token_hex(6)}-{i}"
                user = f"{STORED_PREFIX}u-{i // per_user}"
                response = f'{{"event_id": "{event_id}", "moments": [], "progress": {answer_progress}}}'
                lines.append(
                    f"{ms:012x}7{i:019x}\t{brand}\t{event_id}\tlive\t{i:064x}\t{user}\t{ACTION}\t1\t"
                    f"{stamp}\t{stamp}\t\t{{}}\t{response}\n"
                )
                if len(lines) == 10000:
                    copy.write("".join(lines))
                    lines = []
            copy.write("".join(lines))
        # Their ids claimed, as the service claims every event it writes (rewards_eventkey).
        db.execute(
            f"INSERT INTO {scene['key_table']} (row_id, brand_id, event_id) "
            f"SELECT id, brand_id, event_id FROM {scene['event_table']} WHERE event_id LIKE %s",
            (f"{STORED_PREFIX}%",),
        )
        events_s = time.perf_counter() - started
        print(f"  events and their keys: {events_s:.1f} s")
        users = -(-count // per_user)
        stamp = datetime.fromtimestamp(now_ms / 1000, UTC).isoformat()
        with (
            db.cursor() as cursor,
            cursor.copy(f"COPY {scene['progress_table']} ({PROGRESS_COLUMNS}) FROM STDIN") as copy,
        ):
            lines = []
            for u in range(users):
                events = min(per_user, count - u * per_user)
                for n, campaign in enumerate(campaigns):
                    lines.append(
                        f"{now_ms:012x}8{u * len(campaigns) + n:019x}\t{brand}\t{campaign}\tlive\t"
                        f"{STORED_PREFIX}u-{u}\t{events}\t0\t{stamp}\n"
                    )
                if len(lines) >= 10000:
                    copy.write("".join(lines))
                    lines = []
            copy.write("".join(lines))
        progress_s = time.perf_counter() - started - events_s
        print(f"  progress rows: {progress_s:.1f} s")
        vacuum_started = time.perf_counter()
        db.execute(f"VACUUM ANALYZE {scene['event_table']}")
        db.execute(f"VACUUM ANALYZE {scene['key_table']}")
        db.execute(f"VACUUM ANALYZE {scene['progress_table']}")
        vacuum_s = time.perf_counter() - vacuum_started
        sizes = db.execute(
            "SELECT pg_size_pretty(pg_total_relation_size(%s::regclass)), "
            "pg_size_pretty(pg_total_relation_size(%s::regclass))",
            (scene["event_table"], scene["progress_table"]),
        ).fetchone()
    events, progress = table_counts(server, scene)
    print(
        f"  VACUUM ANALYZE: {vacuum_s:.1f} s; now {events:,} events ({sizes[0]} with indexes) and {progress:,} "
        f"progress rows ({sizes[1]}); {time.perf_counter() - started:.0f} s in all"
    )
    return {"events": events, "progress": progress, "users": users, "seconds": time.perf_counter() - started}


class Rollback(Exception):
    pass


def explain_hot_path(scene, *, stored_users: int) -> list[tuple[str, list[str]]]:
    """The hot path's statements as the service sends them — a new event that earns nothing, of a
    user with progress (a stored user when there are some), then its replay — each run again
    under EXPLAIN (ANALYZE, BUFFERS) in one transaction that is rolled back; printed and returned."""
    from django.db import connection, connections, transaction
    from django.test.utils import CaptureQueriesContext

    from rewards.earning.models import Progress
    from rewards.earning.services import EventInput, events_ingest
    from tenants.scoping import across_brands

    brand = scene["brand"]
    with across_brands():
        if stored_users:
            user = f"{STORED_PREFIX}u-{stored_users // 2}"
        else:  # a user of the single-event phase, one event in (the count stays under the threshold)
            user = (
                Progress.objects.filter(brand=brand, count=1, user_id__startswith="u-")
                .values_list("user_id", flat=True)
                .first()
            )
        event = EventInput(
            event_id=f"explain-{secrets.token_hex(4)}", user_id=user, action=ACTION, quantity=Decimal("0.5")
        )
        warm = dataclasses.replace(event, event_id=f"{event.event_id}-warm", quantity=Decimal("0.1"))
        try:
            with transaction.atomic():
                events_ingest(brand=brand, mode="live", events=[warm])  # this process's caches, as a worker's
                with CaptureQueriesContext(connection) as captured:
                    events_ingest(brand=brand, mode="live", events=[event])
                    events_ingest(brand=brand, mode="live", events=[event])
                raise Rollback
        except Rollback:
            pass
    statements = [
        query["sql"] for query in captured.captured_queries if query["sql"].split()[0] in ("INSERT", "UPDATE", "SELECT")
    ]
    plans = []
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            for sql in statements:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF, SUMMARY OFF) " + sql)
                plans.append((sql, [row[0] for row in cursor.fetchall()]))
            raise Rollback
    except Rollback:
        pass
    connections.close_all()
    print(f"  the hot path's statements (user {user}), EXPLAIN (ANALYZE, BUFFERS):")
    for sql, plan in plans:
        print(f"    {' '.join(sql.split())[:96]}…")
        for line in plan:
            print(f"      {line}")
    return plans


def plan_shapes(plans) -> list[list[str]]:
    """The plans without their figures (rows, loops, buffers) and literals: which nodes, on which indexes."""
    return [
        [
            re.sub(r"'[^']*'", "'…'", re.sub(r"\s*\(actual .*\)$", "", line))
            for line in plan
            if not line.strip().startswith("Buffers:")
        ]
        for _, plan in plans
    ]


def format_counts(counts: dict) -> str:
    return ", ".join(f"{status} × {count:,}" for status, count in sorted(counts.items())) or "none"


def report_state(scene, when: str, prefix: str, answered_new: int) -> bool:
    """What the load left in the database: the phase's stored events, moments and spend per campaign."""
    from django.db import connections
    from django.db.models import Count

    from rewards.earning.models import Event
    from rewards.ledger.models import CampaignSpend
    from rewards.moments.models import Moment
    from tenants.scoping import across_brands

    with across_brands():
        events = Event.objects.filter(brand=scene["brand"], event_id__startswith=prefix).count()
        moments = dict(
            Moment.objects.filter(brand=scene["brand"])
            .values("campaign__slug")
            .annotate(n=Count("id"))
            .values_list("campaign__slug", "n")
        )
        spend = {
            slug: (spent, capped_at)
            for slug, spent, capped_at in CampaignSpend.objects.filter(brand=scene["brand"]).values_list(
                "campaign__slug", "spent", "capped_at"
            )
        }
    with connections["default"].cursor() as cursor:  # counted since the run began; flushed about every second
        cursor.execute(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = %s", [scene["event_table"]]
        )
        updated, hot = cursor.fetchone()
    connections.close_all()
    print(
        f"  event rows updated so far (the stored answers): {updated:,}, of them HOT (no index touched): "
        f"{hot:,} ({hot / updated if updated else 0:.0%})"
    )
    print(
        f"  {when}: {events:,} of the phase's events stored (answered 201, warm-up included: {answered_new:,}; "
        "more stored than answered = requests still in flight when wrk stopped)"
    )
    capped = False
    for campaign in scene["campaigns"]:
        spent, capped_at = spend.get(campaign.slug, (0, None))
        capped = capped or capped_at is not None
        print(
            f"    {campaign.slug}: {moments.get(campaign.slug, 0):,} moments in all, {spent} of {BUDGET} spent"
            + (" — capped" if capped_at else "")
        )
    return capped


def summarise_log(path: Path) -> dict:
    """Answers by status from gunicorn's access log; error lines (tracebacks, worker timeouts). Its lines
    are JSON objects (LOG_FORMAT=json, production's default) or gunicorn's own (LOG_FORMAT=console)."""
    statuses, errors = {}, []
    access = re.compile(r'" (\d{3}) \S+ \d+us "')
    for line in path.read_text(errors="replace").splitlines():
        record = json.loads(line) if line.startswith("{") else None
        found = access.search(line) if record is None else None
        status = record["status"] if record and record.get("logger") == "gunicorn.access" else found and int(found[1])
        if status:
            statuses[status] = statuses.get(status, 0) + 1
        elif re.search(r"\b(ERROR|CRITICAL|Traceback|WORKER TIMEOUT)\b", line):
            errors.append(line)
    return {"statuses": statuses, "errors": errors}


# --- the figures -------------------------------------------------------------------------------


def print_table(options, figures, rss, alive, master_peak, log_summary, server_info, pg_version) -> None:
    base_single, single = figures["pgbench_single"], figures["api_single"]
    base_bulk, batch = figures["pgbench_bulk"], figures["api_batch"]
    single_ratio = single["events_per_s"] / base_single["events_per_s"]
    batch_ratio = batch["events_per_s"] / base_bulk["events_per_s"]

    def met(value, target, *, at_most=False):
        ok = value <= target if at_most else value >= target
        return f"target {'≤' if at_most else '≥'} {target:g}{' MB' if at_most else '×'}: {'met' if ok else 'MISSED'}"

    lines = [
        (
            f"pgbench single: event + {options.progress_rows} progress upsert(s), 1 per tx, "
            f"{base_single['clients']} clients",
            f"{base_single['tps']:,.0f} tx/s = {base_single['events_per_s']:,.0f} ev/s",
            "1.00",
            "",
        ),
        (
            f"POST /api/v1/events, {single['connections']} connections, {options.replays:.0%} replays",
            f"{single['events_per_s']:,.0f} ev/s, p50 {single['p50_us'] / 1000:.1f} ms, "
            f"p99 {single['p99_us'] / 1000:.1f} ms",
            f"{single_ratio:.3f}",
            met(single_ratio, TARGETS["single"]),
        ),
        (
            f"pgbench bulk: the same, {options.batch_size} events per tx, {base_bulk['clients']} clients",
            f"{base_bulk['tps']:,.1f} tx/s = {base_bulk['events_per_s']:,.0f} ev/s",
            "1.00",
            "",
        ),
        (
            f"POST /api/v1/events/batch, {batch['connections']} clients × {options.batch_size} events",
            f"{batch['events_per_s']:,.0f} ev/s ({batch['requests_per_s']:.2f} batches/s), per batch "
            f"p50 {batch['p50_us'] / 1000:.0f} ms, p99 {batch['p99_us'] / 1000:.0f} ms",
            f"{batch_ratio:.3f}",
            met(batch_ratio, TARGETS["batch"]),
        ),
    ]
    if "api_half" in figures:
        half = figures["api_half"]
        ok = half["p99_us"] / 1000 <= TARGETS["half_rate_p99_ms"]
        lines.append(
            (
                f"POST /api/v1/events paced at half the maximum ({half['target_per_s']:,.0f} ev/s)",
                f"{half['events_per_s']:,.0f} ev/s, p50 {half['p50_us'] / 1000:.1f} ms, "
                f"p99 {half['p99_us'] / 1000:.1f} ms",
                f"{half['events_per_s'] / single['events_per_s']:.3f}",
                f"target p99 ≤ {TARGETS['half_rate_p99_ms']} ms: {'met' if ok else 'MISSED'}",
            )
        )
    if "api_stored" in figures:
        stored = figures["api_stored"]
        ratio = stored["events_per_s"] / single["events_per_s"]
        lines.append(
            (
                f"POST /api/v1/events with {figures['stored']['events']:,} events stored "
                f"(small table: {figures['small_events']:,})",
                f"{stored['events_per_s']:,.0f} ev/s, p50 {stored['p50_us'] / 1000:.1f} ms, "
                f"p99 {stored['p99_us'] / 1000:.1f} ms",
                f"{ratio:.3f}",
                f"target ≥ {TARGETS['stored']:g}×: {'met' if ratio >= TARGETS['stored'] else 'MISSED'}",
            )
        )
    load_average = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(
        f"\nfigures ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} CPUs; {pg_version.split(' on ')[0]}; "
        f"load average now {load_average})"
    )
    width = [max(len(row[i]) for row in lines) for i in range(3)]
    print(f"  {'what':<{width[0]}}  {'rate':<{width[1]}}  {'ratio':>{width[2]}}")
    for what, rate, ratio, target in lines:
        print(f"  {what:<{width[0]}}  {rate:<{width[1]}}  {ratio:>{width[2]}}  {target}")
    print("  single ratio = API ev/s ÷ pgbench single ev/s; batch ratio = API ev/s ÷ pgbench bulk ev/s")
    if "api_half" in figures or "api_stored" in figures:
        print(
            "  paced and stored rows: ratio = their ev/s ÷ the API single ev/s above (the small table); the paced "
            "row's target is its p99"
        )
    if figures["capped"]:
        print(
            "  WARNING: a campaign's month budget ran out during the run, so later events were refused a "
            "moment (campaign_cap) and cost less than a grant: raise --grant-every."
        )

    print(f"\ngunicorn: {options.workers} workers × {options.threads} threads (gthread), peak RSS (VmHWM):")
    for pid, peak in rss.items():
        state = "" if pid in alive else " (exited during the run: recycled or killed)"
        print(f"  worker {pid}: {peak / 1024:.0f} MiB{state}  {met(peak / 1024, TARGETS['rss_mib'], at_most=True)}")
    print(f"  master {server_info['master']}: {master_peak / 1024:.0f} MiB")

    print(f"\ngunicorn's access log: answers {format_counts(log_summary['statuses'])}")
    server_errors = sum(count for status, count in log_summary["statuses"].items() if status >= 500)
    throttled = log_summary["statuses"].get(429, 0)
    print(f"  5xx: {server_errors}; 429 (throttled): {throttled}; error lines in the log: {len(log_summary['errors'])}")
    for line in log_summary["errors"][:10]:
        print(f"    {line[:200]}")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # everything was stopped and dropped on the way out
        print("interrupted")
        sys.exit(130)
