"""Prometheus metrics at /metrics (config/metrics.py): behind a bearer token, in the text format,
counting what the platform does — requests by route, events, grants and why they were blocked,
spend, orders and how long they took, webhook outcomes, task retries and failures, the queue.

Values are read through /metrics itself, before and after (the registry is the process's own and
other tests count too); only what is read from the database or the broker when scraped, or from a
directory of this test's own, is compared as it is.
"""

import json
import os
import re
import secrets
import socket
import time
import urllib.error
import urllib.request
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from allauth.account.models import EmailAddress
from celery import current_app
from django.db import transaction
from django.test import Client
from django.utils import timezone
from kombu import Connection, Exchange, Producer, Queue
from prometheus_client.parser import text_string_to_metric_families

from config import metrics
from rewards.earning.services import EventInput, events_ingest
from rewards.models import Moment, Order
from rewards.orders import moves
from rewards.webhooks import services as webhooks
from storefront import services as storefront
from tests.factories import (
    AddressFactory,
    ApiKeyFactory,
    BrandFactory,
    CampaignFactory,
    CatalogItemFactory,
    UserFactory,
)
from tests.gunicorn import running_gunicorn
from tests.httpserver import Recorder
from tests.subprocesses import suite_database_url
from tests.workers import PublishTo, Worker

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "metrics-" + "x" * 40
DASHBOARD = ROOT / "platform" / "grafana-dashboard.json"


@pytest.fixture(autouse=True)
def metrics_token(settings):
    settings.METRICS_TOKEN = TOKEN


def scrape_text(**extra) -> str:
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}", **extra)
    assert response.status_code == 200, response.content[:500]
    return response.content.decode()


