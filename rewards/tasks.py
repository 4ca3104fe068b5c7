"""Celery tasks of the rewards domain: thin, idempotent, acknowledged late (config/settings.py)."""

from celery import shared_task
from django.utils import timezone

from rewards import fulfilment, services, webhooks
from storefront.models import Order

RETRY = {
    "autoretry_for": (OSError, fulfilment.ProviderUnavailable),
    "retry_backoff": True,  # 1 s, 2 s, 4 s … up to 10 min, with jitter
    "retry_jitter": True,
    "max_retries": 10,
}


@shared_task(bind=True, **RETRY)
def fulfil_order(self, order_id: str) -> None:
    """Fulfil a placed order through its item's provider; safe to run twice."""
    order = Order.objects.select_related("item", "moment").filter(pk=order_id, status=Order.Status.PLACED).first()
    if order is None:
        return  # fulfilled, shipped or cancelled already
    try:
        fulfilment.provider_for(order).fulfil(order)
    except fulfilment.NotYet:
        return  # stays placed; the operator refills the pool and the sweeper retries
    except fulfilment.LeaseHeld as held:
        raise self.retry(countdown=max(1, (held.until - timezone.now()).total_seconds() + 1)) from held


@shared_task
def send_due_webhooks() -> int:
    """Beat, every few seconds: send the deliveries whose next attempt is due."""
    due = webhooks.due_deliveries()
    for delivery_id in due:
        webhooks.deliver_webhook.delay(delivery_id)
    return len(due)


@shared_task
def expire_moments() -> int:
    return services.moments_expire()


@shared_task
def end_campaigns() -> int:
    return services.campaigns_end_due()


@shared_task
def month_roll() -> int:
    return services.month_roll()


@shared_task
def sweep_orders() -> int:
    """Orders placed minutes ago and still not fulfilled lost their task (a broker outage, a commit
    whose enqueue failed): queue them again. Fulfilment is idempotent, so a slow one is harmless."""
    stale = fulfilment.stale_orders()
    for order_id in stale:
        fulfil_order.delay(order_id)
    return len(stale)
