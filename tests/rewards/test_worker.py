"""Fulfilment and webhooks on a real worker and the real broker: exactly once, whatever happens.

Each test posts through the services (committed data: the tests are transactional), the tasks go
through RabbitMQ to a worker process, and the test watches the database.
"""

import hashlib
import hmac
import json
import socket
import threading
import time
from decimal import Decimal

import pytest
from allauth.account.models import EmailAddress
from django.db import connection

from rewards.earning.services import EventInput, events_ingest
from rewards.models import DigitalCode, Donation, Moment, Order, Wallet, WalletEntry, WebhookDelivery
from rewards.tasks import send_due_webhooks
from storefront import services
from tests.factories import AddressFactory, BrandFactory, CampaignFactory, CatalogItemFactory, UserFactory
from tests.httpserver import Recorder
from tests.pg import other_connection

pytestmark = pytest.mark.needs("postgresql", "rabbitmq")


def customer():
    user = UserFactory()
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def earn(brand, campaign, user_id="app-user"):
    [outcome] = events_ingest(
        brand=brand,
        mode="live",
        events=[EventInput(event_id=f"evt-{user_id}", user_id=user_id, action=campaign.action)],
    )
    return Moment.objects.get(pk=outcome.body["moments"][0]["id"])


def claim(kind, **item_fields):
    """A brand, a campaign offering one item of this kind, a moment, and its claim: an order."""
    brand = BrandFactory()
    item = CatalogItemFactory(kind=kind, value=Decimal("5.00"), **item_fields)
    # A donation alone is given at once, with no claim: as one of two choices it is claimed.
    choices = [item.sku, CatalogItemFactory(kind="credit").sku] if kind == "donation" else [item.sku]
    campaign = CampaignFactory(brand=brand, threshold=Decimal("1"), rewards=choices, active=True)
    moment = earn(brand, campaign)
    user = customer()
    address = AddressFactory(user=user) if kind == "physical" else None
    return services.claim_confirm(user=user, moment=moment, item=item, address=address)


def status_of(order):
    return Order.objects.get(pk=order.pk).status


@pytest.mark.parametrize("kind", ["credit", "digital_code", "donation"])
def test_event_to_fulfilled_order_for_each_kind(worker, kind):
    if kind == "digital_code":
        item = CatalogItemFactory(kind=kind)
        DigitalCode.objects.create(item=item, code="POOL-CODE-1")
        order = claim_item(item)
    else:
        order = claim(kind)

    worker.wait_for(lambda: status_of(order) == "fulfilled", what=f"the {kind} order")

    order.refresh_from_db()
    assert Moment.objects.get(pk=order.moment_id).status == "fulfilled"
    if kind == "credit":
        assert Wallet.objects.get(user=order.user).balance == Decimal("5.00")
    if kind == "digital_code":
        assert order.digital_code == "POOL-CODE-1"
        worker.wait_for(lambda: any("is ready" in mail for mail in worker.mails()), what="the code email")
    if kind == "donation":
        assert Donation.objects.get(moment_id=order.moment_id).amount == Decimal("5.00")


def claim_item(item):
    brand = BrandFactory()
    campaign = CampaignFactory(brand=brand, threshold=Decimal("1"), rewards=[item.sku], active=True)
    return services.claim_confirm(user=customer(), moment=earn(brand, campaign), item=item)


def test_a_parcel_through_the_external_service_comes_back_with_its_tracking_number(worker):
    service = Recorder(lambda request: (201, {"carrier": "DHL", "tracking_number": "JD0123"}))
    try:
        order = claim("physical", fulfilment_url=service.url)

        worker.wait_for(lambda: status_of(order) == "shipped", what="the parcel")

        order.refresh_from_db()
        assert (order.carrier, order.tracking_number) == ("DHL", "JD0123")
        [request] = service.requests
        assert request["headers"]["Idempotency-Key"] == str(order.pk)
        assert json.loads(request["body"])["shipping_address"]["city"] == "Seoul"
    finally:
        service.close()


def test_the_external_service_answering_500_then_200_fulfils_once(worker):
    applied = {}

    def respond(request):
        if len(service.requests) == 1:
            return 500, {"error": "busy"}
        key = request["headers"]["Idempotency-Key"]
        applied.setdefault(key, f"EXT-{len(applied) + 1}")  # the service's own idempotency
        return 200, {"code": applied[key]}

    service = Recorder(respond)
    try:
        order = claim("digital_code", fulfilment_url=service.url)

        worker.wait_for(lambda: status_of(order) == "fulfilled", what="the retried fulfilment")

        order.refresh_from_db()
        assert order.digital_code == "EXT-1"
        assert len(service.requests) == 2 and len(applied) == 1
        assert {r["headers"]["Idempotency-Key"] for r in service.requests} == {str(order.pk)}
    finally:
        service.close()


def test_a_4xx_from_the_external_service_fails_the_order_without_retrying(worker):
    service = Recorder(lambda request: (422, {"error": "unknown sku"}))
    try:
        order = claim("digital_code", fulfilment_url=service.url)

        worker.wait_for(lambda: status_of(order) == "failed", what="the refused order")

        assert len(service.requests) == 1
    finally:
        service.close()


