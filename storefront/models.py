"""The end user's side: links to brands' user ids, addresses, orders, wallets and reward stores."""

import uuid
from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_countries.fields import CountryField
from uuid6 import uuid7

from rewards.models import MONEY, CatalogItem, Moment
from tenants.models import BrandOwned, validate_plain_text


class BrandLink(BrandOwned):
    """This platform account is that brand's user: set by the first claim, one to one per brand."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="brand_links")
    brand_user_id = models.CharField(max_length=128)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["brand__name"]
        constraints = [
            models.UniqueConstraint(fields=["brand", "brand_user_id"], name="brand_user_linked_once"),
            models.UniqueConstraint(fields=["brand", "user"], name="account_linked_once_per_brand"),
        ]

    def __str__(self):
        return f"{self.brand} user {self.brand_user_id}"


class Address(models.Model):
    """A shipping address in an account's address book."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="addresses")
    full_name = models.CharField(_("full name"), max_length=120, validators=[validate_plain_text])
    line1 = models.CharField(_("address"), max_length=200, validators=[validate_plain_text])
    line2 = models.CharField(_("address, line 2"), max_length=200, blank=True, validators=[validate_plain_text])
    city = models.CharField(_("city"), max_length=100, validators=[validate_plain_text])
    region = models.CharField(
        _("state, province or region"), max_length=100, blank=True, validators=[validate_plain_text]
    )
    postal_code = models.CharField(_("postal code"), max_length=20, blank=True, validators=[validate_plain_text])
    country = CountryField(_("country"))
    phone = models.CharField(_("phone"), max_length=32, blank=True, validators=[validate_plain_text])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = _("addresses")

    def __str__(self):
        # No name, street or phone in an object's name; the person's own pages show `one_line`.
        return f"Address {self.pk} ({self.country.code})"

    @property
    def one_line(self) -> str:
        """The address as its owner sees it in their address book and at checkout."""
        return ", ".join(part for part in [self.full_name, self.line1, self.city, self.country.name] if part)

    def snapshot(self) -> dict:
        """The address as it was when an order was placed: later edits do not move parcels."""
        return {
            "full_name": self.full_name,
            "line1": self.line1,
            "line2": self.line2,
            "city": self.city,
            "region": self.region,
            "postal_code": self.postal_code,
            "country": self.country.code,
            "phone": self.phone,
        }


class StoreItem(BrandOwned):
    """An item of a brand's reward store, priced in that brand's credit, fulfilled from the catalog."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    item = models.ForeignKey(CatalogItem, on_delete=models.PROTECT, related_name="+")
    price = models.DecimalField(_("price (credit)"), validators=[MinValueValidator(Decimal("0.01"))], **MONEY)
    active = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
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
    # Kept for the brand's accounts when an account is deleted.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="orders"
    )
    moment = models.OneToOneField(Moment, null=True, blank=True, on_delete=models.PROTECT, related_name="order")
    store_item = models.ForeignKey(StoreItem, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    item = models.ForeignKey(CatalogItem, on_delete=models.PROTECT, related_name="+")
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

    class Meta:
        ordering = ["at"]

    def __str__(self):
        return f"{self.get_status_display()} at {self.at:%Y-%m-%d %H:%M}"


class Wallet(BrandOwned):
    """An account's credit in one brand's reward store; `balance` is the sum of its entries,
    moved only together with an entry, and never below zero (a conditional UPDATE)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="wallets")
    balance = models.DecimalField(default=Decimal("0.00"), **MONEY)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["brand", "user"], name="wallet_one_per_brand"),
            models.CheckConstraint(condition=models.Q(balance__gte=0), name="wallet_never_negative"),
        ]

    def __str__(self):
        return f"Wallet {self.pk} at {self.brand}: {self.balance}"


class WalletEntry(BrandOwned):
    class Kind(models.TextChoices):
        REWARD = "reward", _("reward credit")
        PURCHASE = "purchase", _("store purchase")
        REFUND = "refund", _("refund")

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    wallet = models.ForeignKey(Wallet, on_delete=models.CASCADE, related_name="entries")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    amount = models.DecimalField(**MONEY)
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.PROTECT, related_name="wallet_entries")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = _("wallet entries")
        constraints = [
            # One reward credit per order: a retried fulfilment cannot credit twice.
            models.UniqueConstraint(
                fields=["order"], condition=models.Q(kind="reward"), name="wallet_reward_once_per_order"
            )
        ]
