"""Reports: a campaign's report is a view of the campaign (a proxy, so the console lists and scopes it
like any brand-owned model), and the cap alerts already sent to a brand's owners."""

from django.db import models
from django.utils.translation import gettext_lazy as _
from uuid6 import uuid7

from rewards.campaigns.models import Campaign
from tenants.models import BrandOwned


class CampaignReport(Campaign):
    class Meta:
        proxy = True
        verbose_name = _("campaign report")
        verbose_name_plural = _("campaign reports")


class CapAlert(BrandOwned):
    """One email to the brand's owners about one cap in one month: sent once (the unique key)."""

    class Kind(models.TextChoices):
        FORECAST = "forecast", _("will be reached before the month ends")
        REACHED = "reached", _("reached")

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    # No campaign: the brand's own monthly cap.
    campaign = models.ForeignKey("rewards.Campaign", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    period = models.DateField()
    kind = models.CharField(max_length=10, choices=Kind.choices)
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "period", "kind"],
                condition=models.Q(campaign__isnull=False),
                name="cap_alert_once_per_campaign",
            ),
            models.UniqueConstraint(
                fields=["brand", "period", "kind"],
                condition=models.Q(campaign__isnull=True),
                name="cap_alert_once_per_brand",
            ),
        ]
