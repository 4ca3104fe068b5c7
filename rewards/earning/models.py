"""What brands report and how far each of their users is: events and progress."""

from decimal import Decimal

from django.db import models
from django.utils.translation import gettext_lazy as _
from uuid6 import uuid7

from rewards.fields import QUANTITY, Mode
from tenants.models import Brand, BrandOwned


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
        indexes = [
            # A user's events (the console's search), and the brand's known users of one mode,
            # counted from the index alone (reports).
            models.Index(fields=["brand", "user_id", "mode"], name="event_brand_user_mode"),
            # A report counts a month of one action's events of one mode by this range, from the index.
            models.Index(fields=["brand", "action", "mode", "received_at"], name="event_brand_action_time"),
        ]

    def __str__(self):
        return self.event_id


class EventKey(BrandOwned):
    """An event id a brand has used, claimed before its event is written (DESIGN.md §8).

    The claim is an `INSERT … ON CONFLICT DO NOTHING` on this narrow table, so that the event row
    is then written once, whole, with its answer, instead of being inserted and updated (an update
    that, for a batch's tightly packed rows, rewrote every index entry). It is also where
    idempotency goes when events are partitioned by month, which cannot hold a unique key across
    partitions."""

    row = models.OneToOneField(Event, primary_key=True, on_delete=models.CASCADE, related_name="+")
    # No index of its own: the unique (brand, event_id) index serves every look-up by brand.
    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="+", db_index=False)
    event_id = models.CharField(max_length=128)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["brand", "event_id"], name="event_key_once_per_brand")]

    def __str__(self):
        return self.event_id


class Progress(BrandOwned):
    """How far one of the brand's users is in one campaign, counted on write."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    campaign = models.ForeignKey("rewards.Campaign", on_delete=models.CASCADE, related_name="+")
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
