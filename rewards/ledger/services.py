"""The ledger and the month's spend counters, their only writer: charges, refunds, shipping fees,
the counters the month roll opens. Every line says which month's counters it moved
(`counter_period`); callers hold `lock_money` (rewards/ledger/locks.py)."""

from django.db.models import F
from django.db.models.functions import Round
from django.utils import timezone

from rewards.ledger.models import BrandSpend, CampaignSpend, LedgerEntry
from rewards.periods import month_of


def counters_open(*, period, campaigns) -> None:
    """Open the month's counters of these (campaign id, brand id) pairs and of their brands, where
    missing (the month roll). Idempotent: a second run finds every row there."""
    CampaignSpend.objects.bulk_create(
        [CampaignSpend(campaign_id=pk, brand_id=brand_id, period=period) for pk, brand_id in campaigns],
        ignore_conflicts=True,
    )
    brands = {brand_id for _, brand_id in campaigns}
    BrandSpend.objects.bulk_create([BrandSpend(brand_id=b, period=period) for b in brands], ignore_conflicts=True)


def charge(*, brand_id, mode: str, period, charges: list[tuple]) -> None:
    """Charge moments just granted: `charges` holds (campaign_id, cpa, moments) — each moment
    costs its campaign's `cpa`. The brand's counter of `mode` and `period` moves once and each
    campaign's once, by the whole amount, and each moment gets its CHARGE line, all in one INSERT
    (test mode's in the test ledger, which no bill reads). The caller holds
    `lock_money(..., granting=True)` and checked the room left."""
    charges = [(campaign_id, cpa, moments) for campaign_id, cpa, moments in charges if moments]
    if not charges:
        return
    total = sum(cpa * len(moments) for _, cpa, moments in charges)
    BrandSpend.objects.filter(brand_id=brand_id, mode=mode, period=period).update(spent=Round(F("spent") + total, 2))
    for campaign_id, cpa, moments in charges:
        CampaignSpend.objects.filter(campaign_id=campaign_id, period=period).update(
            spent=Round(F("spent") + cpa * len(moments), 2)
        )
    LedgerEntry.objects.bulk_create(
        LedgerEntry(
            brand_id=brand_id,
            mode=mode,
            campaign_id=campaign_id,
            moment=moment,
            kind=LedgerEntry.Kind.CHARGE,
            amount=cpa,
            period=period,
            counter_period=period,
        )
        for campaign_id, cpa, moments in charges
        for moment in moments
    )


def counters_mark_capped(*, campaign_id, period, now) -> bool:
    """Mark the campaign's month capped, once: True for the one caller whose conditional UPDATE did."""
    return bool(
        CampaignSpend.objects.filter(campaign_id=campaign_id, period=period, capped_at__isnull=True).update(
            capped_at=now
        )
    )


def refund_locks(*, moment, now) -> dict:
    """The counters `lock_money` must hold to refund this moment now: those of the month it was
    charged in, and only while that month lasts. The caller adds the moment's row."""
    return {
        "brand_id": moment.brand_id,
        "mode": moment.mode,
        "period": _refund_counter_period(moment, now),
        "campaign_ids": [moment.campaign_id],
    }


def _refund_counter_period(moment, now):
    """The month whose counters refunding `moment` now lowers, or None: a refund moves them only in
    the month of the charge (a later month's counters never held it)."""
    if moment.cpa == 0:
        return None
    charged_in = month_of(moment.earned_at)
    return charged_in if charged_in == month_of(now) else None


def refund(moment, now, note: str) -> None:
    """Credit back what the moment was charged (its `cpa`): a ledger line billed in the month of the
    refund, and the counters of the month of the charge if that month is still running. The caller
    holds `lock_money(**refund_locks(...))`. `now` is the moment's mode's (its brand's test clock's
    for a test moment)."""
    if moment.cpa == 0:
        return
    counter_period = _refund_counter_period(moment, now)
    LedgerEntry.objects.create(
        brand_id=moment.brand_id,
        mode=moment.mode,
        campaign_id=moment.campaign_id,
        moment=moment,
        kind=LedgerEntry.Kind.REFUND,
        amount=-moment.cpa,
        period=month_of(now),
        counter_period=counter_period,
        note=note,
    )
    if counter_period is not None:
        BrandSpend.objects.filter(brand_id=moment.brand_id, mode=moment.mode, period=counter_period).update(
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
        period=month_of(timezone.now()),
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
        period=month_of(timezone.now()),
        note="order cancelled",
    )
