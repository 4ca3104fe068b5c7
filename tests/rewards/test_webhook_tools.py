"""Issue 15, point 6 "Try a webhook": the API sends a signed sample event to the brand's endpoint
and shows the attempt; deliveries are listed, read and replayed through the API; the console sends
a test event and shows its request, answer and time. Endpoints are receivers on 127.0.0.1."""

import socket
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
import standardwebhooks
from django.db import DatabaseError, connection, connections, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from rewards.earning.services import EventInput, events_ingest
from rewards.models import WebhookDelivery
from rewards.webhooks import services as webhooks
from tests.factories import ApiKeyFactory, BrandFactory, CampaignFactory, MembershipFactory, WebhookDeliveryFactory
from tests.httpserver import HeldReceiver, Recorder

pytestmark = pytest.mark.django_db

TEST = "/api/v1/webhooks/test"
DELIVERIES = "/api/v1/webhook_deliveries"
DELIVERY_KEYS = {
    "id",
    "event_id",
    "type",
    "mode",
    "status",
    "attempts",
    "created_at",
    "delivered_at",
    "next_attempt_at",
    "last_attempt",
}
UNKNOWN = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def receiver():
    answers = []  # (status, body) to give, in order; then 200 and {"received": true}
    server = Recorder(lambda request: answers.pop(0) if answers else (200, {"received": True}))
    server.answers = answers
    yield server
    server.close()


@pytest.fixture
def brand(brand_a, receiver):
    brand_a.webhook_url = receiver.url
    brand_a.save()
    return brand_a


def client_for(brand, mode="live") -> APIClient:
    client = APIClient()
    client.raise_request_exception = False  # a crash must show as the 500 it would be in production
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {ApiKeyFactory(brand=brand, mode=mode).secret}")
    return client


@pytest.fixture
def api(brand):
    return client_for(brand)


def assert_error(response, status, code, field=None):
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code and error["message"], error
    if field:
        assert error["field"] == field, error
    return error


def delivery_of(brand, mode="live", **fields) -> WebhookDelivery:
    delivery = WebhookDeliveryFactory(brand=brand, mode=mode, **fields)
    delivery.payload = {**delivery.payload, "id": f"evt_{delivery.pk.hex}"}
    delivery.save()
    return delivery


# --- POST /api/v1/webhooks/test ---------------------------------------------------------------


def test_a_test_event_is_sent_signed_now_and_answered_201_with_the_attempt(brand, api, receiver):
    response = api.post(TEST)

    assert response.status_code == 201, response.content
    shown = response.json()
    assert set(shown) == DELIVERY_KEYS
    [request] = receiver.requests
    event = standardwebhooks.Webhook(brand.webhook_secret).verify(request["body"], request["headers"])
    assert (event["type"], event["mode"], event["sample"]) == ("moment.earned", "live", True)
    assert set(event["data"]) == {"id", "campaign", "user_id", "status", "claim_url", "expires_at", "mode"}
    assert shown["id"] == str(WebhookDelivery.objects.get().pk) and shown["event_id"] == event["id"]
    assert (shown["type"], shown["mode"], shown["status"], shown["attempts"]) == (
        "moment.earned",
        "live",
        "delivered",
        1,
    )
    assert shown["delivered_at"] and shown["next_attempt_at"] is None
    attempt = shown["last_attempt"]
    assert set(attempt) == {"at", "request", "response", "error", "duration_ms"}
    assert attempt["request"]["url"] == receiver.url
    assert attempt["request"]["body"].encode() == request["body"]
    sent = {name.lower(): value for name, value in request["headers"].items()}
    assert all(sent[name.lower()] == value for name, value in attempt["request"]["headers"].items())
    assert attempt["request"]["headers"]["webhook-id"] == event["id"]
    assert attempt["response"] == {"status": 200, "body": '{"received": true}'}
    assert attempt["error"] is None and isinstance(attempt["duration_ms"], int)


@pytest.mark.parametrize("event_type", webhooks.EVENT_TYPES)
def test_each_event_type_has_a_sample_in_the_keys_mode(brand, receiver, event_type):
    response = client_for(brand, mode="test").post(TEST, {"type": event_type}, format="json")

    assert response.status_code == 201, response.content
    assert (response.json()["type"], response.json()["mode"]) == (event_type, "test")
    event = standardwebhooks.Webhook(brand.webhook_secret).verify(
        receiver.requests[0]["body"], receiver.requests[0]["headers"]
    )
    assert (event["type"], event["mode"], event["sample"]) == (event_type, "test", True)
    assert WebhookDelivery.objects.get().mode == "test"


