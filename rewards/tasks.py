"""The beat's tasks of the rewards domain: thin, idempotent, acknowledged late (config/settings.py).
Tasks that act on one row live beside the code they run: `fulfilment.fulfil_order`,
`webhooks.deliver_webhook`, `order_moves.send_order_update`."""

from celery import shared_task

from rewards.campaigns import services as campaigns
from rewards.moments import services as moments
from rewards.orders import fulfilment
from rewards.reports import services as reports
from rewards.webhooks import services as webhooks
from tenants.scoping import across_brands


@shared_task
def send_due_webhooks() -> int:
    """Beat, every few seconds: send the deliveries whose next attempt is due, every brand's."""
    with across_brands():
        due = webhooks.due_deliveries()
    for delivery_id in due:
        webhooks.deliver_webhook.delay(delivery_id)
    return len(due)


@shared_task
def expire_moments() -> int:
    """Every brand's moments past their claim window."""
    with across_brands():
        return moments.moments_expire()


@shared_task
def end_campaigns() -> int:
    """Every brand's campaigns past their end."""
    with across_brands():
        return campaigns.campaigns_end_due()


@shared_task
def month_roll() -> int:
    """Every brand's counters for the new month."""
    with across_brands():
        return campaigns.month_roll()


@shared_task
def sweep_orders() -> int:
    """Orders placed minutes ago and still not fulfilled lost their task (a broker outage, a commit
    whose enqueue failed): queue them again. Fulfilment is idempotent, so a slow one is harmless."""
    with across_brands():
        stale = fulfilment.stale_orders()
    for order_id in stale:
        fulfilment.fulfil_order.delay(order_id)
    return len(stale)


@shared_task
def send_cap_alerts() -> int:
    """Hourly: tell owners a cap is near or reached, once each (every brand, each in its scope)."""
    return reports.cap_alerts_send()
