"""Issue 10 points 4 and 5: money paths lock in one order, and no network call runs under a lock.

Real threads on PostgreSQL, each with its own connection. An interleaving is injected with
Django's `connection.execute_wrapper` (the statements run for real; the wrapper only pauses the
thread after a chosen one), so the same test shows the deadlock of code that locks in another order.
"""

import socket
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from allauth.account.models import EmailAddress
from django.db import connection
from django.db.models import Sum
from django.utils import timezone
from rest_framework.test import APIClient

from rewards.earning.services import EventInput, events_ingest
from rewards.models import BrandSpend, CampaignSpend, CatalogItem, LedgerEntry, Moment, Order
from rewards.moments.services import moment_cancel, moments_expire
from rewards.orders import fulfilment
from rewards.orders import services as orders
from storefront import services as storefront_services
from tenants.scoping import across_brands
from tests.factories import (
    AddressFactory,
    ApiKeyFactory,
    BrandFactory,
    CampaignFactory,
    CatalogItemFactory,
    UserFactory,
)
from tests.httpserver import Recorder
from tests.pg import other_connection

pytestmark = [pytest.mark.needs("postgresql"), pytest.mark.django_db(transaction=True)]

WAIT = 20


def earn(brand, campaign, user_id):
    [outcome] = events_ingest(
        brand=brand,
        mode="live",
        events=[EventInput(event_id=f"evt-{user_id}", user_id=user_id, action=campaign.action)],
    )
    return outcome


class PauseAfter:
    """An execute wrapper: after the first statement whose SQL contains `marker`, say so and wait."""

    def __init__(self, marker: str):
        self.marker = marker
        self.reached, self.resume = threading.Event(), threading.Event()

    def __call__(self, execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if self.marker in sql and not self.reached.is_set():
            self.reached.set()
            self.resume.wait(WAIT)
        return result


def in_thread(work):
    """Run work() in a thread with its own connection, reading across brands as the test does
    (a new thread starts with no scope); (thread, errors, results)."""
    errors, results = [], []

    def target():
        try:
            with across_brands():
                results.append(work())
        except Exception as exc:  # noqa: BLE001 (the test asserts there were none)
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=target)
    thread.start()
    return thread, errors, results


def waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


def wait_until(condition, what):
    deadline = timezone.now() + timedelta(seconds=WAIT)
    while timezone.now() < deadline:
        if condition():
            return
        threading.Event().wait(0.05)
    pytest.fail(f"timed out waiting for {what}")


def assert_counters_match_ledger(brand, campaign, mode="live"):
    month = timezone.now().date().replace(day=1)
    lines = LedgerEntry.objects.filter(brand=brand, mode=mode, counter_period=month)
    assert BrandSpend.objects.get(brand=brand, mode=mode, period=month).spent == lines.aggregate(s=Sum("amount"))["s"]
    assert (
        CampaignSpend.objects.get(campaign=campaign, period=month).spent
        == lines.filter(campaign=campaign).aggregate(s=Sum("amount"))["s"]
    )


def test_earning_paused_between_its_locks_and_a_refund_both_succeed():
    """Earning holds the brand's month and is paused before the campaign's; a refund of the same
    campaign starts meanwhile. Locking campaign-then-brand (the refund before this fix) deadlocks
    here; in the one order, the refund waits in line and both commit."""
    brand = BrandFactory()
    campaign = CampaignFactory(brand=brand, threshold=Decimal("1"), cpa=Decimal("5.00"), active=True)
    earned = Moment.objects.get(pk=earn(brand, campaign, "first").body["moments"][0]["id"])

    pause = PauseAfter(BrandSpend._meta.db_table)

    def earning():
        with connection.execute_wrapper(pause):
            return earn(brand, campaign, "second")

    earner, earn_errors, earn_results = in_thread(earning)
    assert pause.reached.wait(WAIT), "earning never locked the brand's month"
    refunder, refund_errors, _ = in_thread(lambda: moment_cancel(moment=earned, reason="support", actor=None))
    wait_until(waiting_on_a_lock, "the refund to wait for a lock")
    pause.resume.set()
    earner.join(WAIT * 2)
    refunder.join(WAIT * 2)

    assert earn_errors == [] and refund_errors == []
    assert len(earn_results[0].body["moments"]) == 1
    assert Moment.objects.get(pk=earned.pk).status == "cancelled"
    assert BrandSpend.objects.get(brand=brand).spent == Decimal("5.00")
    assert_counters_match_ledger(brand, campaign)


