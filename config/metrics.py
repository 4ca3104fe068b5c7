"""Prometheus metrics (prometheus_client): the families Moments exposes, the middleware that counts
and times every request by its URL route, the Celery signals that count task retries and
failures, the collectors read when scraped, and `/metrics` behind a bearer token (and the same
for a worker host with no web process, `serve_directory`). Plumbing: it
imports no app; the apps count through the families below, and config/urls.py hands the view
the collectors that read app data.

Several processes serve and work at once (gunicorn's workers, Celery's), so with
`PROMETHEUS_MULTIPROC_DIR` set (platform/gunicorn.conf.py sets one for the web when it is not)
every process writes its samples to files there and `/metrics` adds them up
(prometheus_client's multiprocess mode). A process is named by `METRICS_PROCESS_NAME` when set
(gunicorn's workers: host, master and slot, so a worker recycled after GUNICORN_MAX_REQUESTS
takes over its predecessor's files instead of adding its own) or by its host and pid (Celery's).

Labels never carry a user id, a path or anything a client makes up: a request is labelled by its
URL pattern, an event by its brand's slug and an action one of the brand's campaigns counts, and
the rest by fixed names (a provider, a state, a task).
"""

import hmac
import logging
import os
import socket
import threading
import time
from collections import Counter as Tally
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from celery.signals import task_failure, task_retry
from django.conf import settings
from django.http import Http404, HttpResponse
from django.views.decorators.http import require_GET
from kombu import Connection
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, disable_created_metrics, values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from config.queues import queue_names

logger = logging.getLogger(__name__)

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
PROCESS_NAME = "METRICS_PROCESS_NAME"


_HOST = socket.gethostname()


def _process_name() -> str:
    # The host too: containers sharing the directory (compose's web and workers) reuse pids.
    return os.environ.get(PROCESS_NAME) or f"{_HOST}-{os.getpid()}"


if os.environ.get(MULTIPROC_DIR):
    os.makedirs(os.environ[MULTIPROC_DIR], exist_ok=True)
    # Before any family below: each sample's file is named after its process (prometheus_client
    # asks the name again at every write, and reopens its files when it changed, as after a fork).
    values.ValueClass = values.MultiProcessValue(process_identifier=_process_name)
disable_created_metrics()  # no `_created` series beside every counter: half the series, nothing lost

# --- The families -----------------------------------------------------------------------------

HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# An order goes out in milliseconds (credit, a donation), seconds (codes, an outside service) or
# days (a parcel the operator ships from the pick list).
FULFILMENT_BUCKETS = (0.1, 1, 5, 30, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400, 2 * 86400, 4 * 86400, 7 * 86400)

HTTP_REQUESTS = Counter(
    "moments_http_requests",
    "Requests answered, by URL route (the pattern, never the path), method and status.",
    ["route", "method", "status"],
)
HTTP_REQUEST_SECONDS = Histogram(
    "moments_http_request_duration_seconds",
    "Time to answer a request (until its response is ready; a streamed body is not waited for), by route and method.",
    ["route", "method"],
    buckets=HTTP_BUCKETS,
)
EVENTS_ACCEPTED = Counter(
    "moments_events_accepted",
    "Events recorded (new ones; not replays or conflicts), by brand, mode and action "
    "('other': an action none of the brand's campaigns counts).",
    ["brand", "mode", "action"],
)
GRANTS = Counter("moments_grants", "Moments granted by events, by brand and mode.", ["brand", "mode"])
GRANTS_BLOCKED = Counter(
    "moments_grants_blocked",
    "Events' progress on a campaign that granted nothing (or less than was due), by brand, mode and the "
    "`blocked` reason the API answered.",
    ["brand", "mode", "reason"],
)
ORDERS = Counter(
    "moments_orders",
    "Orders moved into a state (placed: made), by fulfilment provider.",
    ["provider", "state"],
)
ORDER_FULFILMENT_SECONDS = Histogram(
    "moments_order_fulfilment_seconds",
    "From an order placed to its reward sent (shipped, or fulfilled when nothing ships), by provider.",
    ["provider"],
    buckets=FULFILMENT_BUCKETS,
)
WEBHOOK_DELIVERIES = Counter(
    "moments_webhook_deliveries",
    "Webhook delivery attempts, by event type and outcome (delivered; retrying: a retry is scheduled; "
    "failed: no retry left; endpoint_disabled: not sent).",
    ["type", "outcome"],
)
TASK_RETRIES = Counter("moments_task_retries", "Celery tasks that will be tried again, by task.", ["task"])
TASK_FAILURES = Counter("moments_task_failures", "Celery tasks that failed for good, by task.", ["task"])