def test_samples_are_shaped_like_real_events(brand, receiver):
    """A receiver's parser meets in the sample the fields a real event of the type carries."""
    campaign = CampaignFactory(
        brand=brand, threshold=Decimal("1"), cpa=Decimal("5.00"), monthly_budget=Decimal("5.00"), active=True
    )
    events_ingest(brand=brand, mode="live", events=[EventInput(event_id="e1", user_id="u1", action=campaign.action)])
    real = {d.event_type: d.payload["data"] for d in WebhookDelivery.objects.all()}
    assert set(real) == {"moment.earned", "campaign.capped"}

    for event_type, data in real.items():
        sample = webhooks.send_sample(brand=brand, mode="live", event_type=event_type)
        assert set(sample.payload["data"]) == set(data), event_type
        assert set(sample.payload) == {"id", "type", "created", "mode", "sample", "data"}


def test_a_failing_endpoint_shows_its_answer_and_the_sample_waits_for_its_retry(brand, api, receiver):
    receiver.answers.append((503, {"error": "maintenance"}))

    response = api.post(TEST, {"type": "campaign.capped"}, format="json")

    assert response.status_code == 201
    shown = response.json()
    assert (shown["status"], shown["attempts"], shown["delivered_at"]) == ("pending", 1, None)
    assert shown["next_attempt_at"] is not None
    assert shown["last_attempt"]["response"] == {"status": 503, "body": '{"error": "maintenance"}'}
    assert shown["last_attempt"]["error"] is None


def test_an_endpoint_that_cannot_be_reached_shows_a_fixed_phrase_and_no_response(brand, api):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    brand.webhook_url = f"http://127.0.0.1:{closed}/hooks"
    brand.save()

    shown = api.post(TEST).json()

    assert shown["last_attempt"]["response"] is None
    assert shown["last_attempt"]["error"] == "could not connect"


def test_without_a_webhook_url_it_is_409_and_nothing_is_made(brand_a):
    response = client_for(brand_a).post(TEST)

    assert_error(response, 409, "webhook_url_missing")
    assert response.json()["error"]["type"] == "conflict_error"
    assert not WebhookDelivery.objects.exists()


def test_a_disabled_endpoint_is_409_webhook_disabled(brand, api, receiver):
    api.get("/api/v1/me")  # the key's brand is cached now, endpoint still enabled
    brand.webhook_disabled_at = timezone.now()
    brand.save(update_fields=["webhook_disabled_at"])  # as the beat does: no cache refresh

    assert_error(api.post(TEST), 409, "webhook_disabled")
    assert receiver.requests == [] and not WebhookDelivery.objects.exists()


def test_an_unknown_type_or_field_is_400(brand, api):
    assert_error(api.post(TEST, {"type": "moment.exploded"}, format="json"), 400, "invalid_choice", "type")
    assert_error(api.post(TEST, {"url": "https://example.com"}, format="json"), 400, "unknown_field", "url")
    assert not WebhookDelivery.objects.exists()


def test_test_events_have_their_own_rate_limit(brand, api, settings):
    settings.API_RATE_LIMITS = {"default": 1000, "batch": 1000, "webhook_test": 2}

    statuses = [api.post(TEST).status_code for _ in range(3)]

    assert statuses == [201, 201, 429]
    assert api.get(DELIVERIES).status_code == 200  # other calls are another bucket


@pytest.mark.parametrize(
    "method, path",
    [
        ("post", TEST),
        ("get", DELIVERIES),
        ("get", f"{DELIVERIES}/{UNKNOWN}"),
        ("post", f"{DELIVERIES}/{UNKNOWN}/redeliver"),
    ],
)
def test_no_key_is_401(db, method, path):
    client = APIClient()
    assert_error(getattr(client, method)(path), 401, "missing_api_key")


# --- GET /api/v1/webhook_deliveries -----------------------------------------------------------


