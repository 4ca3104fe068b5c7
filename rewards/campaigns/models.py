"""Campaigns: the "moments" a brand offers — an action, a threshold, a CPA and the rewards."""

import uuid
from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_countries.fields import CountryField

from rewards.fields import MONEY, QUANTITY, Mode
from tenants.models import BrandOwned, validate_plain_text
from tenants.scoping import scoped_manager

slug_validator = RegexValidator(
    r"^[a-z0-9]+(-[a-z0-9]+)*\Z", _("Use lowercase letters, digits and single hyphens, e.g. thirty-workouts.")
)
action_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9_.-]{0,63}\Z",
    _("An action is a slug: lowercase letters, digits, '_', '.', '-', e.g. workout_completed."),
)


class Campaign(BrandOwned):
    """What a brand rewards: `threshold` units of `action` earn a moment, charged `cpa`."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")
        ACTIVE = "active", _("active")
        PAUSED = "paused", _("paused")
        ENDED = "ended", _("ended")

    class Counting(models.TextChoices):
        """How a user's progress counts the action's quantities: 30 workouts add up, a level is reached."""

        SUM = "sum", _("sum of the quantities reported")
        MAX = "max", _("highest value reported")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Test mode is a world of its own (DESIGN.md §5): a test campaign counts only test events,
    # charges only the test ledger, and is what test keys list and change.
    mode = models.CharField(max_length=4, choices=Mode.choices, default=Mode.LIVE, editable=False)
    slug = models.CharField(max_length=50, validators=[slug_validator])
    name = models.CharField(max_length=120, validators=[validate_plain_text])
    action = models.CharField(max_length=64, validators=[action_validator])
    counting = models.CharField(
        max_length=3,
        choices=Counting.choices,
        default=Counting.SUM,
        help_text=_(
            "Sum: every event adds its quantity (30 workouts, 10 hours). Highest: the user's progress is the "
            "highest quantity reported (reach level 15). Fixed once the campaign leaves its draft."
        ),
    )
    threshold = models.DecimalField(validators=[MinValueValidator(Decimal("0.001"))], **QUANTITY)
    rewards = models.ManyToManyField("rewards.CatalogItem", through="CampaignReward", related_name="+")
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
            models.UniqueConstraint(fields=["brand", "mode", "slug"], name="campaign_slug_per_brand_mode"),
            models.CheckConstraint(condition=models.Q(threshold__gt=0), name="campaign_threshold_positive"),
            models.CheckConstraint(condition=models.Q(cpa__gt=0), name="campaign_cpa_positive"),
        ]
        indexes = [models.Index(fields=["brand", "mode", "action", "status"], name="campaign_watching_action_mode")]

    def __str__(self):
        return self.name


class CampaignReward(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="reward_links")
    item = models.ForeignKey("rewards.CatalogItem", on_delete=models.PROTECT, related_name="+")
    position = models.PositiveSmallIntegerField(default=0)

    objects = scoped_manager(brand_path="campaign__brand")  # the campaign's brand's, like the campaign

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["campaign", "item"], name="campaign_reward_once")]

    def __str__(self):
        return f"{self.campaign} offers {self.item}"
