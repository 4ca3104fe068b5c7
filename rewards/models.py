"""Catalog, campaigns (the "moments" a brand offers), events, progress, moments and the money they move."""

import uuid
from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_countries.fields import CountryField
from uuid6 import uuid7

from tenants.models import ApiKey, BrandOwned, validate_plain_text

MONEY = {"max_digits": 12, "decimal_places": 2}
QUANTITY = {"max_digits": 15, "decimal_places": 3}
PLATFORM_EXCLUDED_COUNTRIES = ["ZA", "AL", "SA", "RU", "CH"]

slug_validator = RegexValidator(
    r"^[a-z0-9]+(-[a-z0-9]+)*\Z", _("Use lowercase letters, digits and single hyphens, e.g. thirty-workouts.")
)
action_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9_.-]{0,63}\Z",
    _("An action is a slug: lowercase letters, digits, '_', '.', '-', e.g. workout_completed."),
)
sku_validator = RegexValidator(r"^[A-Z0-9][A-Z0-9-]{1,47}\Z", _("Use capitals, digits and hyphens, e.g. GC-10-USD."))


Mode = ApiKey.Mode  # an event, its progress and its moments carry the mode of the key that sent it


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
    # Moved only by rewards.catalog stock functions, each leaving a StockMovement line.
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


class Campaign(BrandOwned):
    """What a brand rewards: `threshold` units of `action` earn a moment, charged `cpa`."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")
        ACTIVE = "active", _("active")
        PAUSED = "paused", _("paused")
        ENDED = "ended", _("ended")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.CharField(max_length=50, validators=[slug_validator])
    name = models.CharField(max_length=120, validators=[validate_plain_text])
    action = models.CharField(max_length=64, validators=[action_validator])
    threshold = models.DecimalField(validators=[MinValueValidator(Decimal("0.001"))], **QUANTITY)
    rewards = models.ManyToManyField(CatalogItem, through="CampaignReward", related_name="+")
    cpa = models.DecimalField(_("CPA (USD)"), **MONEY)
    monthly_budget = models.DecimalField(_("monthly budget (USD)"), default=Decimal("5000.00"), **MONEY)
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    max_moments = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("First N: at most this many moments in all."),
    )
    max_per_user = models.PositiveIntegerField(
        null=True,
        blank=True,
        default=1,
        validators=[MinValueValidator(1)],
        help_text=_("How many times one user can earn it; empty: no limit."),
    )
    excluded_countries = CountryField(multiple=True, blank=True)
    claim_window_days = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(1), MaxValueValidator(365)]
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DRAFT)
    # First-N counters, kept on write (live and test apart: test moments never use up real places).
    granted_live = models.PositiveIntegerField(default=0, editable=False)
    granted_test = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["brand", "slug"], name="campaign_slug_per_brand"),
            models.CheckConstraint(condition=models.Q(threshold__gt=0), name="campaign_threshold_positive"),
            models.CheckConstraint(condition=models.Q(cpa__gt=0), name="campaign_cpa_positive"),
        ]
        indexes = [models.Index(fields=["brand", "action", "status"], name="campaign_watching_action")]

    def __str__(self):
        return self.name


class CampaignReward(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="reward_links")
    item = models.ForeignKey(CatalogItem, on_delete=models.PROTECT, related_name="+")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["campaign", "item"], name="campaign_reward_once")]

    def __str__(self):
        return f"{self.campaign} offers {self.item}"


class Event(BrandOwned):
    """One action reported by a brand's app; remembered by (brand, event_id) for idempotency."""

    # Time-ordered UUIDs: unguessable in admin URLs, yet appended at the right of the index like
    # a sequence, and they tell nothing of other brands' volume.
    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    event_id = models.CharField(max_length=128)
    mode = models.CharField(max_length=4, choices=Mode.choices)
    body_hash = models.CharField(max_length=64)
    user_id = models.CharField(max_length=128)
    action = models.CharField(max_length=64)
    quantity = models.DecimalField(**QUANTITY)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField()
    country = models.CharField(max_length=2, blank=True)
    properties = models.JSONField(default=dict, blank=True)
    # The first answer, given again to every replay (claim URLs are derived again, never stored).
    response = models.JSONField(null=True, editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["brand", "event_id"], name="event_once_per_brand")]
        indexes = [models.Index(fields=["brand", "user_id"], name="event_brand_user")]

    def __str__(self):
        return self.event_id


