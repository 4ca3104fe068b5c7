"""The beat's tasks of the rewards domain: thin, idempotent, acknowledged late (config/settings.py).
Tasks that act on one row live beside the code they run: `fulfilment.fulfil_order`,
`webhooks.deliver_webhook`, `order_moves.send_order_update`."""

from celery import shared_task

from rewards import campaigns, fulfilment, ledger, moments, webhooks


@shared_task
def send_due_webhooks() -> int:
    """Beat, every few seconds: send the deliveries whose next attempt is due."""
    due = webhooks.due_deliveries()
    for delivery_id in due:
        webhooks.deliver_webhook.delay(delivery_id)
    return len(due)


@shared_task
def expire_moments() -> int:
    return moments.moments_expire()


@shared_task
def end_campaigns() -> int:
    return campaigns.campaigns_end_due()


@shared_task
def month_roll() -> int:
    return ledger.month_roll()


@shared_task
def sweep_orders() -> int:
    """Orders placed minutes ago and still not fulfilled lost their task (a broker outage, a commit
    whose enqueue failed): queue them again. Fulfilment is idempotent, so a slow one is harmless."""
    stale = fulfilment.stale_orders()
    for order_id in stale:
        fulfilment.fulfil_order.delay(order_id)
    return len(stale)
