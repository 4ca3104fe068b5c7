"""What brands are charged and credited (the ledger), and the month's spend counters it moves."""

from decimal import Decimal

from django.db import models
from django.utils.translation import gettext_lazy as _
from uuid6 import uuid7

from rewards.fields import MONEY, Mode
from tenants.models import BrandOwned


class LedgerEntry(BrandOwned):
    """Append-only record of what a brand is charged (positive) and credited back (negative)."""

    class Kind(models.TextChoices):
        CHARGE = "charge", _("CPA charge")
        REFUND = "refund", _("refund")
        SHIPPING_FEE = "shipping_fee", _("shipping fee")

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    # Test mode keeps a ledger of its own, so that caps, refunds and the month roll can be tried
    # there; a brand is billed its live lines only.
    mode = models.CharField(max_length=4, choices=Mode.choices, default=Mode.LIVE)
    # No campaign for a reward-store order's shipping fee.
    campaign = models.ForeignKey("rewards.Campaign", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    moment = models.ForeignKey("rewards.Moment", null=True, on_delete=models.PROTECT, related_name="ledger_entries")
    order = models.ForeignKey("rewards.Order", null=True, on_delete=models.PROTECT, related_name="ledger_entries")
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
        indexes = [models.Index(fields=["brand", "mode", "period"], name="ledger_brand_mode_period")]
        constraints = [
            # A line moves the counters of the month it is billed in, or none.
            models.CheckConstraint(
                condition=models.Q(counter_period__isnull=True) | models.Q(counter_period=models.F("period")),
                name="ledger_counter_month_is_billed_month",
            ),
        ]


class CampaignSpend(BrandOwned):
    """A campaign's spend in one month, moved only by conditional UPDATEs (spent + cpa ≤ budget)."""

    campaign = models.ForeignKey("rewards.Campaign", on_delete=models.CASCADE, related_name="+")
    period = models.DateField()
    spent = models.DecimalField(default=Decimal("0.00"), **MONEY)
    capped_at = models.DateTimeField(null=True, blank=True, help_text=_("When the budget ran out this month."))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "period"], name="campaign_spend_per_month"),
            models.CheckConstraint(condition=models.Q(spent__gte=0), name="campaign_spend_non_negative"),
        ]


class BrandSpend(BrandOwned):
    """A brand's spend in one month over all its campaigns of one mode, moved like CampaignSpend."""

    mode = models.CharField(max_length=4, choices=Mode.choices, default=Mode.LIVE)
    period = models.DateField()
    spent = models.DecimalField(default=Decimal("0.00"), **MONEY)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["brand", "mode", "period"], name="brand_spend_per_mode_month"),
            models.CheckConstraint(condition=models.Q(spent__gte=0), name="brand_spend_non_negative"),
        ]