class Progress(BrandOwned):
    """How far one of the brand's users is in one campaign, counted on write."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+")
    mode = models.CharField(max_length=4, choices=Mode.choices)
    user_id = models.CharField(max_length=128)
    count = models.DecimalField(default=Decimal("0"), **QUANTITY)
    granted = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = _("progress")
        constraints = [
            models.UniqueConstraint(fields=["campaign", "mode", "user_id"], name="progress_one_per_user"),
        ]


class Moment(BrandOwned):
    """A reward earned by one of the brand's users, waiting to be claimed (or given at once)."""

    secret_fields = frozenset({"claim_token_hash"})  # never filterable in the admin

    class Status(models.TextChoices):
        EARNED = "earned", _("earned")
        CLAIMED = "claimed", _("claimed")
        FULFILLED = "fulfilled", _("fulfilled")
        EXPIRED = "expired", _("expired")
        CANCELLED = "cancelled", _("cancelled")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="moments")
    event = models.ForeignKey(Event, null=True, on_delete=models.SET_NULL, related_name="+")
    mode = models.CharField(max_length=4, choices=Mode.choices)
    user_id = models.CharField(max_length=128)
    # The user's n-th moment in this campaign: unique, so no retry or race can grant one twice.
    sequence = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.EARNED)
    # NULL, not "", when there is nothing to claim: unique ignores NULLs, it would not ignore "".
    claim_token_hash = models.CharField(max_length=64, unique=True, null=True, editable=False)  # noqa: DJ001
    cpa = models.DecimalField(_("CPA charged (USD)"), **MONEY)
    earned_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    # The platform account that claimed it (set once, by the first confirmation).
    account = models.ForeignKey(
        "tenants.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="moments"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    fulfilled_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=240, blank=True)

    class Meta:
        ordering = ["-earned_at"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "mode", "user_id", "sequence"], name="moment_once_per_step"),
        ]
        indexes = [models.Index(fields=["brand", "mode", "user_id", "-earned_at"], name="moment_user_newest")]

    def __str__(self):
        return f"{self.campaign} → {self.user_id}"


class LedgerEntry(BrandOwned):
    """Append-only record of what a brand is charged (positive) and credited back (negative)."""

    class Kind(models.TextChoices):
        CHARGE = "charge", _("CPA charge")
        REFUND = "refund", _("refund")
        SHIPPING_FEE = "shipping_fee", _("shipping fee")

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    # No campaign for a reward-store order's shipping fee.
    campaign = models.ForeignKey(Campaign, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    moment = models.ForeignKey(Moment, null=True, on_delete=models.PROTECT, related_name="ledger_entries")
    order = models.ForeignKey("Order", null=True, on_delete=models.PROTECT, related_name="ledger_entries")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount = models.DecimalField(**MONEY)
    period = models.DateField(help_text=_("The month (UTC) this line is billed in: its first day."))
    # Spend recomputed from the ledger equals the counters, month by month: the sum of the lines
    # whose counter_period is M equals the counters of M (DESIGN.md §6).
    counter_period = models.DateField(
        null=True,
        blank=True,
        help_text=_(
            "The month (UTC) whose spend counters, the campaign's and the brand's, this line moved: its first "
            "day. Empty when it moved none (a shipping fee, a refund after the month of its charge)."
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    note = models.CharField(max_length=240, blank=True)

    class Meta:
        verbose_name_plural = _("ledger entries")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["brand", "period"], name="ledger_brand_period")]
        constraints = [
            # A line moves the counters of the month it is billed in, or none.
            models.CheckConstraint(
                condition=models.Q(counter_period__isnull=True) | models.Q(counter_period=models.F("period")),
                name="ledger_counter_month_is_billed_month",
            ),
        ]


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
    order = models.ForeignKey("Order", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
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
    order = models.OneToOneField("Order", null=True, blank=True, on_delete=models.PROTECT, related_name="code_entry")
    allocated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "code"], name="code_once_per_item")]
        indexes = [models.Index(fields=["item"], condition=models.Q(order__isnull=True), name="code_free_per_item")]

    def __str__(self):
        return f"{self.item.sku} code {'(given)' if self.order_id else '(free)'}"