def test_expiry_commits_each_refund_and_never_holds_a_brands_month_across_moments():
    """While the sweep is on its second moment, the first one's brand month is free again."""
    first_brand, second_brand = BrandFactory(), BrandFactory()
    moments = []
    for brand in (first_brand, second_brand):
        campaign = CampaignFactory(brand=brand, threshold=Decimal("1"), claim_window_days=1, active=True)
        moments.append(Moment.objects.get(pk=earn(brand, campaign, "u").body["moments"][0]["id"]))
    Moment.objects.filter(pk=moments[0].pk).update(expires_at=timezone.now() - timedelta(minutes=2))
    Moment.objects.filter(pk=moments[1].pk).update(expires_at=timezone.now() - timedelta(minutes=1))

    class PauseOnSecond(PauseAfter):
        def __call__(self, execute, sql, params, many, context):
            result = execute(sql, params, many, context)
            if "FOR UPDATE" in sql and params and moments[1].pk in params and not self.reached.is_set():
                self.reached.set()
                self.resume.wait(WAIT)
            return result

    pause = PauseOnSecond("")

    def sweep():
        with connection.execute_wrapper(pause):
            return moments_expire()

    sweeper, errors, results = in_thread(sweep)
    try:
        assert pause.reached.wait(WAIT), "the sweep never reached the second moment"
        with other_connection() as other:
            other.execute("SET lock_timeout = '1s'")
            other.execute(
                f"SELECT 1 FROM {BrandSpend._meta.db_table} WHERE brand_id = %s FOR UPDATE NOWAIT", [first_brand.pk]
            )
            other.rollback()
    finally:
        pause.resume.set()
        sweeper.join(WAIT * 2)
    assert errors == [] and results == [2]
    assert set(Moment.objects.filter(pk__in=[m.pk for m in moments]).values_list("status", flat=True)) == {"expired"}


# --- Point 5: the outside fulfilment service is called under a lease, not under a lock -------------


def external_order(service_url):
    """A placed parcel order whose item then moves to an outside service (placed with the
    warehouse, whose fulfilment waits for the operator, so no call happens before the test's)."""
    brand = BrandFactory()
    item = CatalogItemFactory(kind="physical")
    campaign = CampaignFactory(brand=brand, threshold=Decimal("1"), rewards=[item.sku], active=True)
    moment = Moment.objects.get(pk=earn(brand, campaign, "u").body["moments"][0]["id"])
    user = UserFactory()
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    order = storefront_services.claim_confirm(user=user, moment=moment, item=item, address=AddressFactory(user=user))
    CatalogItem.objects.filter(pk=item.pk).update(fulfilment_url=service_url)
    return order


def fulfil_now(order):
    fulfilment.ExternalService().fulfil(Order.objects.select_related("item", "user").get(pk=order.pk))


