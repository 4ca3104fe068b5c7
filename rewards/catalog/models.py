"""The platform's catalog and its rules: the policy every brand works under, charities, items, their
stock ledger and code pools."""

import uuid
from decimal import Decimal

from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_countries.fields import CountryField
from uuid6 import uuid7

from rewards.fields import MONEY
from tenants.models import validate_plain_text

PLATFORM_EXCLUDED_COUNTRIES = ["ZA", "AL", "SA", "RU", "CH"]

sku_validator = RegexValidator(r"^[A-Z0-9][A-Z0-9-]{1,47}\Z", _("Use capitals, digits and hyphens, e.g. GC-10-USD."))


class PlatformPolicy(models.Model):
    """The operator's rules for every brand (DESIGN.md §3); one row, edited in the admin."""

    min_cpa = models.DecimalField(_("minimum CPA (USD)"), default=Decimal("3.00"), **MONEY)
    max_campaign_budget = models.DecimalField(
        _("largest monthly campaign budget (USD)"), default=Decimal("5000.00"), **MONEY
    )
    excluded_countries = CountryField(
        multiple=True,
        blank=True,
        default=PLATFORM_EXCLUDED_COUNTRIES,
        help_text=_("Where end users can earn nothing, whatever the campaign says."),
    )
    # Shipping a physical reward may cost the brand a fee (never the end user): none for members of
    # the free-shipping programme, none for items worth at least `free_shipping_from`.
    shipping_fee = models.DecimalField(_("shipping fee (USD)"), default=Decimal("4.99"), **MONEY)
    free_shipping_from = models.DecimalField(
        _("free shipping from item value (USD)"), default=Decimal("35.00"), **MONEY
    )

    class Meta:
        verbose_name = _("platform policy")
        verbose_name_plural = _("platform policy")

    def __str__(self):
        return str(_("Platform policy"))


class Charity(models.Model):
    platform_wide = True  # the operator's, offered to every brand (tenants.admin_scoping)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=120, unique=True, validators=[validate_plain_text])
    website = models.URLField(blank=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = _("charities")

    def __str__(self):
        return self.name


class CatalogItem(models.Model):
    """A reward the platform stocks and fulfils; brands choose from the catalog, never add to it."""

    platform_wide = True  # the operator's, offered to every brand (tenants.admin_scoping)

    class Kind(models.TextChoices):
        PHYSICAL = "physical", _("physical item")
        DIGITAL_CODE = "digital_code", _("digital code")
        CREDIT = "credit", _("store credit")
        DONATION = "donation", _("charity donation")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    sku = models.CharField(max_length=48, unique=True, validators=[sku_validator])
    name = models.CharField(max_length=120, validators=[validate_plain_text])
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    value = models.DecimalField(_("face value (USD)"), validators=[MinValueValidator(Decimal("0.01"))], **MONEY)
    cost = models.DecimalField(_("platform's cost (USD)"), validators=[MinValueValidator(Decimal("0.00"))], **MONEY)
    image = models.ImageField(upload_to="catalog/", blank=True)
    countries = CountryField(
        multiple=True, blank=True, help_text=_("Where it can be delivered; none chosen means everywhere.")
    )
    # Moved only by the stock functions of rewards.catalog.services, each leaving a StockMovement line.
    stock = models.PositiveIntegerField(null=True, blank=True, help_text=_("Physical items only: units on hand."))
    charity = models.ForeignKey(Charity, null=True, blank=True, on_delete=models.PROTECT, related_name="items")
    fulfilment_url = models.URLField(
        blank=True,
        help_text=_("Fulfilled by an external service: its order endpoint. Empty: the platform's own provider."),
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sku"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind="physical", stock__isnull=False) | ~models.Q(kind="physical"),
                name="catalog_physical_has_stock",
                violation_error_message=_("A physical item needs a stock count."),
            ),
            models.CheckConstraint(
                condition=models.Q(kind="donation", charity__isnull=False) | ~models.Q(kind="donation"),
                name="catalog_donation_has_charity",
                violation_error_message=_("A donation needs a charity."),
            ),
        ]

    def __str__(self):
        return f"{self.sku} — {self.name}"

    @property
    def needs_nothing_from_the_user(self):
        return self.kind == self.Kind.DONATION


class StockMovement(models.Model):
    """The stock ledger of a physical item: every change of `CatalogItem.stock`, with its reason.
    An item's stock is the sum of its movements."""

    platform_wide = True

    class Reason(models.TextChoices):
        OPENING = "opening", _("opening count")
        RECEIVED = "received", _("received from a supplier")
        CORRECTION = "correction", _("stock count correction")
        DAMAGED = "damaged", _("damaged or lost")
        ORDER = "order", _("reserved by an order")
        ORDER_CANCELLED = "order_cancelled", _("returned by a cancelled order")

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    item = models.ForeignKey(CatalogItem, on_delete=models.PROTECT, related_name="stock_movements")
    change = models.IntegerField()
    stock_after = models.PositiveIntegerField()
    reason = models.CharField(max_length=16, choices=Reason.choices)
    note = models.CharField(max_length=240, blank=True)
    order = models.ForeignKey("rewards.Order", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    by = models.ForeignKey("tenants.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.CheckConstraint(condition=~models.Q(change=0), name="stock_movement_moves")]

    def __str__(self):
        return f"{self.item.sku} {self.change:+d} ({self.get_reason_display()})"


class DigitalCode(models.Model):
    """One code of a digital item's pool, uploaded by the operator; given to one order, once."""

    platform_wide = True
    secret_fields = frozenset({"code"})  # never filterable in the admin

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    item = models.ForeignKey(CatalogItem, on_delete=models.PROTECT, related_name="codes")
    code = models.CharField(max_length=200)
    order = models.OneToOneField(
        "rewards.Order", null=True, blank=True, on_delete=models.PROTECT, related_name="code_entry"
    )
    allocated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "code"], name="code_once_per_item")]
        indexes = [models.Index(fields=["item"], condition=models.Q(order__isnull=True), name="code_free_per_item")]

    def __str__(self):
        return f"{self.item.sku} code {'(given)' if self.order_id else '(free)'}"
