"""Orders on their way to end users, their timeline, the brands' reward-store items and the donations made."""

import uuid
from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from uuid6 import uuid7

from rewards.fields import MONEY, Mode
from tenants.models import BrandOwned
from tenants.scoping import scoped_manager


class StoreItem(BrandOwned):
    """An item of a brand's reward store, priced in that brand's credit, fulfilled from the catalog."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    item = models.ForeignKey("rewards.CatalogItem", on_delete=models.PROTECT, related_name="+")
    price = models.DecimalField(_("price (credit)"), validators=[MinValueValidator(Decimal("0.01"))], **MONEY)
    active = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        db_table = "storefront_storeitem"  # made in storefront; moved here with its data (migration 0006)
        ordering = ["position", "price"]
        constraints = [models.UniqueConstraint(fields=["brand", "item"], name="store_item_once_per_brand")]

    def __str__(self):
        return f"{self.item.name} ({self.price} credit)"


class Order(BrandOwned):
    """A reward on its way to an end user: from a claimed moment or bought in a reward store."""

    secret_fields = frozenset({"digital_code"})  # the end user's: never filterable in the admin

    class Status(models.TextChoices):
        PLACED = "placed", _("placed")
        SHIPPED = "shipped", _("shipped")
        FULFILLED = "fulfilled", _("fulfilled")
        FAILED = "failed", _("failed")
        CANCELLED = "cancelled", _("cancelled")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # A test order (a test moment's, or bought with test credit) is fulfilled by simulation only.
    mode = models.CharField(max_length=4, choices=Mode.choices, default=Mode.LIVE, editable=False)
    # Kept for the brand's accounts when an account is deleted.
    user = models.ForeignKey("tenants.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="orders")
    moment = models.OneToOneField(
        "rewards.Moment", null=True, blank=True, on_delete=models.PROTECT, related_name="order"
    )
    store_item = models.ForeignKey(StoreItem, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    item = models.ForeignKey("rewards.CatalogItem", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PLACED)
    shipping_address = models.JSONField(null=True, blank=True)
    shipping_fee = models.DecimalField(_("shipping fee billed to the brand (USD)"), default=Decimal("0.00"), **MONEY)
    credit_spent = models.DecimalField(default=Decimal("0.00"), **MONEY)
    carrier = models.CharField(max_length=60, blank=True)
    tracking_number = models.CharField(max_length=80, blank=True)
    digital_code = models.CharField(max_length=200, blank=True, editable=False)
    # Set while an outside fulfilment service is being called for this order (claimed, committed,
    # then called): nobody cancels it meanwhile, and a worker that died mid-call leaves it to expire.
    provider_lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "storefront_order"  # made in storefront; moved here with its data (migration 0006)
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(moment__isnull=False) | models.Q(store_item__isnull=False),
                name="order_from_moment_or_store",
            )
        ]

    def __str__(self):
        # Never who it is for: the name shows in the brand's console, its autocomplete and its log.
        return f"{self.item.name}, order {self.pk}"


class OrderEvent(models.Model):
    """The order's timeline, as the end user sees it."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    status = models.CharField(max_length=10, choices=Order.Status.choices)
    note = models.CharField(max_length=240, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    objects = scoped_manager(brand_path="order__brand")  # the order's brand's, like the order

    class Meta:
        db_table = "storefront_orderevent"  # made in storefront; moved here with its data (migration 0006)
        ordering = ["at"]

    def __str__(self):
        return f"{self.get_status_display()} at {self.at:%Y-%m-%d %H:%M}"