def test_a_cancel_during_the_outside_call_is_refused_and_nothing_is_locked_meanwhile():
    arrived, answer = threading.Event(), threading.Event()

    def respond(request):
        arrived.set()
        answer.wait(WAIT)
        return 200, {"carrier": "DHL", "tracking_number": "TRACK-1"}

    service = Recorder(respond)
    try:
        order = external_order(service.url)
        caller, errors, _ = in_thread(lambda: fulfil_now(order))
        assert arrived.wait(WAIT)
        # During the call: the order, its moment and the brand's month are free to lock...
        with other_connection() as other:
            other.execute(f"SELECT 1 FROM {Order._meta.db_table} WHERE id = %s FOR UPDATE NOWAIT", [order.pk])
            other.execute(f"SELECT 1 FROM {Moment._meta.db_table} WHERE id = %s FOR UPDATE NOWAIT", [order.moment_id])
            other.rollback()
        # ...and the operator cannot cancel what the service is shipping.
        with pytest.raises(orders.Refused):
            orders.order_cancel(order=order, reason="customer asked", actor=None)
        answer.set()
        caller.join(WAIT * 2)
    finally:
        answer.set()
        service.close()
    assert errors == []
    order.refresh_from_db()
    assert order.status == "shipped" and order.tracking_number == "TRACK-1" and order.provider_lease_until is None
    assert Moment.objects.get(pk=order.moment_id).status == "fulfilled"
    assert not LedgerEntry.objects.filter(moment_id=order.moment_id, kind="refund").exists()


def test_two_workers_fulfilling_one_order_call_the_service_once():
    arrived, answer = threading.Event(), threading.Event()

    def respond(request):
        arrived.set()
        answer.wait(WAIT)
        return 200, {"code": "EXT-1"}

    service = Recorder(respond)
    try:
        order = external_order(service.url)
        first, first_errors, _ = in_thread(lambda: fulfil_now(order))
        assert arrived.wait(WAIT)
        with pytest.raises(fulfilment.LeaseHeld):
            fulfil_now(order)
        answer.set()
        first.join(WAIT * 2)
    finally:
        answer.set()
        service.close()
    assert first_errors == [] and len(service.requests) == 1


def test_after_a_timeout_the_order_stays_with_the_service_until_it_answers():
    """The service hung up without answering: it may have shipped. No cancel until an answer; a
    retry may call again at once (same Idempotency-Key) and its answer settles the order."""
    answers = iter(["hang up", "shipped"])

    def respond(request):
        if next(answers) == "hang up":
            raise ConnectionAbortedError("the service hangs up without answering")
        return 200, {"carrier": "DHL", "tracking_number": "TRACK-2"}

    service = Recorder(respond)
    try:
        order = external_order(service.url)
        with pytest.raises(fulfilment.ProviderUnavailable):
            fulfil_now(order)
        with pytest.raises(orders.Refused):
            orders.order_cancel(order=order, reason="customer asked", actor=None)
        fulfil_now(order)
    finally:
        service.close()
    order.refresh_from_db()
    assert order.status == "shipped" and order.provider_lease_until is None and len(service.requests) == 2


def test_a_dead_workers_lease_blocks_a_cancel_until_a_retry_gets_an_answer():
    service = Recorder(lambda request: (200, {"carrier": "DHL", "tracking_number": "TRACK-3"}))
    try:
        order = external_order(service.url)
        # A worker claimed it, called, and died: its lease has run out, the answer never came.
        Order.objects.filter(pk=order.pk).update(provider_lease_until=timezone.now() - timedelta(seconds=1))
        with pytest.raises(orders.Refused):
            orders.order_cancel(order=order, reason="customer asked", actor=None)
        fulfil_now(order)
    finally:
        service.close()
    order.refresh_from_db()
    assert order.status == "shipped" and order.provider_lease_until is None


def test_a_service_never_reached_leaves_the_order_cancellable():
    with socket_closed_port() as url:
        order = external_order(url)
        with pytest.raises(fulfilment.ProviderUnavailable):
            fulfil_now(order)
    order.refresh_from_db()
    assert order.provider_lease_until is None
    assert orders.order_cancel(order=order, reason="customer asked", actor=None) is True


class socket_closed_port:  # noqa: N801 (a context manager read as a phrase)
    """A URL on 127.0.0.1 where nothing listens."""

    def __enter__(self):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        return f"http://127.0.0.1:{port}/orders"

    def __exit__(self, *exc):
        return False


# --- Earning in test mode, over two campaigns in opposite orders ---------------------------------