def test_a_worker_killed_while_crediting_a_wallet_credits_once_after_a_restart(own_worker):
    """The worker is stopped mid-transaction (the test holds the wallet row), killed, restarted."""
    brand = BrandFactory()
    item = CatalogItemFactory(kind="credit", value=Decimal("5.00"))
    campaign = CampaignFactory(brand=brand, threshold=Decimal("1"), rewards=[item.sku], active=True)
    user = customer()
    wallet = Wallet.objects.create(brand=brand, user=user)
    moment = earn(brand, campaign)

    with holding_row_lock("storefront_wallet", wallet.pk):
        order = services.claim_confirm(user=user, moment=moment, item=item)
        own_worker.wait_for(worker_waits_on_a_lock, what="the worker to block on the wallet")
        own_worker.kill()
    own_worker.start()  # the broker hands the unacknowledged task to the new worker

    own_worker.wait_for(lambda: status_of(order) == "fulfilled", what="the redelivered task")
    assert WalletEntry.objects.filter(order=order, kind="reward").count() == 1
    assert Wallet.objects.get(pk=wallet.pk).balance == Decimal("5.00")


def test_a_worker_killed_during_the_external_call_has_one_effect_after_a_restart(own_worker):
    first_call_arrived, let_it_answer = threading.Event(), threading.Event()
    applied = {}

    def respond(request):
        key = request["headers"]["Idempotency-Key"]
        applied.setdefault(key, f"EXT-{len(applied) + 1}")  # the service did the work
        if len(service.requests) == 1:
            first_call_arrived.set()
            let_it_answer.wait(30)  # the worker dies before it hears back
        return 200, {"code": applied[key]}

    service = Recorder(respond)
    try:
        order = claim("digital_code", fulfilment_url=service.url)
        assert first_call_arrived.wait(30)
        own_worker.kill()
        let_it_answer.set()
        own_worker.start()

        # The dead worker's lease on the order (FULFILMENT_LEASE_SECONDS) runs out before the new one calls again.
        own_worker.wait_for(lambda: status_of(order) == "fulfilled", timeout=60, what="the redelivered task")

        order.refresh_from_db()
        assert order.digital_code == "EXT-1" and len(applied) == 1
        assert len(service.requests) == 2
    finally:
        let_it_answer.set()
        service.close()


def test_a_brands_webhook_receiver_down_then_up_gets_each_delivery_once(worker):
    port = free_port()
    brand = BrandFactory(webhook_url=f"http://127.0.0.1:{port}/hooks")
    campaign = CampaignFactory(brand=brand, threshold=Decimal("1"), max_per_user=None, active=True)
    for user_id in ("u1", "u2", "u3"):
        earn(brand, campaign, user_id=user_id)
    deliveries = set(WebhookDelivery.objects.filter(brand=brand).values_list("payload__id", flat=True))
    assert len(deliveries) == 3
    worker.wait_for(
        lambda: all(d.attempts >= 1 for d in WebhookDelivery.objects.filter(brand=brand)), what="failed attempts"
    )

    applied = {}

    def receive(request):
        assert_signed(request, brand)
        event = json.loads(request["body"])
        applied[event["id"]] = applied.get(event["id"], 0) + 1
        return 200, {}

    receiver = Recorder(receive, port=port)
    try:
        # The beat task picks up what is due (the first retry is 5 s after the failure). Sent once
        # a second, as beat would (every 5 s): not on every poll, which floods the worker's queue.
        last_beat = [0.0]

        def all_delivered():
            if time.monotonic() - last_beat[0] >= 1:
                send_due_webhooks.delay()
                last_beat[0] = time.monotonic()
            return WebhookDelivery.objects.filter(brand=brand, status="delivered").count() == 3

        worker.wait_for(all_delivered, timeout=60, what="the deliveries after the receiver came up")

        assert set(applied) == deliveries and set(applied.values()) == {1}
    finally:
        receiver.close()


def assert_signed(request, brand):
    header = request["headers"]["Moments-Signature"]
    parts = dict(part.split("=", 1) for part in header.split(",") if part.startswith("t="))
    signed = f"{parts['t']}.".encode() + request["body"]
    expected = hmac.new(brand.webhook_secret.encode(), signed, hashlib.sha256).hexdigest()
    assert f"v1={expected}" in header.split(",")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class holding_row_lock:  # noqa: N801 (a context manager read as a phrase)
    """Hold a row lock from another connection, as a slow transaction would."""

    def __init__(self, table, pk):
        self.table, self.pk = table, pk

    def __enter__(self):
        self.conn = other_connection()
        self.conn.execute(f"SELECT 1 FROM {self.table} WHERE id = %s FOR UPDATE", [self.pk])
        return self

    def __exit__(self, *exc):
        self.conn.rollback()
        self.conn.close()


def worker_waits_on_a_lock():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0
