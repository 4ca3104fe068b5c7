"""The ledger and the month's spend counters: refunds, shipping fees and the month roll. Charges
are written by earning; every line says which month's counters it moved (`counter_period`)."""

from django.db.models import F
from django.db.models.functions import Round
from django.utils import timezone

from rewards import selectors
from rewards.models import (
    BrandSpend,
    Campaign,
    CampaignSpend,
    LedgerEntry,
    Mode,
    Moment,
)


def month_roll(*, now=None) -> int:
    """The 1st of the month: open the new month's counters for every active campaign and brand.

    Earning needs none of it (counters are keyed by month and created on first use, so capped
    campaigns resume by themselves); opening them early only spares the first grants of the month
    the insert. Idempotent: a second run finds every row there.
    """
    period = selectors.month_of(now or timezone.now())
    campaigns = Campaign.objects.filter(status=Campaign.Status.ACTIVE).values_list("pk", "brand_id")
    CampaignSpend.objects.bulk_create(
        [CampaignSpend(campaign_id=pk, brand_id=brand_id, period=period) for pk, brand_id in campaigns],
        ignore_conflicts=True,
    )
    brands = {brand_id for _, brand_id in campaigns}
    BrandSpend.objects.bulk_create([BrandSpend(brand_id=b, period=period) for b in brands], ignore_conflicts=True)
    return len(campaigns)


def refund_locks(*, moment: Moment, now) -> dict:
    """What `lock_money` must hold to refund this moment now: the month counters the refund moves
    (only those of the month it was charged in, and only while that month lasts), then the moment."""
    return {
        "brand_id": moment.brand_id,
        "period": _refund_counter_period(moment, now),
        "campaign_ids": [moment.campaign_id],
        "moment_ids": [moment.pk],
    }


def _refund_counter_period(moment: Moment, now):
    """The month whose counters refunding `moment` now lowers, or None: a refund moves them only in
    the month of the charge (a later month's counters never held it)."""
    if moment.mode != Mode.LIVE or moment.cpa == 0:
        return None
    charged_in = selectors.month_of(moment.earned_at)
    return charged_in if charged_in == selectors.month_of(now) else None


def refund(moment: Moment, now, note: str) -> None:
    """Credit back what the moment was charged (its `cpa`): a ledger line billed in the month of the
    refund, and the counters of the month of the charge if that month is still running. The caller
    holds `lock_money(**refund_locks(...))`."""
    if moment.mode != Mode.LIVE or moment.cpa == 0:
        return
    counter_period = _refund_counter_period(moment, now)
    LedgerEntry.objects.create(
        brand_id=moment.brand_id,
        campaign_id=moment.campaign_id,
        moment=moment,
        kind=LedgerEntry.Kind.REFUND,
        amount=-moment.cpa,
        period=selectors.month_of(now),
        counter_period=counter_period,
        note=note,
    )
    if counter_period is not None:
        BrandSpend.objects.filter(brand_id=moment.brand_id, period=counter_period).update(
            spent=Round(F("spent") - moment.cpa, 2)
        )
        CampaignSpend.objects.filter(campaign_id=moment.campaign_id, period=counter_period).update(
            spent=Round(F("spent") - moment.cpa, 2)
        )


def shipping_fee_bill(*, order, campaign=None) -> LedgerEntry:
    """Bill the brand the shipping fee of a physical order, as its own ledger line, when the order
    is placed. Fees are outside the CPA caps (they do not move the monthly counters): a customer's
    parcel is never refused because a budget ran out after the moment was earned."""
    return LedgerEntry.objects.create(
        brand_id=order.brand_id,
        campaign=campaign,
        moment_id=order.moment_id,
        order=order,
        kind=LedgerEntry.Kind.SHIPPING_FEE,
        amount=order.shipping_fee,
        period=selectors.month_of(timezone.now()),
    )


def shipping_fee_refund(*, order) -> LedgerEntry:
    """A cancelled parcel's fee comes back to the brand, as a negative line in the month of the refund."""
    return LedgerEntry.objects.create(
        brand_id=order.brand_id,
        campaign_id=order.moment.campaign_id if order.moment_id else None,
        moment_id=order.moment_id,
        order=order,
        kind=LedgerEntry.Kind.SHIPPING_FEE,
        amount=-order.shipping_fee,
        period=selectors.month_of(timezone.now()),
        note="order cancelled",
    )
