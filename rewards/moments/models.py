"""Moments: rewards earned by a brand's users, waiting to be claimed (or given at once)."""

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _
from uuid6 import uuid7

from rewards.fields import MONEY, Mode
from tenants.models import BrandOwned


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
    campaign = models.ForeignKey("rewards.Campaign", on_delete=models.PROTECT, related_name="moments")
    event = models.ForeignKey("rewards.Event", null=True, on_delete=models.SET_NULL, related_name="+")
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
        indexes = [
            models.Index(fields=["brand", "mode", "user_id", "-earned_at"], name="moment_user_newest"),
            # A campaign's report reads a month of its moments by this range.
            models.Index(fields=["campaign", "earned_at"], name="moment_campaign_earned"),
        ]

    def __str__(self):
        return f"{self.campaign} → {self.user_id}"


class Donation(BrandOwned):
    """What a brand's rewards gave to a charity: the donation ledger, totalled per charity."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    charity = models.ForeignKey("rewards.Charity", on_delete=models.PROTECT, related_name="donations")
    amount = models.DecimalField(**MONEY)
    moment = models.OneToOneField("rewards.Moment", on_delete=models.PROTECT, related_name="donation")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
