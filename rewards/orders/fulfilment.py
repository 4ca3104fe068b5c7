"""Fulfilment providers: one small interface, one provider per kind of catalog item.

A provider's `fulfil(order)` is idempotent: it may run again after a retry or a worker's death
and must have its effect once (a unique row, a conditional UPDATE).
"""

from contextlib import contextmanager
from datetime import timedelta

import httpx
from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.core.mail import mail_admins
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_noop

from rewards.catalog.models import CatalogItem, DigitalCode
from rewards.fields import Mode
from rewards.ledger.locks import lock_money
from rewards.moments.models import Donation
from rewards.orders import moves as order_moves
from rewards.orders.models import Order
from rewards.wallets import services as wallets
from tenants.scoping import in_row_scope

# Notes the customer reads in the order's timeline: stored in English, shown in the customer's
# language ({% translate event.note %}); the operator's alert carries the technical detail.
NOTE_REFUSED = gettext_noop("The fulfilment service could not take this order. Our team has been told.")
NOTE_TEST_MODE = gettext_noop("test mode")
NOTE_TEST_SHIPPED = gettext_noop("test mode: shipped by the simulation, nothing was sent")
NOTE_TEST_DELIVERED = gettext_noop("test mode: delivered by the simulation")
TEST_CARRIER = "Moments Test Carrier"


class NotYet(Exception):
    """The order cannot be fulfilled now (e.g. the code pool is empty); it stays placed."""


def alert_operators(key: str, subject: str, message: str) -> None:
    """Email the operator (settings.ADMINS), at most once a day per key, after commit."""

    def send():
        if cache.add(f"operator-alert:{key}", 1, timeout=24 * 3600):
            mail_admins(subject, message)

    transaction.on_commit(send)


@contextmanager
def still_placed(order: Order):
    """Hold the order's row while its effect is applied, in one transaction with the move to
    fulfilled: an operator cancelling at that moment waits and then finds it fulfilled, and an
    order cancelled first gets no effect at all."""
    with transaction.atomic():
        lock_money(brand_id=order.brand_id, rows=order_moves.order_rows(order))
        yield Order.objects.filter(pk=order.pk, status=Order.Status.PLACED).exists()


class WalletCredit:
    """Credit into the wallet of the order's mode; `note` on the timeline (test mode's says so)."""

    def __init__(self, note: str = ""):
        self.note = note

    def fulfil(self, order: Order) -> None:
        with still_placed(order) as placed:
            if placed:
                wallets.wallet_credit(order=order, amount=order.item.value)
                order_moves.order_move(order=order, to=Order.Status.FULFILLED, note=self.note)


class CharityDonation:
    def fulfil(self, order: Order) -> None:
        with still_placed(order) as placed:
            if placed:
                Donation.objects.get_or_create(
                    moment_id=order.moment_id,
                    defaults={
                        "brand_id": order.brand_id,
                        "charity_id": order.item.charity_id,
                        "amount": order.item.value,
                    },
                )
                order_moves.order_move(order=order, to=Order.Status.FULFILLED)


class CodePool:
    def fulfil(self, order: Order) -> None:
        with still_placed(order) as placed:
            if not placed:
                return
            code = DigitalCode.objects.filter(order=order).first() or self._allocate(order)
            if code is not None:
                order_moves.order_move(order=order, to=Order.Status.FULFILLED, digital_code=code.code)
                return
        # Outside the transaction that found nothing, or the alert would be rolled back with it.
        alert_operators(
            f"codes-empty-{order.item.sku}",
            f"No codes left for {order.item.sku}",
            f"Orders of {order.item.name} wait for codes: import more in the console.",
        )
        raise NotYet(f"no free code for {order.item.sku}")

    def _allocate(self, order: Order) -> DigitalCode | None:
        # SKIP LOCKED: two orders taking codes at once take different ones without waiting.
        code = (
            DigitalCode.objects.select_for_update(skip_locked=True)
            .filter(item_id=order.item_id, order__isnull=True)
            .order_by("created_at")
            .first()
        )
        if code is None:
            return None
        DigitalCode.objects.filter(pk=code.pk).update(order=order, allocated_at=timezone.now())
        left = DigitalCode.objects.filter(item_id=order.item_id, order__isnull=True).count()
        if left < settings.CODE_POOL_LOW_WATER:
            alert_operators(
                f"codes-low-{order.item.sku}",
                f"{left} codes left for {order.item.sku}",
                f"The pool of {order.item.name} is running low: import more in the console.",
            )
        return code