def test_deliveries_are_listed_newest_first_in_the_keys_mode_only_for_the_keys_brand(brand, brand_b, api):
    now = timezone.now()
    older, newer = delivery_of(brand), delivery_of(brand)
    WebhookDelivery.objects.filter(pk=older.pk).update(created_at=now - timedelta(minutes=1))
    test_mode = delivery_of(brand, mode="test")
    delivery_of(brand_b)

    body = api.get(DELIVERIES).json()

    assert set(body) == {"results", "next"} and body["next"] is None
    assert [item["id"] for item in body["results"]] == [str(newer.pk), str(older.pk)]
    assert all(set(item) == DELIVERY_KEYS for item in body["results"])
    listed_for_test_key = client_for(brand, mode="test").get(DELIVERIES).json()["results"]
    assert [item["id"] for item in listed_for_test_key] == [str(test_mode.pk)]


def test_deliveries_filter_by_status_and_a_bad_status_is_400(brand, api):
    failed = delivery_of(brand, status="failed")
    delivery_of(brand, status="delivered")
    delivery_of(brand, status="pending")

    listed = api.get(DELIVERIES, {"status": "failed"}).json()["results"]

    assert [item["id"] for item in listed] == [str(failed.pk)]
    assert len(api.get(DELIVERIES).json()["results"]) == 3
    assert_error(api.get(DELIVERIES, {"status": "lost"}), 400, "invalid_choice", "status")


def test_deliveries_paginate_with_limit_and_next_visiting_each_once(brand, api):
    made = {str(delivery_of(brand).pk) for _ in range(5)}

    seen, url, pages = [], f"{DELIVERIES}?limit=2", 0
    while url:
        body = api.get(url).json()
        seen += [item["id"] for item in body["results"]]
        url, pages = body["next"], pages + 1
        assert pages < 10

    assert sorted(seen) == sorted(made) and pages == 3


def test_a_delivery_before_any_attempt_has_no_last_attempt(brand, api):
    delivery = delivery_of(brand, status="pending")

    shown = api.get(f"{DELIVERIES}/{delivery.pk}").json()

    assert shown["id"] == str(delivery.pk) and shown["last_attempt"] is None


def test_another_brands_or_modes_delivery_is_404_like_an_unknown_one(brand, brand_b, api):
    theirs, test_mode = delivery_of(brand_b), delivery_of(brand, mode="test")

    for delivery_id in (UNKNOWN, theirs.pk, test_mode.pk):
        not_found = [
            api.get(f"{DELIVERIES}/{delivery_id}"),
            api.post(f"{DELIVERIES}/{delivery_id}/redeliver"),
        ]
        for response in not_found:
            assert_error(response, 404, "not_found")
            assert response.json() == not_found[0].json()
    assert WebhookDelivery.objects.get(pk=theirs.pk).status == "failed"


# --- POST /api/v1/webhook_deliveries/{id}/redeliver -------------------------------------------


def test_a_failed_delivery_is_redelivered_as_the_same_event(brand, api, receiver, django_capture_on_commit_callbacks):
    delivery = delivery_of(brand, status="failed", attempts=8)

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"{DELIVERIES}/{delivery.pk}/redeliver")

    assert response.status_code == 202, response.content
    assert response.json()["id"] == str(delivery.pk)
    [request] = receiver.requests
    assert (
        standardwebhooks.Webhook(brand.webhook_secret).verify(request["body"], request["headers"])["id"]
        == (delivery.payload["id"])
    )
    shown = api.get(f"{DELIVERIES}/{delivery.pk}").json()
    assert (shown["status"], shown["attempts"]) == ("delivered", 1)
    assert shown["last_attempt"]["response"]["status"] == 200


def test_redelivering_without_a_webhook_url_is_409_and_changes_nothing(brand_a):
    delivery = delivery_of(brand_a, status="failed", attempts=8)

    assert_error(client_for(brand_a).post(f"{DELIVERIES}/{delivery.pk}/redeliver"), 409, "webhook_url_missing")
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", 8)


# --- The console ------------------------------------------------------------------------------


SEND = "admin:rewards_webhookdelivery_send_test"


def test_an_owner_sends_a_test_event_and_lands_on_its_request_answer_and_time(brand, owner_a, client, receiver):
    client.force_login(owner_a)
    changelist = client.get(reverse("admin:rewards_webhookdelivery_changelist")).content.decode()
    assert reverse(SEND) in changelist

    client.post(reverse("admin:switch_test_data"), {"test_data": "on"})  # the sample goes in the console's mode
    response = client.post(reverse(SEND), {"event_type": "order.fulfilled"})

    delivery = WebhookDelivery.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:rewards_webhookdelivery_change", args=[delivery.pk])
    assert (delivery.brand, delivery.mode, delivery.event_type, delivery.status) == (
        brand,
        "test",
        "order.fulfilled",
        "delivered",
    )
    [request] = receiver.requests
    event = standardwebhooks.Webhook(brand.webhook_secret).verify(request["body"], request["headers"])
    assert event["sample"] is True and event["mode"] == "test"
    page = client.get(response["Location"]).content.decode()
    assert f"POST {receiver.url}" in page
    assert "webhook-signature: v1," in page and "Moments-Signature: t=" in page
    assert event["id"] in page  # the body as sent
    assert "{&quot;received&quot;: true}" in page  # the answer's body
    assert f'<div class="readonly">{delivery.last_duration_ms}</div>' in page


