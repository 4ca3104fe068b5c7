"""Reads of the month's spend."""

from datetime import date
from decimal import Decimal

from django.utils import timezone

from rewards.fields import Mode
from rewards.ledger.models import BrandSpend, CampaignSpend
from rewards.periods import month_of
from tenants.scoping import across_brands


def campaigns_spent_in(campaign_ids, period: date) -> dict:
    """{campaign id: spent} for one month, read from the counters (no scan of the ledger)."""
    rows = CampaignSpend.objects.filter(campaign_id__in=list(campaign_ids), period=period)
    return dict(rows.values_list("campaign_id", "spent"))


def live_spend_this_month() -> list[tuple[str, Decimal, Decimal]]:
    """(brand slug, live spend, monthly cap) of every brand with a live counter this month (UTC),
    read from the counters in one query: the operator's metrics, so across brands."""
    with across_brands():
        rows = BrandSpend.objects.filter(mode=Mode.LIVE, period=month_of(timezone.now())).order_by("brand__slug")
        return list(rows.values_list("brand__slug", "spent", "brand__monthly_cap"))
