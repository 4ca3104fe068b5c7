"""Reads of orders and reward stores shared by the storefront and the reports."""

from rewards.orders.models import StoreItem


def store_items_on_sale(brand):
    """What the brand's reward store sells now: its active items whose catalog item is active."""
    return StoreItem.objects.filter(brand=brand).filter(active=True, item__active=True)