class Warehouse:
    """Physical goods: stock was reserved when the order was placed; the operator ships it from
    the pick list and marks it shipped with a carrier and a tracking number."""

    def fulfil(self, order: Order) -> None:
        return None


class LeaseHeld(Exception):
    """Another worker is calling the outside service for this order (or died doing so): try again
    when its lease ends."""

    def __init__(self, until):
        super().__init__(f"leased until {until.isoformat()}")
        self.until = until


class ProviderUnavailable(Exception):
    """A timeout or a 5xx: try again later (the task retries with backoff, the sweeper after that).
    `maybe_done`: the request may have reached the service, which may be acting on it."""

    def __init__(self, message: str, *, maybe_done: bool = True):
        super().__init__(message)
        self.maybe_done = maybe_done


class ExternalService:
    """An outside fulfilment service over HTTP. The order's id is the Idempotency-Key, so a retry
    after a timeout (the service may have done it) has one effect. A 4xx is final: the order fails
    and the operator is told.

    No transaction is open and no row locked during the call: the order is first claimed with a
    lease (`provider_lease_until`, a conditional UPDATE, committed), then the service is called,
    then the result recorded, if the lease is still this call's. The field stays set until the
    service has given a definite answer (a 2xx or a 4xx) or was never reached: while it is set the
    operator cannot cancel the order, since the service may be shipping it. Once the lease time has
    passed (at once after a timeout or a 5xx, or when a worker died mid-call), a retry may claim it.
    """

    def fulfil(self, order: Order) -> None:
        now = timezone.now()
        lease_until = now + timedelta(seconds=settings.FULFILMENT_LEASE_SECONDS)
        claimed = (
            Order.objects.filter(pk=order.pk, status=Order.Status.PLACED)
            .filter(Q(provider_lease_until__isnull=True) | Q(provider_lease_until__lte=now))
            .update(provider_lease_until=lease_until)
        )
        if not claimed:
            held = Order.objects.filter(pk=order.pk).values_list("provider_lease_until", flat=True).first()
            raise LeaseHeld(held or timezone.now())
        ours = Order.objects.filter(pk=order.pk, provider_lease_until=lease_until)
        try:
            response = self._call(order)
        except ProviderUnavailable as unavailable:
            # Never reached: nobody acts on it. Maybe reached: a retry may claim it now, a cancel may not.
            ours.update(provider_lease_until=timezone.now() if unavailable.maybe_done else None)
            raise
        if response.status_code >= 400:
            if self._record(order, lease_until, to=Order.Status.FAILED, note=NOTE_REFUSED):
                refusal = f"fulfilment service refused: HTTP {response.status_code}"
                alert_operators(
                    f"external-failed-{order.pk}", f"Order {order.pk} failed", f"{order.item.sku}: {refusal}"
                )
            return
        result = response.json() if response.content else {}
        if result.get("tracking_number"):
            self._record(
                order,
                lease_until,
                to=Order.Status.SHIPPED,
                carrier=str(result.get("carrier", ""))[:60],
                tracking_number=str(result["tracking_number"])[:80],
            )
        else:
            fields = {"digital_code": str(result["code"])[:200]} if result.get("code") else {}
            self._record(order, lease_until, to=Order.Status.FULFILLED, **fields)

    def _record(self, order: Order, lease_until, *, to: str, note: str = "", **fields) -> bool:
        """The service's answer, applied only while the lease is still this call's (locked in the
        money order); an answer that comes back after the lease was lost is told to the operator."""
        with transaction.atomic():
            lock_money(brand_id=order.brand_id, rows=order_moves.order_rows(order))
            if Order.objects.filter(pk=order.pk, provider_lease_until=lease_until).exists():
                return order_moves.order_move(order=order, to=to, note=note, provider_lease_until=None, **fields)
        alert_operators(
            f"external-late-{order.pk}",
            f"Order {order.pk}: the fulfilment service answered after its lease ended",
            f"{order.item.sku}: the service answered '{to}' for an order another attempt had taken over. Check it.",
        )
        return False

    def _call(self, order: Order) -> httpx.Response:
        """The HTTP call; a timeout, a lost connection or a 5xx is ProviderUnavailable."""
        payload = {
            "order": str(order.pk),
            "sku": order.item.sku,
            "quantity": 1,
            "shipping_address": order.shipping_address,
            "email": order.user.email if order.user_id else None,
        }
        headers = {"Idempotency-Key": str(order.pk)}
        if settings.FULFILMENT_SERVICE_TOKEN:
            headers["Authorization"] = f"Bearer {settings.FULFILMENT_SERVICE_TOKEN}"
        try:
            response = httpx.post(
                order.item.fulfilment_url, json=payload, headers=headers, timeout=httpx.Timeout(15.0, connect=5.0)
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise ProviderUnavailable(f"{order.item.sku}: {type(exc).__name__}", maybe_done=False) from exc
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            raise ProviderUnavailable(f"{order.item.sku}: {type(exc).__name__}") from exc
        if response.status_code >= 500:  # a gateway's 502/504 may hide a service that did it
            raise ProviderUnavailable(f"{order.item.sku}: HTTP {response.status_code}")
        return response


class Simulation:
    """Test-mode orders, simulated end to end and touching no stock, pool or charity: credit goes to
    the account's test wallet (the store's test mode spends it), a parcel is "shipped" by a test
    carrier with a tracking number and then delivered, a code is a TEST- code, a donation is done."""

    def fulfil(self, order: Order) -> None:
        kind = order.item.kind
        if kind == CatalogItem.Kind.CREDIT:
            WalletCredit(note=NOTE_TEST_MODE).fulfil(order)
            return
        if kind == CatalogItem.Kind.PHYSICAL:
            tracking = f"TEST{order.pk.hex[:12].upper()}"
            order_moves.order_move(
                order=order,
                to=Order.Status.SHIPPED,
                note=NOTE_TEST_SHIPPED,
                carrier=TEST_CARRIER,
                tracking_number=tracking,
            )
            order_moves.order_move(order=order, to=Order.Status.FULFILLED, note=NOTE_TEST_DELIVERED)
            return
        fields = {"digital_code": f"TEST-{str(order.pk)[:8].upper()}"} if kind == CatalogItem.Kind.DIGITAL_CODE else {}
        order_moves.order_move(order=order, to=Order.Status.FULFILLED, note=NOTE_TEST_MODE, **fields)


# By the name `order_moves.provider_name` gives an order (its metrics' label).
PROVIDERS = {
    "wallet": WalletCredit(),
    "donation": CharityDonation(),
    "code_pool": CodePool(),
    "warehouse": Warehouse(),
    "external": ExternalService(),
    "simulation": Simulation(),
}


def provider_for(order: Order):
    return PROVIDERS[order_moves.provider_name(order)]


STALE_AFTER = timedelta(minutes=5)


def stale_orders(limit: int = 500) -> list[str]:
    """Placed orders older than a few minutes that a provider fulfils by itself (not the parcels
    the operator ships from the warehouse; those an outside service ships, yes)."""
    cutoff = timezone.now() - STALE_AFTER
    parcels = Q(item__kind=CatalogItem.Kind.PHYSICAL, item__fulfilment_url="", mode=Mode.LIVE)
    orders = Order.objects.filter(status=Order.Status.PLACED, created_at__lte=cutoff).exclude(parcels)
    return [str(pk) for pk in orders.order_by("created_at").values_list("pk", flat=True)[:limit]]


@shared_task(
    name="rewards.tasks.fulfil_order",  # its name before it moved here: queued messages still find it
    bind=True,
    autoretry_for=(OSError, ProviderUnavailable),
    retry_backoff=True,  # 1 s, 2 s, 4 s … up to 10 min, with jitter
    retry_jitter=True,
    max_retries=10,
)
def fulfil_order(self, order_id: str) -> None:
    """Fulfil a placed order through its item's provider; safe to run twice."""
    try:
        in_row_scope(Order, order_id, fulfil, order_id=order_id)
    except LeaseHeld as held:
        raise self.retry(countdown=max(1, (held.until - timezone.now()).total_seconds() + 1)) from held


def fulfil(*, order_id) -> None:
    """Fulfil the order if it is still placed (fulfilled, shipped or cancelled ones are left); an
    empty code pool leaves it placed, for the sweeper once the operator refills the pool."""
    order = Order.objects.select_related("item", "moment").filter(pk=order_id, status=Order.Status.PLACED).first()
    if order is None:
        return
    try:
        provider_for(order).fulfil(order)
    except NotYet:
        return