def test_a_manager_may_send_and_an_analyst_may_not(brand, client, receiver):
    manager = MembershipFactory(brand=brand, role="manager").user
    analyst = MembershipFactory(brand=brand, role="analyst").user

    client.force_login(analyst)
    assert reverse(SEND) not in client.get(reverse("admin:rewards_webhookdelivery_changelist")).content.decode()
    assert client.get(reverse(SEND)).status_code == 403
    assert client.post(reverse(SEND), {"event_type": "moment.earned"}).status_code == 403
    assert receiver.requests == []

    client.force_login(manager)
    assert client.post(reverse(SEND), {"event_type": "moment.earned"}).status_code == 302
    assert len(receiver.requests) == 1


def test_the_form_needs_its_csrf_token(brand, owner_a, receiver):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner_a)

    assert client.post(reverse(SEND), {"event_type": "moment.earned"}).status_code == 403
    assert receiver.requests == []


def test_a_brand_without_a_url_is_told_so_and_nothing_is_sent(brand_a, owner_a, client):
    client.force_login(owner_a)

    page = client.post(reverse(SEND), {"event_type": "moment.earned"})

    assert page.status_code == 200 and "no webhook URL" in page.content.decode()
    assert not WebhookDelivery.objects.exists()


def test_the_operator_picks_the_brand_among_those_with_an_endpoint(brand, brand_b, operator, client, receiver):
    client.force_login(operator)
    form = client.get(reverse(SEND)).content.decode()
    assert brand.name in form and brand_b.name not in form  # brand_b has no webhook URL

    client.post(reverse(SEND), {"brand": str(brand.pk), "event_type": "campaign.capped"})

    assert WebhookDelivery.objects.get().brand == brand and len(receiver.requests) == 1


def test_the_console_never_sends_to_another_brands_endpoint(brand, brand_b, owner_b, client, receiver):
    other = Recorder(lambda request: (200, {}))
    try:
        brand_b.webhook_url = other.url
        brand_b.save()
        client.force_login(owner_b)

        client.post(reverse(SEND), {"brand": str(brand.pk), "event_type": "moment.earned"})

        assert receiver.requests == [] and len(other.requests) == 1  # a posted brand is ignored
        assert WebhookDelivery.objects.get().brand == brand_b
    finally:
        other.close()


def test_the_owner_reads_that_the_signing_secret_serves_standard_webhooks_as_it_is(brand, owner_a, client):
    client.force_login(owner_a)

    page = client.get(reverse("admin:tenants_brand_change", args=[brand.pk])).content.decode()

    assert f"<code>{brand.webhook_secret}</code>" in page and "Standard Webhooks libraries take it as it is" in page


# --- No transaction or lock across the call (PostgreSQL) --------------------------------------


@pytest.mark.needs("postgresql")
@pytest.mark.django_db(transaction=True)
def test_while_the_test_event_is_in_flight_no_transaction_or_lock_is_held():
    receiver = HeldReceiver(200)
    brand = BrandFactory(webhook_url=receiver.url)
    api = client_for(brand)
    answers = []

    def request():
        try:
            answers.append(api.post(TEST))
        finally:
            connections.close_all()

    caller = threading.Thread(target=request, daemon=True)
    caller.start()
    try:
        receiver.wait_for_requests(1)
        delivery = WebhookDelivery.objects.get()
        try:
            with transaction.atomic():
                WebhookDelivery.objects.select_for_update(nowait=True).get(pk=delivery.pk)
        except DatabaseError as error:
            pytest.fail(f"the delivery is locked during the HTTP call: {error}")
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'"
            )
            assert cursor.fetchone()[0] == 0, "a transaction is open during the HTTP call"
    finally:
        receiver.release.set()
        caller.join(20)
        receiver.close()
    [response] = answers
    assert response.status_code == 201 and response.json()["status"] == "delivered"
