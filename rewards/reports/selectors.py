"""A campaign's report, the brand's dashboard and the operator's: every figure from the month's
counters or from an indexed range (a month of one campaign's moments, of one action's events), never
from a scan of every event. Each in one mode: a campaign's report in its campaign's, the brand's
dashboard in the console's (the "test data" switch), the operator's live only.

Months are calendar months in UTC (the spend period). "Now" figures — users in progress, the
forecast — describe the current month; for an earlier month they are left out.
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.core.cache import cache
from django.db.models import Count, F, IntegerField, Min, Q, Sum
from django.db.models.functions import Cast, Floor, Least, TruncDate
from django.utils import timezone

from rewards import clock
from rewards.campaigns.models import Campaign
from rewards.catalog.models import CatalogItem, DigitalCode
from rewards.earning.models import Event, Progress
from rewards.fields import CENT, Mode, money
from rewards.ledger.models import BrandSpend, CampaignSpend, LedgerEntry
from rewards.moments.models import Donation, Moment
from rewards.orders.models import Order
from rewards.orders.selectors import store_items_on_sale
from rewards.periods import month_bounds, month_of

HISTOGRAM_BUCKETS = 10  # users in progress, by tenths of the threshold
KNOWN_USERS_CACHE_SECONDS = 300
LOW_CODES = 20  # a code pool with fewer free codes than this is running low
LOW_STOCK = 10  # a physical item with fewer units than this is running low
# A campaign that has run: anything but a draft in which nothing was ever granted.
HAS_RUN = ~Q(status=Campaign.Status.DRAFT, granted_live=0)


def rate(part, whole) -> Decimal | None:
    """part / whole as a percentage with one decimal, or None when there is no whole."""
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


@dataclass
class Forecast:
    """At this month's pace, when the cap is reached: `reached`, or `on` a day of this month, or
    neither (not before the month ends, or nothing spent yet)."""

    reached: bool = False
    on: date | None = None

    @property
    def before_month_end(self) -> bool:
        return self.on is not None


def cap_forecast(*, spent: Decimal, cap: Decimal, step: Decimal, period: date, now: datetime) -> Forecast | None:
    """The day `spent` reaches `cap` at this month's pace (spend per elapsed second of the month).
    `step` is the smallest charge: a cap with less than one step left is reached. None for a month
    that is over (there is no pace to speak of)."""
    if month_of(now) != period:
        return None
    if cap - spent < step:
        return Forecast(reached=True)
    start, end = month_bounds(period)
    elapsed = (now - start).total_seconds()
    if spent <= 0 or elapsed <= 0:
        return Forecast()
    seconds_left = float(cap - spent) / (float(spent) / elapsed)
    reach = now + timedelta(seconds=seconds_left)
    return Forecast(on=reach.date()) if reach < end else Forecast()


@dataclass
class Funnel:
    actions: int  # events on the campaign's action in the month
    in_progress: int | None  # users counting toward the threshold now (current month only)
    reached: int  # distinct users who earned a moment in the month
    earned: int
    claimed: int  # of the month's moments: claimed, or given at once (fulfilled)
    fulfilled: int


@dataclass
class CampaignReport:
    campaign: Campaign
    period: date
    funnel: Funnel
    completion_rate: Decimal | None
    claim_rate: Decimal | None
    campaign_spent: Decimal
    brand_spent: Decimal
    charges: Decimal
    refunds: Decimal  # a positive amount credited back
    shipping_fees: Decimal
    net_spend: Decimal
    cost_per_completion: Decimal | None
    campaign_forecast: Forecast | None
    brand_forecast: Forecast | None
    daily: list[dict] = field(default_factory=list)  # {day, earned, claimed, spend} for every day of the month
    histogram: list[dict] = field(default_factory=list)  # {low, high, users}: percent of the threshold
    donations: list[dict] = field(default_factory=list)  # {charity, month, total}
    challenges: list[dict] = field(default_factory=list)  # {campaign, users, share}
    known_users: int = 0


def campaign_report(*, campaign: Campaign, period: date, now: datetime | None = None) -> CampaignReport:
    """`now`: by the campaign's mode's clock (its brand's test clock for a test campaign)."""
    # A campaign's report reads its own mode's rows and clock: a test campaign's report is test mode's.
    brand, mode = campaign.brand, campaign.mode
    now = now or clock.mode_now(brand, mode)
    start, end = month_bounds(period)
    month_moments = Moment.objects.filter(campaign=campaign, mode=mode, earned_at__gte=start, earned_at__lt=end)
    counts = month_moments.aggregate(
        earned=Count("pk"),
        reached=Count("user_id", distinct=True),
        claimed=Count("pk", filter=Q(status__in=[Moment.Status.CLAIMED, Moment.Status.FULFILLED])),
        fulfilled=Count("pk", filter=Q(status=Moment.Status.FULFILLED)),
    )
    actions = Event.objects.filter(
        brand=brand, action=campaign.action, mode=mode, received_at__gte=start, received_at__lt=end
    ).count()
    current = month_of(now) == period
    in_progress = _counting(campaign).count() if current else None
    funnel = Funnel(actions=actions, in_progress=in_progress, **counts)
    ledger_sums = LedgerEntry.objects.filter(brand=brand, campaign=campaign, period=period).aggregate(
        charges=Sum("amount", filter=Q(kind=LedgerEntry.Kind.CHARGE), default=Decimal("0")),
        refunds=Sum("amount", filter=Q(kind=LedgerEntry.Kind.REFUND), default=Decimal("0")),
        shipping_fees=Sum("amount", filter=Q(kind=LedgerEntry.Kind.SHIPPING_FEE), default=Decimal("0")),
    )
    charges, refunds, fees = (money(ledger_sums[k]) for k in ("charges", "refunds", "shipping_fees"))
    net = charges + refunds + fees  # refunds are negative lines
    campaign_spent = money(
        CampaignSpend.objects.filter(campaign=campaign, period=period).values_list("spent", flat=True).first()
    )
    brand_spent = _brand_spent(brand, mode, period)
    # What the month's completions cost, whenever billed: their charges, the refunds of those later
    # cancelled or expired, the shipping fees of their orders.
    completions_cost = money(
        LedgerEntry.objects.filter(brand=brand, campaign=campaign)
        .filter(Q(moment__in=month_moments) | Q(order__moment__in=month_moments))
        .aggregate(total=Sum("amount"))["total"]
    )
    return CampaignReport(
        campaign=campaign,
        period=period,
        funnel=funnel,
        completion_rate=rate(funnel.reached, funnel.reached + funnel.in_progress) if current else None,
        claim_rate=rate(funnel.claimed, funnel.earned),
        campaign_spent=campaign_spent,
        brand_spent=brand_spent,
        charges=charges,
        refunds=-refunds,
        shipping_fees=fees,
        net_spend=net,
        cost_per_completion=(completions_cost / funnel.earned).quantize(CENT) if funnel.earned else None,
        campaign_forecast=cap_forecast(
            spent=campaign_spent, cap=campaign.monthly_budget, step=campaign.cpa, period=period, now=now
        )
        if campaign.status == Campaign.Status.ACTIVE
        else None,
        brand_forecast=brand_cap_forecast(brand=brand, mode=mode, spent=brand_spent, period=period, now=now),
        daily=_daily(
            month_moments, start, min(end, datetime.combine(now.date(), time.min, tzinfo=UTC) + timedelta(days=1))
        ),
        histogram=_histogram(campaign) if current else [],
        donations=_donations(campaign, start, end),
        challenges=_challenges(brand, mode, start, end),
        known_users=known_users(brand, mode),
    )


def _daily(live_moments, start, end) -> list[dict]:
    """Every day of the month so far, with the moments earned and claimed that day and what they cost."""
    by_day = {
        row["day"]: row
        for row in live_moments.annotate(day=TruncDate("earned_at"))
        .values("day")
        .annotate(
            earned=Count("pk"),
            claimed=Count("pk", filter=Q(status__in=[Moment.Status.CLAIMED, Moment.Status.FULFILLED])),
            spend=Sum("cpa"),
        )
        .order_by()
    }
    days = []
    day = start.date()
    while day < end.date():
        row = by_day.get(day, {})
        days.append(
            {
                "day": day,
                "earned": row.get("earned", 0),
                "claimed": row.get("claimed", 0),
                "spend": money(row.get("spend")),
            }
        )
        day += timedelta(days=1)
    return days


def _counting(campaign):
    """Users still counting toward the threshold: progress, nothing granted, below the threshold
    (those at it yet granted nothing were refused by a rule — a cap, a country — and wait no more).
    A progress count is a sum of quantities or, for a campaign counting "max", the level reached:
    either way it is measured against the threshold, so this and the histogram hold for both."""
    return Progress.objects.filter(
        campaign=campaign, mode=campaign.mode, granted=0, count__gt=0, count__lt=campaign.threshold
    )


def _histogram(campaign) -> list[dict]:
    """Users still counting toward the threshold, by how far they are: tenths of the threshold."""
    bucket = Least(
        Cast(Floor(F("count") * HISTOGRAM_BUCKETS / campaign.threshold), IntegerField()), HISTOGRAM_BUCKETS - 1
    )
    rows = dict(
        _counting(campaign)
        .annotate(bucket=bucket)
        .values("bucket")
        .annotate(users=Count("pk"))
        .order_by()
        .values_list("bucket", "users")
    )
    width = 100 // HISTOGRAM_BUCKETS
    return [
        {"low": index * width, "high": (index + 1) * width, "users": rows.get(index, 0)}
        for index in range(HISTOGRAM_BUCKETS)
    ]


def _donations(campaign, start, end) -> list[dict]:
    """What the campaign's moments gave, per charity: this month and in all."""
    rows = (
        Donation.objects.filter(moment__campaign=campaign)
        .values("charity__name")
        .annotate(
            month=Sum("amount", filter=Q(created_at__gte=start, created_at__lt=end), default=Decimal("0")),
            total=Sum("amount"),
        )
        .order_by("charity__name")
    )
    return [{"charity": r["charity__name"], "month": money(r["month"]), "total": money(r["total"])} for r in rows]


def _challenges(brand, mode, start, end) -> list[dict]:
    """Each of the brand's campaigns of `mode` that earned in the month: how many users completed
    it, and their share of the brand's known users (the telco's challenges run side by side)."""
    known = known_users(brand, mode)
    rows = (
        Moment.objects.filter(campaign__in=_campaigns_run(brand, mode), mode=mode)
        .filter(earned_at__gte=start, earned_at__lt=end)
        .values("campaign__name", "campaign__slug")
        .annotate(users=Count("user_id", distinct=True))
        .order_by("campaign__name")
    )
    return [
        {
            "campaign": r["campaign__name"],
            "slug": r["campaign__slug"],
            "users": r["users"],
            "share": rate(r["users"], known),
        }
        for r in rows
    ]


def _campaigns_run(brand, mode) -> list:
    """The brand's campaigns of `mode` that have run (a short list: moments are then read through
    their (campaign, earned_at) index, not by brand)."""
    return list(Campaign.objects.filter(brand=brand).filter(HAS_RUN, mode=mode).values_list("pk", flat=True))


def _brand_spent(brand, mode, period) -> Decimal:
    """The brand's spend of one mode in one month, from its counter."""
    spent = BrandSpend.objects.filter(brand=brand).filter(mode=mode, period=period).values_list("spent", flat=True)
    return money(spent.first())


def brand_cap_forecast(
    *, brand, mode: str, spent: Decimal, period: date, now: datetime, campaigns=None, campaign_spent=None
) -> Forecast | None:
    """The brand's cap at this month's pace — reachable only within what its active campaigns'
    budgets still leave: a cap above their sum is never reached. A step is the smallest CPA.
    `campaigns` and `campaign_spent` ({campaign id: spent}) when the caller has read them already."""
    if campaigns is None:
        campaigns = Campaign.objects.filter(brand=brand, mode=mode, status=Campaign.Status.ACTIVE)
    active = [campaign for campaign in campaigns if campaign.status == Campaign.Status.ACTIVE]
    step = min((campaign.cpa for campaign in active), default=Decimal("3.00"))
    forecast = cap_forecast(spent=spent, cap=brand.monthly_cap, step=step, period=period, now=now)
    if forecast is None or forecast.reached or forecast.on is None:
        return forecast
    if campaign_spent is None:
        campaign_spent = _campaign_spent(brand, period)
    room = sum((max(c.monthly_budget - money(campaign_spent.get(c.pk)), Decimal("0")) for c in active), Decimal("0"))
    return forecast if spent + room >= brand.monthly_cap - step else Forecast()


def _campaign_spent(brand, period) -> dict:
    """{campaign id: spent} of the brand's campaigns in one month, from the counters."""
    return dict(CampaignSpend.objects.filter(brand=brand, period=period).values_list("campaign_id", "spent"))


def known_users(brand, mode) -> int:
    """Distinct user ids the brand has reported in `mode`, read through an index and cached a while."""
    key = f"reports:known-users:{brand.pk}:{mode}"
    known = cache.get(key)
    if known is None:
        known = Event.objects.filter(brand=brand, mode=mode).values("user_id").distinct().count()
        cache.set(key, known, KNOWN_USERS_CACHE_SECONDS)
    return known


# --- Dashboards -------------------------------------------------------------------------------


@dataclass
class CampaignLine:
    campaign: Campaign
    spent: Decimal
    cap_used: Decimal | None  # percent of its monthly budget
    earned_today: int
    earned_month: int
    forecast: Forecast | None


@dataclass
class BrandDashboard:
    now: datetime  # by the mode's clock
    period: date
    spent: Decimal
    cap: Decimal
    cap_used: Decimal | None
    forecast: Forecast | None
    campaigns: list[CampaignLine]
    credit_without_store: list[Campaign] = field(default_factory=list)
    reported_actions: list[dict] = field(default_factory=list)


def credit_without_store(brand, mode) -> list[Campaign]:
    """The brand's campaigns of `mode` (not ended) that give store credit while its reward store
    offers nothing to spend it on: its customers would hold credit they cannot use."""
    if store_items_on_sale(brand).exists():
        return []
    return list(
        Campaign.objects.filter(brand=brand)
        .filter(mode=mode, reward_links__item__kind=CatalogItem.Kind.CREDIT)
        .exclude(status=Campaign.Status.ENDED)
        .distinct()
        .order_by("name")
    )


REPORTED_ACTIONS_DAYS = 30


def reported_actions(brand, now: datetime | None = None) -> list[dict]:
    """The actions the brand's app reported in the last 30 days, most reported first, with their
    live and test events — each mode's 30 days by its own clock (`now`: the real one) — and the
    campaigns (either mode, any status) that watch each: an action no campaign watches is most
    often a typo in the app ("workout_complete")."""
    now = now or timezone.now()
    window = timedelta(days=REPORTED_ACTIONS_DAYS)
    live = Q(mode=Mode.LIVE, received_at__gt=now - window, received_at__lte=now)
    test_now = clock.mode_now(brand, Mode.TEST, now)
    test = Q(mode=Mode.TEST, received_at__gt=test_now - window, received_at__lte=test_now)
    rows = (
        Event.objects.filter(brand=brand)
        .filter(live | test)
        .values("action")
        .annotate(live=Count("pk", filter=Q(mode=Mode.LIVE)), test=Count("pk", filter=Q(mode=Mode.TEST)))
        .order_by("-live", "-test", "action")
    )
    watching = {}
    for campaign in Campaign.objects.filter(brand=brand).order_by("name"):
        watching.setdefault(campaign.action, []).append(campaign)
    return [{**row, "campaigns": watching.get(row["action"], [])} for row in rows]


def brand_dashboard(*, brand, mode: str, now: datetime | None = None) -> BrandDashboard:
    """This month for the brand's index page, in the console's mode (test mode's month is its test
    clock's): each campaign's spend against its cap, today's and the month's moments, and the
    forecasts. `now`: by the mode's clock (the real one's `real_now`, for the actions reported)."""
    real_now = now if mode == Mode.LIVE and now else timezone.now()
    now = now or clock.mode_now(brand, mode, real_now)
    period = month_of(now)
    start, _end = month_bounds(period)
    today = datetime.combine(now.date(), time.min, tzinfo=now.tzinfo)
    campaigns = list(Campaign.objects.filter(brand=brand).filter(HAS_RUN, mode=mode).order_by("name"))
    spent = _campaign_spent(brand, period)
    earned = {
        row["campaign_id"]: row
        for row in Moment.objects.filter(campaign__in=[c.pk for c in campaigns], mode=mode, earned_at__gte=start)
        .values("campaign_id")
        .annotate(month=Count("pk"), today=Count("pk", filter=Q(earned_at__gte=today)))
        .order_by()
    }
    brand_spent = _brand_spent(brand, mode, period)
    lines = []
    for campaign in campaigns:
        campaign_spent = money(spent.get(campaign.pk))
        counts = earned.get(campaign.pk, {})
        lines.append(
            CampaignLine(
                campaign=campaign,
                spent=campaign_spent,
                cap_used=rate(campaign_spent, campaign.monthly_budget),
                earned_today=counts.get("today", 0),
                earned_month=counts.get("month", 0),
                forecast=cap_forecast(
                    spent=campaign_spent, cap=campaign.monthly_budget, step=campaign.cpa, period=period, now=now
                )
                if campaign.status == Campaign.Status.ACTIVE
                else None,
            )
        )
    return BrandDashboard(
        now=now,
        period=period,
        spent=brand_spent,
        cap=brand.monthly_cap,
        cap_used=rate(brand_spent, brand.monthly_cap),
        forecast=brand_cap_forecast(
            brand=brand, mode=mode, spent=brand_spent, period=period, now=now, campaigns=campaigns, campaign_spent=spent
        ),
        campaigns=lines,
        credit_without_store=credit_without_store(brand, mode),
        reported_actions=reported_actions(brand, real_now),
    )


@dataclass
class OperatorDashboard:
    period: date
    spend_by_brand: list[dict]  # {brand, spent, cap}
    queue: list[dict]  # {status, orders, oldest: when the oldest was placed}
    low_codes: list[dict]  # {item, free}
    low_stock: list[CatalogItem]
    failing_endpoints: list  # brands whose webhook endpoint fails


def operator_dashboard(*, brands, now: datetime | None = None) -> OperatorDashboard:
    """Across brands, for the operator's index: where money goes this month and what needs a hand."""
    now = now or timezone.now()
    period = month_of(now)
    spent = dict(BrandSpend.objects.filter(period=period, mode=Mode.LIVE).values_list("brand_id", "spent"))
    spend_by_brand = sorted(
        ({"brand": b, "spent": money(spent.get(b.pk)), "cap": b.monthly_cap} for b in brands),
        key=lambda row: (-row["spent"], row["brand"].name),
    )
    queue = [
        {
            "status": row["status"],
            "label": Order.Status(row["status"]).label,
            "orders": row["orders"],
            "oldest": row["oldest"],
        }
        for row in Order.objects.filter(
            mode=Mode.LIVE, status__in=[Order.Status.PLACED, Order.Status.SHIPPED, Order.Status.FAILED]
        )
        .values("status")
        .annotate(orders=Count("pk"), oldest=Min("created_at"))
        .order_by("status")
    ]
    free_codes = dict(
        DigitalCode.objects.filter(order__isnull=True)
        .values("item_id")
        .annotate(free=Count("pk"))
        .values_list("item_id", "free")
    )
    low_codes = [
        {"item": item, "free": free_codes.get(item.pk, 0)}
        for item in CatalogItem.objects.filter(kind=CatalogItem.Kind.DIGITAL_CODE, active=True, fulfilment_url="")
        if free_codes.get(item.pk, 0) < LOW_CODES
    ]
    low_stock = list(
        CatalogItem.objects.filter(kind=CatalogItem.Kind.PHYSICAL, active=True, stock__lt=LOW_STOCK).order_by("stock")
    )
    failing = [b for b in brands if b.webhook_failing_since or b.webhook_disabled_at]
    return OperatorDashboard(
        period=period,
        spend_by_brand=spend_by_brand,
        queue=queue,
        low_codes=low_codes,
        low_stock=low_stock,
        failing_endpoints=failing,
    )