class Donation(BrandOwned):
    """What a brand's rewards gave to a charity: the donation ledger, totalled per charity."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    charity = models.ForeignKey(Charity, on_delete=models.PROTECT, related_name="donations")
    amount = models.DecimalField(**MONEY)
    moment = models.OneToOneField(Moment, on_delete=models.PROTECT, related_name="donation")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]


class CampaignSpend(BrandOwned):
    """A campaign's spend in one month, moved only by conditional UPDATEs (spent + cpa ≤ budget)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+")
    period = models.DateField()
    spent = models.DecimalField(default=Decimal("0.00"), **MONEY)
    capped_at = models.DateTimeField(null=True, blank=True, help_text=_("When the budget ran out this month."))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "period"], name="campaign_spend_per_month"),
            models.CheckConstraint(condition=models.Q(spent__gte=0), name="campaign_spend_non_negative"),
        ]


class BrandSpend(BrandOwned):
    """A brand's spend in one month over all its campaigns, moved like CampaignSpend."""

    period = models.DateField()
    spent = models.DecimalField(default=Decimal("0.00"), **MONEY)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["brand", "period"], name="brand_spend_per_month"),
            models.CheckConstraint(condition=models.Q(spent__gte=0), name="brand_spend_non_negative"),
        ]


class WebhookDelivery(BrandOwned):
    """One event for the brand's webhook endpoint, kept with its attempts; `id` is the event's
    stable id (receivers drop duplicates by it)."""

    # Rows written before the console showed only a generic phrase hold a raw network error: an
    # admin filter on it would let a brand probe its network through the text.
    secret_fields = frozenset({"last_error"})

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        DELIVERED = "delivered", _("delivered")
        FAILED = "failed", _("failed")  # every retry used up; can be redelivered from the console

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    event_type = models.CharField(max_length=40)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=240, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = _("webhook deliveries")
        indexes = [models.Index(fields=["next_attempt_at"], condition=models.Q(status="pending"), name="webhook_due")]

    def __str__(self):
        return f"{self.event_type} {self.id}"


# --- Orders, wallets and reward stores: what reaches the end user ---------------------------------


class StoreItem(BrandOwned):
    """An item of a brand's reward store, priced in that brand's credit, fulfilled from the catalog."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    item = models.ForeignKey(CatalogItem, on_delete=models.PROTECT, related_name="+")
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
    # Kept for the brand's accounts when an account is deleted.
    user = models.ForeignKey("tenants.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="orders")
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

    class Meta:
        db_table = "storefront_orderevent"  # made in storefront; moved here with its data (migration 0006)
        ordering = ["at"]

    def __str__(self):
        return f"{self.get_status_display()} at {self.at:%Y-%m-%d %H:%M}"


class Wallet(BrandOwned):
    """An account's credit in one brand's reward store; `balance` is the sum of its entries,
    moved only together with an entry, and never below zero (a conditional UPDATE)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey("tenants.User", on_delete=models.CASCADE, related_name="wallets")
    balance = models.DecimalField(default=Decimal("0.00"), **MONEY)

    class Meta:
        db_table = "storefront_wallet"  # made in storefront; moved here with its data (migration 0006)
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
        db_table = "storefront_walletentry"  # made in storefront; moved here with its data (migration 0006)
        ordering = ["-created_at"]
        verbose_name_plural = _("wallet entries")
        constraints = [
            # One reward credit per order: a retried fulfilment cannot credit twice.
            models.UniqueConstraint(
                fields=["order"], condition=models.Q(kind="reward"), name="wallet_reward_once_per_order"
            )
        ]
