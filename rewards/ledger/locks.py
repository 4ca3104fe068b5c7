"""The one helper that takes the row locks money needs, always in one order, with a lock timeout.

Earning, refunds, expiry, cancellation and fulfilment all lock through `lock_money`, in this
order: the brand's month counter, then the campaigns' month counters by campaign id, then
(earning) the campaign rows by id, then moments by id, then orders by id — each sub-package
passing its own rows, as querysets, for the helper to order. Two transactions that
lock the same rows therefore wait for each other in line and never in a cycle (a deadlock
PostgreSQL would break by aborting one of them); a lock held too long fails the waiter after
`MONEY_LOCK_TIMEOUT_MS` instead of piling up requests behind it.
"""

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.db import connection

from rewards import sql
from rewards.fields import money
from rewards.ledger.models import BrandSpend, CampaignSpend

# After the month counters, rows are locked model by model in this order (and by id within one),
# whatever order the caller lists them in. A model not named here cannot be locked through it.
ROW_LOCK_ORDER = ("rewards.campaign", "rewards.moment", "rewards.order")


@dataclass
class MonthSpend:
    """What the locked counters held when they were locked: the brand's and each campaign's spend."""

    brand: Decimal | None = None
    campaigns: dict = field(default_factory=dict)


def lock_money(
    *, brand_id, mode: str | None = None, period: date | None = None, campaign_ids=(), rows=(), granting: bool = False
) -> MonthSpend:
    """Lock, inside the caller's transaction, the month counters of `period` (the brand's of
    `mode`, then the campaigns'), then `rows` — querysets of campaigns, moments or orders, each of
    the caller's own sub-package — in ROW_LOCK_ORDER.

    `granting` makes the month's counters when missing, so that the first grants of a month are
    serialised too; granting also locks the campaigns' rows, whose first-N counts grants move (test-
    mode grants, which move no money, are ordered by them). A refund only locks what its charge made.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("lock_money takes row locks: call it inside transaction.atomic()")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL lock_timeout = {int(settings.MONEY_LOCK_TIMEOUT_MS)}")
    spend = MonthSpend()
    campaign_ids = sorted(set(campaign_ids))
    if period is not None:
        if mode is None:
            raise ValueError("the month counters of which mode? (live and test keep their own)")
        lock = _make_and_lock_counters if granting else _lock_counters
        [spend.brand] = lock(BrandSpend, [{"brand": brand_id}], period, mode=mode)
        owners = [{"campaign": campaign_id} for campaign_id in campaign_ids]
        spend.campaigns = dict(zip(campaign_ids, lock(CampaignSpend, owners, period, brand=brand_id), strict=True))
    for queryset in sorted(rows, key=lambda queryset: ROW_LOCK_ORDER.index(queryset.model._meta.label_lower)):
        # SELECT … FOR UPDATE: one statement per model, rows locked in id order.
        list(queryset.select_for_update().order_by("pk").values_list("pk"))
    return spend


def _lock_counters(model, owners: list[dict], period: date, **shared) -> list[Decimal | None]:
    """Lock the month counters that exist, in the order of their owners (the owner field, which the
    caller sorted; `shared`: the columns every counter has alike); what each holds, None for one
    that does not exist."""
    if not owners:
        return []
    key = model._meta.get_field(next(iter(owners[0])))
    ids = [owner[key.name] for owner in owners]
    rows = model.objects.select_for_update().filter(**{f"{key.attname}__in": ids}, period=period, **shared)
    held = {owner_id: money(spent) for owner_id, spent in rows.order_by(key.attname).values_list(key.attname, "spent")}
    return [held.get(owner_id) for owner_id in ids]


def _make_and_lock_counters(model, owners: list[dict], period: date, **shared) -> list[Decimal]:
    """Upsert-and-lock one month counter per owner, in the order given; what each holds.

    An INSERT … ON CONFLICT DO UPDATE that changes nothing still takes the row's lock (and makes
    the row when the month has none yet). `owners` name the owner column by field; it is, with
    `period` (and `mode` for a brand's counter), the counter's unique key; `shared`: the columns
    every counter has alike.
    """
    if not owners:
        return []
    key = model._meta.get_field(next(iter(owners[0])))
    returned = sql.insert_on_conflict(
        model,
        [{**owner, **shared, "period": period, "spent": Decimal("0")} for owner in owners],
        conflict=[key.name, *(["mode"] if "mode" in shared else []), "period"],
        update="spent = {table}.spent",
        returning=[key.name, "spent"],
    )
    held = {owner_key: money(spent) for owner_key, spent in returned}
    return [held[key.get_db_prep_save(owner[key.name], connection)] for owner in owners]