# The families read when /metrics is scraped (the collectors below), for the dashboard's test.
BRAND_SPEND = "moments_brand_spend_usd"
BRAND_CAP = "moments_brand_monthly_cap_usd"
QUEUE_DEPTH = "moments_queue_depth"
QUEUE_CONSUMERS = "moments_queue_consumers"
COLLECTOR_UP = "moments_metrics_collector_up"

# --- Counting --------------------------------------------------------------------------------

OTHER_ACTION = "other"


def events_counted(*, brand: str, mode: str, actions: Tally, granted: int, blocked: Tally) -> None:
    """What one call of the events API recorded, counted once per call (the hot path: a few
    increments, no query). `actions` counts the new events by action label."""
    for action, count in actions.items():
        EVENTS_ACCEPTED.labels(brand, mode, action).inc(count)
    if granted:
        GRANTS.labels(brand, mode).inc(granted)
    for reason, count in blocked.items():
        GRANTS_BLOCKED.labels(brand, mode, reason).inc(count)


METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestMetrics:
    """Counts and times every request by the pattern of the URL route it matched (`/claim/<token>`,
    never the token), its method and status. First in MIDDLEWARE, so a redirect or a refusal by
    another middleware is counted too (route `unmatched`, like a path no route knows)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        match = request.resolver_match
        route = "/" + match.route if match is not None else "unmatched"
        method = request.method if request.method in METHODS else "other"
        HTTP_REQUESTS.labels(route, method, str(response.status_code)).inc()
        HTTP_REQUEST_SECONDS.labels(route, method).observe(elapsed)
        return response


@task_retry.connect
def _task_retried(sender=None, **kwargs):
    TASK_RETRIES.labels(getattr(sender, "name", None) or "unknown").inc()  # sender: the task


@task_failure.connect
def _task_failed(sender=None, **kwargs):
    TASK_FAILURES.labels(getattr(sender, "name", None) or "unknown").inc()


# --- Read when scraped ------------------------------------------------------------------------


class BrandSpendCollector:
    """Each brand's live spend this month (UTC) and its monthly cap, from the month counters when
    scraped: one query (`read`, given by config/urls.py), nothing kept in the processes. Test mode's
    spend is left out: nobody is billed for it, and each brand's test clock has a month of its own."""

    name = "brand_spend"

    def __init__(self, read):
        self.read = read  # () -> [(brand slug, spent, monthly cap)]

    def collect(self):
        spend = GaugeMetricFamily(BRAND_SPEND, "Each brand's live spend this month (UTC), USD.", labels=["brand"])
        cap = GaugeMetricFamily(
            BRAND_CAP, "Each brand's monthly cap, USD (those spending this month).", labels=["brand"]
        )
        for brand, spent, monthly_cap in self.read():
            spend.add_metric([brand], float(spent))
            cap.add_metric([brand], float(monthly_cap))
        return [spend, cap]


class QueueDepthCollector:
    """Tasks waiting in each queue of the deployment (CELERY_QUEUE and one per kind of work:
    config/queues.py) and the workers consuming it, asked of the broker when scraped: a passive
    queue_declare, which changes nothing, with a short timeout; each on a channel of its own, as a
    queue not yet declared closes the channel that asked. Without a broker (tasks run in the request)
    there is no queue: no sample."""

    name = "queue"

    def __init__(self, timeout: float = 2.0):
        self.timeout = timeout

    def collect(self):
        depth = GaugeMetricFamily(QUEUE_DEPTH, "Messages ready in the task queue, from the broker.", labels=["queue"])
        consumers = GaugeMetricFamily(QUEUE_CONSUMERS, "Workers consuming the task queue.", labels=["queue"])
        url = settings.CELERY_BROKER_URL
        if url.startswith(("amqp", "pyamqp")):
            options = {"read_timeout": self.timeout, "write_timeout": self.timeout}
            with Connection(url, connect_timeout=self.timeout, transport_options=options) as connection:
                connection.ensure_connection(max_retries=1, interval_start=0)  # no waiting between tries
                for queue in queue_names(settings.CELERY_TASK_DEFAULT_QUEUE):
                    channel = connection.channel()
                    try:
                        _, messages, consumer_count = channel.queue_declare(queue=queue, passive=True)
                        channel.close()
                    except connection.channel_errors:  # not declared yet: no worker ever consumed it
                        messages, consumer_count = 0, 0
                    depth.add_metric([queue], messages)
                    consumers.add_metric([queue], consumer_count)
        return [depth, consumers]


