"""Reads of webhook deliveries."""

from rewards.webhooks.models import WebhookDelivery


def deliveries_of(*, brand, mode: str, status: str | None = None):
    """The brand's deliveries in one mode (test and live are apart), newest first; of one status if given."""
    deliveries = WebhookDelivery.objects.filter(brand=brand, mode=mode)
    if status:
        deliveries = deliveries.filter(status=status)
    return deliveries.order_by("-created_at", "-id")
