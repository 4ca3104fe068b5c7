"""An order's moves from one status to the next, and what each tells: the timeline the customer
reads, the email when a code is ready or a parcel ships, the brand's `order.fulfilled` webhook."""

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

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


def order_move(*, order: Order, to: str, note: str = "", **fields) -> bool:
    """Move an order to a new status once (conditional UPDATE), with a timeline entry."""
    allowed_from = {
        Order.Status.FULFILLED: {Order.Status.PLACED, Order.Status.SHIPPED},
        Order.Status.SHIPPED: {Order.Status.PLACED},
        Order.Status.FAILED: {Order.Status.PLACED},
        Order.Status.CANCELLED: {Order.Status.PLACED, Order.Status.FAILED},
    }[to]
    with transaction.atomic():
        # The order's moment moves with it: both locked in the one order (rewards/ledger/locks.py).
        lock_money(brand_id=order.brand_id, rows=order_rows(order))
        moved = Order.objects.filter(pk=order.pk, status__in=allowed_from).update(
            status=to, updated_at=timezone.now(), **fields
        )
        if moved:
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