class _Guarded:
    """A scrape-time collector whose failure (the database or the broker down) costs its own
    families only: `moments_metrics_collector_up` says which answered, and the rest is still served."""

    def __init__(self, collectors):
        self.collectors = collectors

    def collect(self):
        up = GaugeMetricFamily(
            COLLECTOR_UP, "1 when a scrape-time collector answered this scrape.", labels=["collector"]
        )
        for collector in self.collectors:
            try:
                families = list(collector.collect())
            except Exception as error:  # the database or the broker: reported, not raised
                logger.warning("metrics: the %s collector failed: %r", collector.name, error)
                up.add_metric([collector.name], 0)
                continue
            up.add_metric([collector.name], 1)
            yield from families
        yield up


class _ThisProcess:
    """The default registry (this process's families) as a collector of a scrape's registry."""

    def collect(self):
        return REGISTRY.collect()


def scrape(collectors=()) -> bytes:
    """Every family in the Prometheus text format: the files of every process when
    PROMETHEUS_MULTIPROC_DIR is set (this process's own otherwise), then the scrape-time collectors."""
    registry = CollectorRegistry(auto_describe=False)
    path = os.environ.get(MULTIPROC_DIR)
    if path:
        MultiProcessCollector(registry, path=path)
    else:
        registry.register(_ThisProcess())
    registry.register(_Guarded(list(collectors)))
    return generate_latest(registry)


def authorized(authorization: str, token: str) -> bool:
    """`Bearer <token>`, the token compared in constant time."""
    scheme, _, given = authorization.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def metrics_view(*, collectors=()):
    """`GET /metrics` for Prometheus: `Authorization: Bearer <METRICS_TOKEN>`, compared in constant
    time; a wrong or missing token is a 401. With no METRICS_TOKEN set the page does not exist (404),
    so it is never open."""

    @require_GET
    def view(request):
        token = settings.METRICS_TOKEN
        if not token:
            raise Http404("metrics are off: METRICS_TOKEN is not set")
        if not authorized(request.META.get("HTTP_AUTHORIZATION", ""), token):
            response = HttpResponse("A bearer token is required.\n", status=401, content_type="text/plain")
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
        return HttpResponse(scrape(collectors), content_type=CONTENT_TYPE_PLAIN_0_0_4)

    return view


# --- A worker host without a web process ------------------------------------------------------


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args):  # a scrape every few seconds is not news
        pass


def serve_directory(port: int) -> WSGIServer:
    """`/metrics` for a Celery worker's host that has no web process (WORKER_METRICS_PORT): the same
    token, the same files (PROMETHEUS_MULTIPROC_DIR), served from a thread of the worker's main
    process; no scrape-time collector (the web's /metrics reads spend and the queue)."""

    def app(environ, start_response):
        token = settings.METRICS_TOKEN
        if not token or environ.get("PATH_INFO") != "/metrics" or environ.get("REQUEST_METHOD") != "GET":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"Not found.\n"]
        if not authorized(environ.get("HTTP_AUTHORIZATION", ""), token):
            start_response("401 Unauthorized", [("Content-Type", "text/plain"), ("WWW-Authenticate", "Bearer")])
            return [b"A bearer token is required.\n"]
        body = scrape()
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_PLAIN_0_0_4), ("Cache-Control", "no-store")])
        return [body]

    server = make_server("0.0.0.0", port, app, handler_class=_Quiet)  # nosec B104  # Prometheus scrapes it from another host; the token guards it
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    logger.info("metrics: serving /metrics on port %s", server.server_port)
    return server