def test_two_test_mode_batches_over_two_campaigns_in_opposite_orders_both_commit():
    """Test mode has month counters of its own and locks like live mode: a batch grants on test
    campaign A then B and is paused after its first grant; another grants on B then A meanwhile.
    Locked grant by grant in event order, they deadlock; locked up front in the one order, the
    second waits and both commit. (Live batches, which never touch test rows, are tested above.)"""
    brand = BrandFactory()
    rules = {"brand": brand, "mode": "test", "threshold": Decimal("1"), "max_per_user": None, "active": True}
    campaign_a = CampaignFactory(action="act_a", **rules)
    campaign_b = CampaignFactory(action="act_b", **rules)

    def batch(name, actions):
        return events_ingest(
            brand=brand,
            mode="test",
            events=[EventInput(event_id=f"{name}-{a}", user_id="u", action=a) for a in actions],
        )

    pause = PauseAfter('UPDATE "rewards_campaign"')

    def first_batch():
        with connection.execute_wrapper(pause):
            return batch("first", ["act_a", "act_b"])

    first, first_errors, _ = in_thread(first_batch)
    assert pause.reached.wait(WAIT), "the first batch never granted"
    second, second_errors, _ = in_thread(lambda: batch("second", ["act_b", "act_a"]))
    wait_until(waiting_on_a_lock, "the second batch to wait for a lock")
    pause.resume.set()
    first.join(WAIT * 2)
    second.join(WAIT * 2)

    assert first_errors == [] and second_errors == []
    assert Moment.objects.filter(mode="test").count() == 4 and not Moment.objects.filter(mode="live").exists()
    assert {campaign_a.pk, campaign_b.pk} == set(Moment.objects.values_list("campaign_id", flat=True))
    assert_counters_match_ledger(brand, campaign_a, mode="test")


def test_a_grant_that_waits_past_the_lock_timeout_answers_503_busy_with_retry_after(settings):
    settings.MONEY_LOCK_TIMEOUT_MS = 300
    key = ApiKeyFactory(mode="live")
    CampaignFactory(brand=key.brand, threshold=Decimal("1"), active=True)
    api = APIClient()
    api.raise_request_exception = False
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key.secret}")
    body = {"event_id": "e1", "user_id": "u1", "action": "workout_completed"}
    api.post("/api/v1/events", {**body, "event_id": "e0", "user_id": "u0"}, format="json")  # the month's row

    with other_connection() as other:
        other.execute(f"SELECT 1 FROM {BrandSpend._meta.db_table} WHERE brand_id = %s FOR UPDATE", [key.brand_id])
        response = api.post("/api/v1/events", body, format="json")
        other.rollback()

    assert response.status_code == 503 and response["Retry-After"] == "1"
    assert response.json()["error"] == {
        "type": "api_error",
        "code": "busy",
        "message": "Too busy to take this right now; try again in a second.",
    }
    assert api.post("/api/v1/events", body, format="json").status_code == 201  # nothing was kept: a new event


def test_a_claim_that_waits_past_the_lock_timeout_is_refused_with_a_message_not_a_500(settings):
    settings.MONEY_LOCK_TIMEOUT_MS = 300
    brand = BrandFactory()
    item = CatalogItemFactory(kind="credit")
    campaign = CampaignFactory(brand=brand, threshold=Decimal("1"), rewards=[item.sku], active=True)
    moment = Moment.objects.get(pk=earn(brand, campaign, "u").body["moments"][0]["id"])
    user = UserFactory()
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)

    with other_connection() as other:
        other.execute(f"SELECT 1 FROM {Moment._meta.db_table} WHERE id = %s FOR UPDATE", [moment.pk])
        with pytest.raises(orders.Refused, match="try again"):
            storefront_services.claim_confirm(user=user, moment=moment, item=item)
        other.rollback()

    order = storefront_services.claim_confirm(user=user, moment=moment, item=item)  # free again: it goes through
    assert order.moment_id == moment.pk
