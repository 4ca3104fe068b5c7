from celery import shared_task

from rewards import fulfilment
from storefront.models import Order


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, retry_jitter=True, max_retries=10)
def fulfil_order(order_id: str) -> None:
    """Fulfil a placed order through its item's provider; safe to run twice."""
    order = Order.objects.select_related("item", "moment").filter(pk=order_id, status=Order.Status.PLACED).first()
    if order is None:
        return  # fulfilled, shipped or cancelled already
    try:
        fulfilment.provider_for(order).fulfil(order)
    except fulfilment.NotYet:
        return  # stays placed; the operator refills the pool and the sweeper retries