def scrape() -> dict:
    """{(sample name, labels): value} of everything /metrics shows now."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(scrape_text())
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def grew(before: dict, after: dict, name: str, **labels) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


# --- The page and its token -------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Bearer wrong-token", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", f"Basic {TOKEN}"],
)
def test_without_the_right_bearer_token_the_answer_is_401(authorization):
    headers = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}

    response = Client().get("/metrics", **headers)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"moments_" not in response.content


@pytest.mark.django_db
def test_with_the_token_it_is_the_prometheus_text_format():
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert response["Cache-Control"] == "no-store"
    families = {family.name: family.type for family in text_string_to_metric_families(response.content.decode())}
    assert families["moments_http_requests"] == "counter"
    assert families["moments_http_request_duration_seconds"] == "histogram"
    assert families["moments_events_accepted"] == "counter"
    assert families["moments_order_fulfilment_seconds"] == "histogram"
    assert families["moments_brand_spend_usd"] == "gauge"
    assert families["moments_metrics_collector_up"] == "gauge"


@pytest.mark.django_db
def test_it_answers_get_only():
    response = Client().post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")

    assert response.status_code == 405


@pytest.mark.django_db
@pytest.mark.parametrize("authorization", ["Bearer ", "Bearer", "Bearer anything"])
def test_with_no_token_configured_the_page_does_not_exist(settings, authorization):
    settings.METRICS_TOKEN = ""

    response = Client().get("/metrics", HTTP_AUTHORIZATION=authorization)

    assert response.status_code == 404
    assert b"moments_" not in response.content


@pytest.mark.django_db
def test_prometheus_is_not_redirected_to_https_but_the_site_is(settings):
    settings.SECURE_SSL_REDIRECT = True

    assert Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200
    assert Client().get("/metrics").status_code == 401
    assert Client().get("/api/v1/me").status_code == 301


# --- Requests ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_requests_are_labelled_by_their_route_never_their_path():
    token = secrets.token_urlsafe(24)
    moment_id = "0192f9a4-4a52-7cc1-8a55-5c3e3c1f2b10"
    before = scrape()

    for _ in range(3):
        Client().get(f"/claim/{token}")
    Client().get(f"/api/v1/moments/{moment_id}")
    Client().get(f"/no/such/{token}/page")

    after_text = scrape_text()
    after = scrape()
    claim = {"route": "/claim/<str:token>", "method": "GET", "status": "404"}
    assert grew(before, after, "moments_http_requests_total", **claim) == 3
    seconds = {"route": "/claim/<str:token>", "method": "GET"}
    assert grew(before, after, "moments_http_request_duration_seconds_count", **seconds) == 3
    assert grew(before, after, "moments_http_request_duration_seconds_sum", **seconds) > 0
    api = {"route": "/api/v1/moments/<uuid:moment_id>", "method": "GET", "status": "401"}
    assert grew(before, after, "moments_http_requests_total", **api) == 1, [k for k in after if "moments/" in str(k)]
    # A path no route knows is counted under one label, whatever it is.
    assert grew(before, after, "moments_http_requests_total", route="unmatched", method="GET", status="404") == 1
    assert token not in after_text and moment_id not in after_text and "no/such" not in after_text


@pytest.mark.django_db
def test_a_method_nobody_uses_is_counted_as_other():
    before = scrape()

    Client().generic("BREW", "/api/v1/me")

    after = scrape()
    assert grew(before, after, "moments_http_requests_total", route="/api/v1/me", method="other", status="401") == 1


# --- Events, grants, spend --------------------------------------------------------------------


def api_client(key) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {key.secret}")


@pytest.mark.django_db
def test_an_event_batch_counts_what_was_accepted_granted_and_blocked(django_capture_on_commit_callbacks):
    brand = BrandFactory(slug="fit-metrics")
    key = ApiKeyFactory(brand=brand, mode="live")
    campaign = CampaignFactory(brand=brand, threshold=Decimal("1"), cpa=Decimal("5.00"), max_per_user=1, active=True)
    events = [
        {"event_id": "m-1", "user_id": "user-secret-1", "action": campaign.action},  # earns a moment
        {"event_id": "m-2", "user_id": "user-secret-1", "action": campaign.action},  # user_limit
        {"event_id": "m-3", "user_id": "user-secret-2", "action": campaign.action, "country": "CH"},  # excluded
        {"event_id": "m-4", "user_id": "user-secret-3", "action": "workuot_completed"},  # a typo: "other"
        {"event_id": "m-5", "user_id": "user-secret-3", "action": campaign.action, "quantity": "x"},  # a 400
    ]
    before = scrape()

    with django_capture_on_commit_callbacks(execute=True):
        response = api_client(key).post("/api/v1/events/batch", {"events": events}, content_type="application/json")
    with django_capture_on_commit_callbacks(execute=True):  # a replay, and one more event on its own
        api_client(key).post("/api/v1/events", events[0], content_type="application/json")
        api_client(key).post(
            "/api/v1/events",
            {"event_id": "m-6", "user_id": "user-secret-4", "action": campaign.action},
            content_type="application/json",
        )

    results = response.json()["results"]
    assert [r["status"] for r in results] == [201, 201, 201, 201, 400]
    assert [p["blocked"] for r in results[:3] for p in r["event"]["progress"]] == [
        None,
        "user_limit",
        "country_excluded",
    ]
    text = scrape_text()
    after = scrape()
    labels = {"brand": "fit-metrics", "mode": "live"}
    assert grew(before, after, "moments_events_accepted_total", **labels, action=campaign.action) == 4
    assert grew(before, after, "moments_events_accepted_total", **labels, action="other") == 1
    assert grew(before, after, "moments_grants_total", **labels) == 2
    assert grew(before, after, "moments_grants_blocked_total", **labels, reason="user_limit") == 1
    assert grew(before, after, "moments_grants_blocked_total", **labels, reason="country_excluded") == 1
    assert "user-secret" not in text and "workuot" not in text  # no user id, no made-up action
    # The spend is read from the month counters when scraped.
    assert value(after, "moments_brand_spend_usd", brand="fit-metrics") == 10.0
    assert value(after, "moments_brand_monthly_cap_usd", brand="fit-metrics") == float(brand.monthly_cap)
    assert value(after, "moments_metrics_collector_up", collector="brand_spend") == 1


@pytest.mark.django_db
def test_events_in_a_transaction_that_rolls_back_are_not_counted(django_capture_on_commit_callbacks):
    brand = BrandFactory(slug="rolled-back")
    campaign = CampaignFactory(brand=brand, threshold=Decimal("1"), active=True)
    before = scrape()

    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            events_ingest(
                brand=brand, mode="live", events=[EventInput(event_id="r-1", user_id="u", action=campaign.action)]
            )
            raise RuntimeError("rolled back")

    after = scrape()
    labels = {"brand": "rolled-back", "mode": "live"}
    assert grew(before, after, "moments_events_accepted_total", **labels, action=campaign.action) == 0
    assert grew(before, after, "moments_grants_total", **labels) == 0


@pytest.mark.django_db
def test_test_mode_is_counted_apart_and_its_spend_is_not_exported(django_capture_on_commit_callbacks):
    brand = BrandFactory(slug="sandboxed")
    campaign = CampaignFactory(brand=brand, mode="test", threshold=Decimal("1"), active=True)
    before = scrape()

    with django_capture_on_commit_callbacks(execute=True):
        events_ingest(
            brand=brand, mode="test", events=[EventInput(event_id="t-1", user_id="u", action=campaign.action)]
        )

    after = scrape()
    assert grew(before, after, "moments_grants_total", brand="sandboxed", mode="test") == 1
    assert grew(before, after, "moments_grants_total", brand="sandboxed", mode="live") == 0
    assert ("moments_brand_spend_usd", frozenset({("brand", "sandboxed")})) not in after


# --- Orders -----------------------------------------------------------------------------------


def customer():
    user = UserFactory()
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def claimed(kind, capture, **item_fields) -> Order:
    brand = BrandFactory()
    item = CatalogItemFactory(kind=kind, value=Decimal("5.00"), **item_fields)
    campaign = CampaignFactory(brand=brand, threshold=Decimal("1"), rewards=[item.sku], active=True)
    with capture(execute=True):
        [outcome] = events_ingest(
            brand=brand, mode="live", events=[EventInput(event_id="o-1", user_id="o-user", action=campaign.action)]
        )
    moment = Moment.objects.get(pk=outcome.body["moments"][0]["id"])
    user = customer()
    address = AddressFactory(user=user) if kind == "physical" else None
    with capture(execute=True):  # the order placed, then fulfilled by its task (in-process here)
        return storefront.claim_confirm(user=user, moment=moment, item=item, address=address)


@pytest.mark.django_db
def test_a_fulfilled_order_is_counted_by_provider_and_state_with_its_latency(django_capture_on_commit_callbacks):
    before = scrape()

    order = claimed("credit", django_capture_on_commit_callbacks)

    after = scrape()
    assert Order.objects.get(pk=order.pk).status == "fulfilled"
    assert grew(before, after, "moments_orders_total", provider="wallet", state="placed") == 1
    assert grew(before, after, "moments_orders_total", provider="wallet", state="fulfilled") == 1
    assert grew(before, after, "moments_order_fulfilment_seconds_count", provider="wallet") == 1
    assert grew(before, after, "moments_order_fulfilment_seconds_bucket", provider="wallet", le="+Inf") == 1


@pytest.mark.django_db
def test_a_parcel_shipped_after_two_hours_is_observed_as_two_hours(django_capture_on_commit_callbacks):
    order = claimed("physical", django_capture_on_commit_callbacks)
    assert Order.objects.get(pk=order.pk).status == "placed"  # the operator ships it from the pick list
    Order.objects.filter(pk=order.pk).update(created_at=timezone.now() - timedelta(hours=2))
    order = Order.objects.select_related("item").get(pk=order.pk)
    before = scrape()

    with django_capture_on_commit_callbacks(execute=True):
        assert moves.order_move(order=order, to="shipped", carrier="DHL", tracking_number="JD1")
        assert moves.order_move(order=order, to="fulfilled")  # delivered: not sent again

    after = scrape()
    assert grew(before, after, "moments_orders_total", provider="warehouse", state="shipped") == 1
    assert grew(before, after, "moments_orders_total", provider="warehouse", state="fulfilled") == 1
    observed = {"provider": "warehouse"}
    assert grew(before, after, "moments_order_fulfilment_seconds_count", **observed) == 1
    assert 7200 <= grew(before, after, "moments_order_fulfilment_seconds_sum", **observed) < 7300
    assert grew(before, after, "moments_order_fulfilment_seconds_bucket", **observed, le="3600.0") == 0
    assert grew(before, after, "moments_order_fulfilment_seconds_bucket", **observed, le="14400.0") == 1


@pytest.mark.django_db
def test_a_move_that_does_not_happen_is_not_counted(django_capture_on_commit_callbacks):
    order = claimed("credit", django_capture_on_commit_callbacks)  # fulfilled already
    before = scrape()

    with django_capture_on_commit_callbacks(execute=True):
        assert not moves.order_move(order=order, to="fulfilled")
        assert not moves.order_move(order=order, to="cancelled")

    after = scrape()
    assert grew(before, after, "moments_orders_total", provider="wallet", state="fulfilled") == 0
    assert grew(before, after, "moments_orders_total", provider="wallet", state="cancelled") == 0


# --- Webhooks ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_webhook_deliveries_are_counted_by_outcome(brand_a, django_capture_on_commit_callbacks):
    answers = [500]
    receiver = Recorder(lambda request: (answers.pop(0) if answers else 200, {}))
    try:
        brand_a.webhook_url = receiver.url
        brand_a.save()
        with django_capture_on_commit_callbacks(execute=False):  # sent below, by hand
            delivery = webhooks.emit(brand=brand_a, mode="live", event_type="campaign.capped", data={"campaign": "x"})
        before = scrape()

        with django_capture_on_commit_callbacks(execute=True):
            webhooks.deliver(delivery.pk)  # 500: a retry is scheduled
        webhooks.WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
        with django_capture_on_commit_callbacks(execute=True):
            webhooks.deliver(delivery.pk)  # 200
        brand_a.webhook_disabled_at = timezone.now()
        brand_a.save()
        other = webhooks.WebhookDelivery.objects.create(
            brand=brand_a, mode="live", event_type="moment.expired", payload={"id": "evt_x"}, next_attempt_at=None
        )
        webhooks.WebhookDelivery.objects.filter(pk=other.pk).update(next_attempt_at=timezone.now())
        with django_capture_on_commit_callbacks(execute=True):
            webhooks.deliver(other.pk)  # the endpoint is disabled: not sent
    finally:
        receiver.close()

    after = scrape()
    assert len(receiver.requests) == 2
    capped = {"type": "campaign.capped"}
    assert grew(before, after, "moments_webhook_deliveries_total", **capped, outcome="retrying") == 1
    assert grew(before, after, "moments_webhook_deliveries_total", **capped, outcome="delivered") == 1
    assert grew(before, after, "moments_webhook_deliveries_total", **capped, outcome="failed") == 0
    expired = {"type": "moment.expired", "outcome": "endpoint_disabled"}
    assert grew(before, after, "moments_webhook_deliveries_total", **expired) == 1


# --- Tasks on a real worker, through the multiprocess directory -------------------------------


@pytest.mark.needs("postgresql", "rabbitmq")
def test_a_workers_retries_failures_and_orders_reach_metrics_through_the_directory(
    transactional_db, tmp_path, monkeypatch
):
    """The worker is another process: it writes its samples to PROMETHEUS_MULTIPROC_DIR, and
    /metrics (here, this process pointed at the same directory) adds them up."""
    directory = tmp_path / "metrics"
    directory.mkdir()
    port = free_port()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(directory), "METRICS_TOKEN": TOKEN, "WORKER_METRICS_PORT": str(port)}
    worker = Worker(tmp_path, env=env).start()
    calls = []

    def respond(request):
        calls.append(request)
        return (500, {"error": "busy"}) if len(calls) == 1 else (200, {"code": "EXT-1"})

    service = Recorder(respond)
    try:
        with PublishTo(worker.queue):
            order = claimed_on_the_broker(service.url)
            worker.wait_for(lambda: Order.objects.get(pk=order.pk).status == "fulfilled", what="the fulfilment")
            # A task that fails for good: called with an argument it does not take.
            current_app.send_task("rewards.tasks.sweep_orders", args=["unexpected"], queue=worker.queue)
            monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))

            def failure_counted():
                return value(scrape(), "moments_task_failures_total", task="rewards.tasks.sweep_orders") == 1

            worker.wait_for(failure_counted, what="the failure in the metrics")
            # A host with workers and no web process: the worker serves the same, with the same token.
            status, served = fetch(f"http://127.0.0.1:{port}/metrics", TOKEN)
            assert fetch(f"http://127.0.0.1:{port}/metrics")[0] == 401
            assert fetch(f"http://127.0.0.1:{port}/metrics", "wrong")[0] == 401
            assert fetch(f"http://127.0.0.1:{port}/other", TOKEN)[0] == 404
    finally:
        service.close()
        worker.stop()
        worker.delete_queue()

    samples = scrape()  # the directory holds the worker's samples alone: exact counts
    assert value(samples, "moments_task_retries_total", task="rewards.tasks.fulfil_order") == 1
    assert value(samples, "moments_task_failures_total", task="rewards.tasks.fulfil_order") == 0
    assert value(samples, "moments_orders_total", provider="external", state="fulfilled") == 1
    assert value(samples, "moments_order_fulfilment_seconds_count", provider="external") == 1
    assert value(samples, "moments_webhook_deliveries_total", type="order.fulfilled", outcome="delivered") == 0
    assert list(directory.glob("*.db")), "the worker wrote no file"
    assert status == 200
    from_worker = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(served)
        for sample in family.samples
    }
    assert value(from_worker, "moments_task_failures_total", task="rewards.tasks.sweep_orders") == 1
    assert value(from_worker, "moments_task_retries_total", task="rewards.tasks.fulfil_order") == 1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def claimed_on_the_broker(url) -> Order:
    brand = BrandFactory()
    item = CatalogItemFactory(kind="digital_code", value=Decimal("5.00"), fulfilment_url=url)
    campaign = CampaignFactory(brand=brand, threshold=Decimal("1"), rewards=[item.sku], active=True)
    [outcome] = events_ingest(
        brand=brand, mode="live", events=[EventInput(event_id="w-1", user_id="w-user", action=campaign.action)]
    )
    moment = Moment.objects.get(pk=outcome.body["moments"][0]["id"])
    return storefront.claim_confirm(user=customer(), moment=moment, item=item)


# --- The queue --------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.needs("rabbitmq")
def test_the_queue_depth_is_asked_of_the_broker_when_scraped(settings):
    queue_name = f"moments-metrics-{secrets.token_hex(4)}"
    settings.CELERY_TASK_DEFAULT_QUEUE = queue_name
    queue = Queue(queue_name, Exchange(queue_name), routing_key=queue_name, auto_delete=False)
    webhooks_name = f"{queue_name}.webhooks"  # each kind of work has a queue of its own (config/queues.py)
    webhooks = Queue(webhooks_name, Exchange(webhooks_name), routing_key=webhooks_name, auto_delete=False)
    with Connection(settings.CELERY_BROKER_URL) as connection:
        producer = Producer(connection.default_channel)
        try:
            for number in range(3):
                producer.publish({"n": number}, exchange=queue.exchange, routing_key=queue_name, declare=[queue])
            for number in range(2):
                producer.publish(
                    {"n": number}, exchange=webhooks.exchange, routing_key=webhooks_name, declare=[webhooks]
                )
            samples = scrape()
        finally:
            queue(connection.default_channel).delete()
            webhooks(connection.default_channel).delete()

    assert value(samples, "moments_queue_depth", queue=queue_name) == 3
    assert value(samples, "moments_queue_depth", queue=webhooks_name) == 2
    assert value(samples, "moments_queue_depth", queue=f"{queue_name}.fulfilment") == 0
    assert value(samples, "moments_queue_consumers", queue=queue_name) == 0
    assert value(samples, "moments_metrics_collector_up", collector="queue") == 1
    # A queue nobody declared yet has nothing waiting (the passive declare created nothing).
    settings.CELERY_TASK_DEFAULT_QUEUE = f"moments-metrics-{secrets.token_hex(4)}"
    samples = scrape()
    assert value(samples, "moments_queue_depth", queue=settings.CELERY_TASK_DEFAULT_QUEUE) == 0


@pytest.mark.django_db
def test_a_broker_that_does_not_answer_costs_the_queue_figures_only(settings):
    settings.CELERY_BROKER_URL = "amqp://guest:guest@127.0.0.1:9//"  # nothing listens there

    started = time.monotonic()
    samples = scrape()

    assert time.monotonic() - started < 5
    assert value(samples, "moments_metrics_collector_up", collector="queue") == 0
    assert value(samples, "moments_metrics_collector_up", collector="brand_spend") == 1
    assert not [key for key in samples if key[0] == "moments_queue_depth"]


# --- The dashboard ----------------------------------------------------------------------------


def exposed_sample_names() -> set[str]:
    names = set()
    for family in text_string_to_metric_families(scrape_text()):
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"], "gauge": [""]}[family.type]
        names.update(family.name + suffix for suffix in suffixes)
    return names


@pytest.mark.django_db
def test_every_query_of_the_grafana_dashboard_names_a_metric_that_metrics_exposes():
    dashboard = json.loads(DASHBOARD.read_text())
    panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
    expressions = [target["expr"] for panel in panels for target in panel["targets"]]
    exposed = exposed_sample_names()

    named = set()
    for expression in expressions:
        names = set(re.findall(r"\bmoments_[a-z0-9_]+", expression))
        assert names, expression
        assert names <= exposed, (expression, names - exposed)
        named |= names
    # Every family Moments defines has a panel.
    families = {
        "moments_http_requests_total",
        "moments_http_request_duration_seconds_bucket",
        "moments_events_accepted_total",
        "moments_grants_total",
        "moments_grants_blocked_total",
        "moments_orders_total",
        "moments_order_fulfilment_seconds_bucket",
        "moments_webhook_deliveries_total",
        "moments_task_retries_total",
        "moments_task_failures_total",
        metrics.BRAND_SPEND,
        metrics.BRAND_CAP,
        metrics.QUEUE_DEPTH,
        metrics.QUEUE_CONSUMERS,
        metrics.COLLECTOR_UP,
    }
    assert families <= named, families - named
    assert {name for name in exposed if name.startswith("moments_")} - named <= {
        "moments_http_request_duration_seconds_sum",
        "moments_http_request_duration_seconds_count",
        "moments_order_fulfilment_seconds_sum",
        "moments_order_fulfilment_seconds_count",
    }
    assert all(panel["datasource"]["uid"] == "${datasource}" for panel in panels)


# --- A real gunicorn: several workers, recycled, one set of counts ----------------------------


def fetch(url, token=None):
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310  # http://127.0.0.1 only
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""


@pytest.mark.needs("postgresql")
def test_gunicorns_workers_add_up_through_the_directory_and_recycled_workers_reuse_their_files(
    transactional_db, tmp_path
):
    directory = tmp_path / "metrics"
    directory.mkdir()
    output = tmp_path / "gunicorn.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "DATABASE_URL": suite_database_url(),
        "METRICS_TOKEN": TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
        "WEB_CONCURRENCY": "2",
        "GUNICORN_THREADS": "1",
        "GUNICORN_MAX_REQUESTS": "4",  # each worker is replaced after 4 requests
        "GUNICORN_MAX_REQUESTS_JITTER": "0",
        "GUNICORN_KEEPALIVE": "0",
    }
    with running_gunicorn(env, output) as base:
        statuses = [fetch(f"{base}/api/v1/me")[0] for _ in range(20)]
        scrapes = []
        for _ in range(4):
            status, body = fetch(f"{base}/metrics", TOKEN)
            assert status == 200, output.read_text()[-3000:]
            scrapes.append(body)
        assert fetch(f"{base}/metrics")[0] == 401

    assert statuses == [401] * 20
    me = ("moments_http_requests_total", frozenset({("route", "/api/v1/me"), ("method", "GET"), ("status", "401")}))
    for body in scrapes:  # whichever worker answered, it counts what every worker did
        samples = {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(body)
            for sample in family.samples
        }
        assert samples[me] == 20
    log = output.read_text()
    assert log.count("Booting worker") >= 6, log[-3000:]  # 2, then one for each recycled worker
    counters = sorted(path.name for path in directory.glob("counter_*.db"))
    assert len(counters) == 2, counters  # one file per slot, however many workers came and went
    assert all(re.fullmatch(r"counter_web-.+-\d+-[01]\.db", name) for name in counters), counters
