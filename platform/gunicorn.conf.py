"""Gunicorn settings for the web process, read from the environment.

    gunicorn -c platform/gunicorn.conf.py config.wsgi:application

This file is read by gunicorn as a config file, never imported: `platform/` is not a Python
package (DESIGN.md §2). Every value can be overridden by the variable named beside it.
"""

import itertools
import os
import shutil
import socket
import tempfile


def _int(name, default):
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def _cpus():
    # The CPUs this process may run on (a cpuset or `taskset` narrows it); os.cpu_count()
    # would count every CPU of the host.
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# Every interface: behind a load balancer or in a container the traffic does not come from
# localhost. PORT is the convention of Procfile-based hosts.
bind = f"0.0.0.0:{_int('PORT', 8000)}"

# Processes for the CPU-bound part of a request (DRF, serialisation), threads for the time spent
# waiting on PostgreSQL and Redis. Each thread keeps its own database connection (CONN_MAX_AGE),
# so one web host holds up to workers × threads connections: size the pooler for it.
workers = _int("WEB_CONCURRENCY", 2 * _cpus() + 1)
worker_class = "gthread"
threads = _int("GUNICORN_THREADS", 4)

# A worker silent for this long is killed and replaced; no request here should take seconds
# (a batch of 500 events is set-based SQL), so a hung one is a fault, not a slow page.
timeout = _int("GUNICORN_TIMEOUT", 30)
# On SIGTERM or a reload, in-flight requests get this long to finish. Keep it below the
# orchestrator's kill delay (compose: stop_grace_period).
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
# Idle keep-alive connections wait in the gthread poller, not in a thread. Behind a load
# balancer set it above the balancer's idle timeout, so the balancer is the side that closes.
keepalive = _int("GUNICORN_KEEPALIVE", 5)

# Recycle a worker after this many requests to cap slow memory growth. High, because API keys
# and campaigns are cached per process and a fresh worker starts cold; the jitter staggers
# restarts so workers do not all recycle at once. 0 turns recycling off.
max_requests = _int("GUNICORN_MAX_REQUESTS", 20000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", max_requests // 10)

# Load Django once in the master and fork: less memory (copy-on-write), faster worker restarts,
# and a broken settings module fails the start instead of every worker. Django opens no database
# or cache connection at import, so nothing is shared across the fork. The price: a HUP does not
# load new code; deploy by restarting the process.
preload_app = True

# Addresses whose X-Forwarded-* headers gunicorn believes (e.g. the load balancers' subnet, or
# "*" when only the balancer can reach this port). Without it, a proxied HTTPS request looks
# like plain HTTP to Django.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# Logs to stdout/stderr for the process manager to collect. The access log never carries the
# Authorization header (the API key); %(D)s is the request time in microseconds, the last field the
# request's id (X-Request-ID). This format is LOG_FORMAT=console's; with LOG_FORMAT=json (the default
# unless DEBUG) each line is a JSON object of the same fields (config/gunicorn_logging.py).
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s %(t)s "%(r)s" %(s)s %(b)s %(D)sus "%(a)s" %({x-request-id}o)s'
# Claim tokens and email/password-reset keys in a request line (or a failed request's URI in the
# error log) are logged as ****. A dotted path: this folder is not a package (DESIGN.md §2).
logger_class = "config.gunicorn_logging.Logger"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()

# The worker heartbeat touches a file every second; on a container's overlay filesystem that can
# block, so keep it in memory when /dev/shm exists.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

# Prometheus metrics (config/metrics.py): each worker writes its counts to files in
# PROMETHEUS_MULTIPROC_DIR and /metrics adds up every file there, whichever worker answers the
# scrape. Set it to a directory emptied when the host starts (a tmpfs), shared with the host's
# Celery workers so that /metrics shows their tasks too (README, "Metrics"). Unset, the web gets
# an empty one of its own for this run, removed when gunicorn exits. Set here, before the app is
# loaded: prometheus_client reads it when it is imported.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    made = tempfile.mkdtemp(prefix="moments-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.environ["MOMENTS_METRICS_DIR_MADE"] = made


def pre_fork(server, worker):
    # Each worker takes the lowest slot no live worker holds: a worker that replaces a recycled
    # one (GUNICORN_MAX_REQUESTS) writes on in its predecessor's files, so files do not pile up
    # and counters never go back.
    taken = {getattr(live, "metrics_slot", None) for live in server.WORKERS.values()}
    worker.metrics_slot = next(slot for slot in itertools.count() if slot not in taken)


def post_fork(server, worker):
    # Names this worker's metric files: unique among the processes writing to the directory (the
    # host and the master: two gunicorns sharing it never write to one file).
    os.environ["METRICS_PROCESS_NAME"] = f"web-{socket.gethostname()}-{server.pid}-{worker.metrics_slot}"


def on_exit(server):
    if os.environ.get("MOMENTS_METRICS_DIR_MADE"):
        shutil.rmtree(os.environ["MOMENTS_METRICS_DIR_MADE"], ignore_errors=True)
