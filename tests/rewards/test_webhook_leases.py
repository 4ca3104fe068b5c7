"""Security review, issue 10, point 5 (webhooks): no row lock and no open transaction across the
HTTP call. An attempt claims its delivery with a conditional UPDATE (a lease in next_attempt_at),
commits, posts, then records the outcome only if the row is still its own.

The deliveries run in threads, each on its own PostgreSQL connection, against a receiver on
127.0.0.1 that holds its answer until the test lets it go.
"""

import threading
import time
from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, connections, transaction
from django.db.models import F
from django.utils import timezone

from rewards.models import WebhookDelivery
from rewards.webhooks import services as webhooks
from tenants.models import Brand
from tests.factories import BrandFactory
from tests.httpserver import HeldReceiver

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.needs("postgresql")]


@pytest.fixture
def held_receiver():
    servers = []

    def make(*statuses):
        servers.append(HeldReceiver(*statuses))
        return servers[-1]

    yield make
    for server in servers:
        server.release.set()
        server.close()


def due_delivery(url) -> WebhookDelivery:
    brand = BrandFactory(webhook_url=url)
    return WebhookDelivery.objects.create(
        brand=brand,
        mode="live",
        event_type="campaign.capped",
        payload={"id": "evt_lease", "data": {}},
        next_attempt_at=timezone.now(),
    )


def in_thread(delivery_id, start=None) -> threading.Thread:
    """The delivery task as a worker runs it: in its own thread, on its own database connection."""

    def run():
        try:
            if start is not None:
                start.wait(10)
            webhooks.deliver_webhook(delivery_id)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_while_the_http_call_is_in_flight_no_lock_or_transaction_is_held_and_the_beat_skips_it(held_receiver):
    receiver = held_receiver(200)
    delivery = due_delivery(receiver.url)
    worker = in_thread(delivery.pk)
    receiver.wait_for_requests(1)

    try:
        with transaction.atomic():
            WebhookDelivery.objects.select_for_update(nowait=True).get(pk=delivery.pk)
            Brand.objects.select_for_update(nowait=True).get(pk=delivery.brand_id)
    except DatabaseError as error:
        pytest.fail(f"a row is locked during the HTTP call: {error}")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND state IN ('idle in transaction', 'idle in transaction (aborted)')"
        )
        assert cursor.fetchone()[0] == 0, "a transaction is open during the HTTP call"
    assert str(delivery.pk) not in webhooks.due_deliveries()  # the beat does not queue it again
    webhooks.deliver(delivery.pk)  # nor does a task it queued earlier send it twice
    assert len(receiver.requests) == 1

    receiver.release.set()
    worker.join(10)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)


def test_two_workers_racing_for_one_delivery_make_one_request(held_receiver):
    receiver = held_receiver(200)
    delivery = due_delivery(receiver.url)
    go = threading.Event()
    workers = [in_thread(delivery.pk, start=go) for _ in range(2)]
    go.set()  # both claim at once
    receiver.wait_for_requests(1)
    deadline = time.monotonic() + 10
    while all(worker.is_alive() for worker in workers) and time.monotonic() < deadline:
        time.sleep(0.02)

    # One is still in its call; the other returned without a request of its own.
    assert sorted(worker.is_alive() for worker in workers) == [False, True]
    time.sleep(0.2)
    assert len(receiver.requests) == 1
    receiver.release.set()
    for worker in workers:
        worker.join(10)
    assert len(receiver.requests) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 1)


def test_a_task_queued_again_while_an_attempt_failed_waits_for_the_retry_time(held_receiver):
    receiver = held_receiver(500)
    receiver.release.set()
    delivery = due_delivery(receiver.url)
    webhooks.deliver(delivery.pk)  # fails: the next attempt is in 5 s

    webhooks.deliver(delivery.pk)  # a duplicate of the task (the beat queued it while in flight)

    assert len(receiver.requests) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())  # 5 s later
    webhooks.deliver(delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, len(receiver.requests)) == ("delivered", 2, 2)


def test_once_the_lease_ends_the_delivery_is_retried_and_the_late_attempt_records_nothing(held_receiver):
    receiver = held_receiver(500)  # the first (late) attempt will fail, the second succeed
    delivery = due_delivery(receiver.url)
    stuck = in_thread(delivery.pk)  # a worker stuck in its call, as good as dead
    receiver.wait_for_requests(1)
    assert str(delivery.pk) not in webhooks.due_deliveries()

    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=F("next_attempt_at") - webhooks.LEASE)
    assert str(delivery.pk) in webhooks.due_deliveries()  # the lease is over: the beat queues it again
    retry = in_thread(delivery.pk)
    receiver.wait_for_requests(2)
    receiver.release.set()
    retry.join(10)
    stuck.join(10)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 1)  # the late failure changed nothing
    assert webhooks.LEASE > timedelta(seconds=3 * webhooks.TIMEOUT_SECONDS)
