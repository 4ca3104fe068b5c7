"""Reads of the month's spend."""

from datetime import date

from rewards.ledger.models import CampaignSpend


def campaigns_spent_in(campaign_ids, period: date) -> dict:
    """{campaign id: spent} for one month, read from the counters (no scan of the ledger)."""
    rows = CampaignSpend.objects.filter(campaign_id__in=list(campaign_ids), period=period)
    return dict(rows.values_list("campaign_id", "spent"))
