"""An order's moves from one status to the next, and what each tells: the timeline the customer
reads, the email when a code is ready or a parcel ships, the brand's `order.fulfilled` webhook."""

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from config import metrics
from config.emails import send_in_language
from rewards.catalog.models import CatalogItem
from rewards.fields import Mode
from rewards.ledger.locks import lock_money
from rewards.moments.models import Moment
from rewards.orders.models import Order, OrderEvent
from rewards.webhooks import services as webhooks
from tenants.scoping import in_row_scope


def order_rows(order) -> list:
    """The rows an order's money paths lock (rewards/ledger/locks.py): its moment, if any, and itself."""
    rows = [Order.objects.filter(pk=order.pk)]
    if order.moment_id:
        rows.append(Moment.objects.filter(pk=order.moment_id))
    return rows


def provider_name(order: Order) -> str:
    """The fulfilment provider an order goes through (`fulfilment.provider_for`), by name."""
    if order.mode == Mode.TEST:
        return "simulation"
    if order.item.fulfilment_url:
        return "external"
    return {
        CatalogItem.Kind.CREDIT: "wallet",
        CatalogItem.Kind.DONATION: "donation",
        CatalogItem.Kind.DIGITAL_CODE: "code_pool",
        CatalogItem.Kind.PHYSICAL: "warehouse",
    }[order.item.kind]


def order_counted(order: Order, state: str, *, sent_after=None) -> None:
    """Count the order's move into `state` by its provider when the transaction commits, and how
    long it took to be sent (`sent_after`, a timedelta) when this move sent it (config/metrics.py)."""
    provider = provider_name(order)

    def count():
        metrics.ORDERS.labels(provider, state).inc()
        if sent_after is not None:
            metrics.ORDER_FULFILMENT_SECONDS.labels(provider).observe(max(sent_after.total_seconds(), 0.0))

    transaction.on_commit(count)


def order_move(*, order: Order, to: str, note: str = "", **fields) -> bool:
    """Move an order to a new status once (conditional UPDATE), with a timeline entry."""
    # The statuses it may come from, placed first: the first UPDATE that moves it says where it
    # came from (one UPDATE but for a delivered parcel or a failed order's cancel).
    allowed_from = {
        Order.Status.FULFILLED: [Order.Status.PLACED, Order.Status.SHIPPED],
        Order.Status.SHIPPED: [Order.Status.PLACED],
        Order.Status.FAILED: [Order.Status.PLACED],
        Order.Status.CANCELLED: [Order.Status.PLACED, Order.Status.FAILED],
    }[to]
    with transaction.atomic():
        # The order's moment moves with it: both locked in the one order (rewards/ledger/locks.py).
        lock_money(brand_id=order.brand_id, rows=order_rows(order))
        moved, now = None, timezone.now()
        for status in allowed_from:
            if Order.objects.filter(pk=order.pk, status=status).update(status=to, updated_at=now, **fields):
                moved = status
                break
        if moved:
            sent = moved == Order.Status.PLACED and to in {Order.Status.SHIPPED, Order.Status.FULFILLED}
            order_counted(order, to, sent_after=now - order.created_at if sent else None)
            for name, value in fields.items():  # what the timeline, emails and webhook read next
                setattr(order, name, value)
            OrderEvent.objects.create(order=order, status=to, note=note)
            # The customer is told of a real parcel or code only: a test order's says so on its page.
            if order.mode == Mode.LIVE and (
                to == Order.Status.SHIPPED
                or (to == Order.Status.FULFILLED and order.item.kind == CatalogItem.Kind.DIGITAL_CODE)
            ):
                send_order_update.delay(str(order.pk))
            if to in {Order.Status.FULFILLED, Order.Status.SHIPPED}:
                _announce_fulfilled(order, to)
            if order.moment_id and to in {Order.Status.FULFILLED, Order.Status.SHIPPED}:
                Moment.objects.filter(pk=order.moment_id, status=Moment.Status.CLAIMED).update(
                    status=Moment.Status.FULFILLED, fulfilled_at=timezone.now()
                )
    return bool(moved)


def _announce_fulfilled(order: Order, status: str) -> None:
    moment = order.moment
    webhooks.emit(
        brand=order.brand,
        mode=order.mode,  # a store order's is its credit's (a test wallet's: test)
        event_type="order.fulfilled",
        data={
            "order": str(order.pk),
            "moment": str(moment.pk) if moment else None,
            "campaign": moment.campaign.slug if moment else None,
            "user_id": moment.user_id if moment else None,
            "reward": order.item.sku,
            "status": status,
            "mode": order.mode,
            # A test parcel's made-up carrier, so that a developer sees the simulation ship it; a real
            # parcel's tracking number leads to where the customer lives and stays with the platform.
            **({"simulated_carrier": order.carrier} if order.mode == Mode.TEST and order.carrier else {}),
        },
    )


@shared_task(
    name="storefront.tasks.send_order_update",  # its name before it moved here: queued messages still find it
    acks_late=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=8,
)
def send_order_update(order_id: str) -> None:
    """Tell the end user their code is ready or their parcel has left."""
    in_row_scope(Order, order_id, order_update_notify, order_id=order_id)


def order_update_notify(*, order_id) -> None:
    """Email the order's account that its code is ready or its parcel has left. Never puts the code
    itself in the email: it links to the order page, behind the sign-in."""
    order = Order.objects.select_related("brand", "item", "user").filter(pk=order_id).first()
    if order is None or order.user is None:
        return
    context = {"order": order, "order_url": settings.SITE_URL + reverse("storefront:order", args=[order.pk])}
    send_in_language(template="order_update", context=context, language=order.user.language, to=order.user.email)
