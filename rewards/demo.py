"""The catalog and the campaigns of the seed's scenarios (DESIGN.md §7), created idempotently, and
the weeks of events their brands' apps report (`activity_plan`, `activity_ingest`): the earning
side of the demo's activity. The storefront's demo claims, ships and spends what they earned."""

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.contrib.staticfiles import finders
from django.core.files import File
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from rewards.campaigns import services as campaigns
from rewards.campaigns.models import Campaign
from rewards.catalog import services as catalog
from rewards.catalog.models import CatalogItem, Charity, DigitalCode
from rewards.earning import services as earning
from rewards.earning.models import Event
from rewards.fields import Mode
from rewards.ledger.models import LedgerEntry
from rewards.moments.models import Donation, Moment
from tenants.models import Brand

OCEAN = "Ocean Cleanup Fund"
# Each demo item's picture, drawn for the demo (rewards/static/rewards/demo-catalog/<sku>.png):
# seed_demo uploads it as the operator uploads theirs.
DEMO_PICTURES = "rewards/demo-catalog/{sku}.png"

CATALOG = [
    # sku, name, kind, value, cost, extra
    ("GC-10-USD", "10 USD gift card", "digital_code", "10.00", "9.60", {}),
    ("GC-5-USD", "5 USD gift card", "digital_code", "5.00", "4.80", {}),
    ("BOTTLE-STEEL", "Insulated steel water bottle", "physical", "24.00", "9.00", {"stock": 400}),
    (
        "SPEAKER-SMART",
        "Smart speaker",
        "physical",
        "49.99",
        "31.00",
        {"stock": 150, "countries": ["US", "GB", "DE", "FR", "KR", "TH", "JP", "CA"]},
    ),
    ("CREDIT-2", "2 USD reward store credit", "credit", "2.00", "2.00", {}),
    ("CREDIT-5", "5 USD reward store credit", "credit", "5.00", "5.00", {}),
    ("CREDIT-25", "25 USD reward store credit", "credit", "25.00", "25.00", {}),
    ("DONATE-OCEAN-1", "1 USD to the Ocean Cleanup Fund", "donation", "1.00", "1.00", {"charity": OCEAN}),
    ("DATA-PASS-5GB", "5 GB mobile data pass", "digital_code", "8.00", "2.00", {}),
    ("EARBUDS", "Wireless earbuds", "physical", "29.00", "14.00", {"stock": 80}),
    # New to the catalog, barely stocked yet: the operator's front page shows them running low.
    ("GC-25-USD", "25 USD gift card", "digital_code", "25.00", "24.00", {}),
    ("TOTE-BAG", "Canvas tote bag", "physical", "12.00", "4.00", {"stock": 6}),
]
# Demo codes for the digital items (enough for the large demo's orders): the operator uploads real ones.
DEMO_CODES_PER_ITEM = 500
DEMO_CODES = {"GC-25-USD": 12}  # a pool the operator has only begun to fill
# How long ago the telco's five-week tournament began (at least): the demo catches it in its fourth
# stage, or its fifth late in a month, as it began before the month did.
TOURNAMENT_BEGAN = timedelta(weeks=3)


def _attach_picture(item: CatalogItem) -> None:
    path = finders.find(DEMO_PICTURES.format(sku=item.sku))
    if path:
        with open(path, "rb") as picture:
            item.image.save(f"{item.sku.lower()}.png", File(picture), save=False)
        # The picture alone: the stock on this copy predates the stock ledger's opening line.
        item.save(update_fields=["image"])


def _campaigns(now):
    month_start = datetime.combine(now.astimezone(UTC).date().replace(day=1), time.min, tzinfo=UTC)
    tournament_start = min(now - TOURNAMENT_BEGAN, month_start - timedelta(days=2))
    return {
        "fitlife": [
            dict(
                slug="thirty-workouts",
                name="30 workouts",
                action="workout_completed",
                threshold=30,
                rewards=["BOTTLE-STEEL", "GC-10-USD"],
                cpa="8.00",
            ),
        ],
        "daily-courier": [
            dict(
                slug="subscribe-speaker",
                name="Subscribe, get a smart speaker",
                action="subscription_started",
                threshold=1,
                rewards=["SPEAKER-SMART"],
                cpa="45.00",
                # 50 speakers a month: the demo's subscribers use it up (the campaign at its cap).
                monthly_budget="2250.00",
            ),
        ],
        "questforge": [
            dict(
                slug="level-15",
                name="Reach level 15",
                action="level_reached",
                threshold=15,
                rewards=["CREDIT-5"],
                cpa="6.00",
                # 100 players a month: the demo's 90 this month bring it close to its cap.
                monthly_budget="600.00",
            ),
        ],
        "nimbus-mobile": [
            dict(
                slug=f"challenge-{action.replace('_', '-')}",
                name=name,
                action=action,
                threshold=1,
                rewards=["CREDIT-2"],
                cpa="3.00",
                max_per_user=5,
                starts_at=tournament_start,
                ends_at=tournament_start + timedelta(weeks=5),
            )
            for action, name in [
                ("friend_referred", "Tournament: refer a friend"),
                ("media_uploaded", "Tournament: upload a photo or video"),
                ("match_predicted", "Tournament: predict a match winner"),
            ]
        ],
        "streambox": [
            dict(
                slug="first-1000-ten-hours",
                name="First 1,000 to stream 10 hours",
                action="hours_streamed",
                threshold=10,
                rewards=["CREDIT-25"],
                cpa="20.00",
                max_moments=1000,
            ),
            dict(
                slug="ocean-hours",
                name="Every hour streamed gives 1 USD to the ocean",
                action="hours_streamed",
                threshold=1,
                rewards=["DONATE-OCEAN-1"],
                cpa="3.00",
                max_per_user=None,
            ),
        ],
    }


def seed_rewards() -> None:
    """Create what is missing, change nothing that exists."""
    with transaction.atomic():
        charity, _ = Charity.objects.get_or_create(name=OCEAN, defaults={"website": "https://ocean.example"})
        for sku, name, kind, value, cost, extra in CATALOG:
            defaults = {"name": name, "kind": kind, "value": Decimal(value), "cost": Decimal(cost), **extra}
            if "charity" in defaults:
                defaults["charity"] = charity
            opening = defaults.pop("stock", 0)
            item, created = CatalogItem.objects.get_or_create(
                sku=sku, defaults={**defaults, "stock": 0 if kind == CatalogItem.Kind.PHYSICAL else None}
            )
            if created:
                # Through the stock ledger, like the operator's.
                catalog.stock_open(item=item, count=opening, actor=None)
            if not item.image:
                _attach_picture(item)
            if item.kind == CatalogItem.Kind.DIGITAL_CODE:
                pool = DEMO_CODES.get(sku, DEMO_CODES_PER_ITEM)
                codes = {f"DEMO-{sku}-{number:04d}" for number in range(1, pool + 1)}
                codes -= set(DigitalCode.objects.filter(item=item, code__in=codes).values_list("code", flat=True))
                DigitalCode.objects.bulk_create(DigitalCode(item=item, code=code) for code in sorted(codes))
        for slug, specs in _campaigns(timezone.now()).items():
            brand = Brand.objects.get(slug=slug)
            # Each scenario live, and its twin in test mode, for the demo's test keys to try.
            for mode, data in ((mode, data) for data in specs for mode in (Mode.LIVE, Mode.TEST)):
                if Campaign.objects.filter(brand=brand).filter(mode=mode, slug=data["slug"]).exists():
                    continue
                data = {**data, "threshold": Decimal(data["threshold"]), "cpa": Decimal(data["cpa"])}
                if "monthly_budget" in data:
                    data["monthly_budget"] = Decimal(data["monthly_budget"])
                campaign = campaigns.campaign_create(brand=brand, mode=mode, data=data, actor=None)
                campaigns.campaign_activate(campaign=campaign, actor=None)


# --- Weeks of activity ------------------------------------------------------------------------

# Every generated event's id starts with this: finding one for a brand says its activity was made.
ACTIVITY_PREFIX = "demo-activity-"
SIZES = {"small": 1, "large": 12}  # how many more users the large demo has
WINDOW_DAYS = 35  # five weeks, today included
BATCH = 500  # events per ingestion call at most, as the API's batch endpoint takes them
# Where the brands' users are (every country the smart speaker ships to; none the policy excludes).
COUNTRIES = ["US"] * 6 + ["GB"] * 3 + ["CA"] * 2 + ["DE", "DE", "FR", "FR", "KR", "KR", "TH", "TH", "JP"]
# The Daily Courier's subscribers this month (more than the 50 its budget pays for) and before it.
COURIER_SUBSCRIBERS = (70, 30)
# QuestForge's players reaching level 15 this month: 90 of the 100 its budget pays for (90%).
QUESTFORGE_THIS_MONTH = 90


@dataclass(frozen=True)
class Planned:
    """One event of the plan: when the brand's app reports it, and what."""

    at: datetime
    user_id: str
    action: str
    quantity: Decimal = Decimal("1")
    country: str = ""
    properties: tuple = ()  # (name, value) pairs: a frozen dataclass's fields stay hashable

    def as_input(self, event_id: str) -> earning.EventInput:
        return earning.EventInput(
            event_id=event_id,
            user_id=self.user_id,
            action=self.action,
            quantity=self.quantity,
            occurred_at=self.at,
            country=self.country,
            properties=dict(self.properties),
        )


class Timeline:
    """The demo's five weeks, ending now: the days, how busy each is, and times on them (never
    after now). Busier toward today, and busiest in the current month, so that this month's
    reports have the most to show while the month before still has its own."""

    def __init__(self, now: datetime):
        self.now = now.astimezone(UTC)
        today = self.now.date()
        self.days = [today - timedelta(days=back) for back in range(WINDOW_DAYS - 1, -1, -1)]
        self.month_start = today.replace(day=1)
        self.current = [day for day in self.days if day >= self.month_start]
        self.earlier = [day for day in self.days if day < self.month_start]
        # Lift this month's days until they hold about 60% of the activity (at most fourfold).
        boost = min(4.0, max(1.0, 1.5 * len(self.earlier) / len(self.current)))
        midnight = datetime.combine(today, time.min, tzinfo=UTC)
        today_share = max(0.3, (self.now - midnight).total_seconds() / 86400)
        self.weight = {}
        for index, day in enumerate(self.days):
            weight = 0.55 + 0.45 * index / (WINDOW_DAYS - 1)  # a campaign gathering pace
            weight *= 1.15 if day.weekday() >= 5 else 1.0
            weight *= boost if day >= self.month_start else 1.0
            self.weight[day] = weight * (today_share if day == today else 1.0)
        mean = sum(self.weight.values()) / len(self.weight)
        self.busy = {day: weight / mean for day, weight in self.weight.items()}  # 1.0: an average day

    def index(self, day: date) -> int:
        return self.days.index(day)

    def pick_day(self, rng: random.Random, days: list[date] | None = None) -> date:
        days = days or self.days
        return rng.choices(days, weights=[self.weight[day] for day in days])[0]

    def days_before(self, day: date, count: int) -> list[date]:
        """The `count` days before `day`, oldest first (a journey may have begun before the window)."""
        return [day - timedelta(days=back) for back in range(count, 0, -1)]

    def spread(self, days: list[date], count: int) -> list[date]:
        """`count` days taken evenly from `days`, in order (so each day gets its share)."""
        return [days[n * len(days) // count] for n in range(count)]

    def time_on(self, rng: random.Random, day: date, after: datetime | None = None) -> datetime:
        """A time on `day` (in the day's waking hours, or since midnight today), after `after`,
        never after now."""
        low = datetime.combine(day, time(7), tzinfo=UTC)
        high = datetime.combine(day, time(23), tzinfo=UTC)
        if day == self.now.date():
            low, high = datetime.combine(day, time.min, tzinfo=UTC), self.now - timedelta(seconds=1)
        if after is not None:
            low = max(low, after + timedelta(seconds=1))
            high = max(high, low)
        high = max(min(high, self.now - timedelta(seconds=1)), low)
        if low >= high:
            return min(low, self.now)
        return low + timedelta(seconds=rng.uniform(0, (high - low).total_seconds()))

    def last_days_this_month(self, count: int = 3) -> list[date]:
        """Up to the last `count` days of this month, today last: the days a brand's moments show."""
        return self.current[-count:]


def _user(prefix: str, number: int) -> str:
    return f"{prefix}-{number:05d}"


def _plan_fitlife(rng: random.Random, timeline: Timeline, scale: int, **_) -> list[Planned]:
    """Members working out: about 40% reach 30 workouts (most of them keep going), the rest are
    on their way or stopped."""
    events = []
    members = 45 * scale
    completers = round(members * 0.4)
    # Some reach it on each of this month's last days, and some last month.
    forced = timeline.last_days_this_month() + [timeline.pick_day(rng, timeline.earlier) for _ in range(2)]
    for number in range(1, members + 1):
        user, country = _user("fit", number), rng.choice(COUNTRIES)
        if number <= completers:
            done = forced[number - 1] if number <= len(forced) else timeline.pick_day(rng)
            at = timeline.index(done)
            before = timeline.days_before(done, min(rng.randint(14, 34), at + 14))  # two weeks at least
            days = sorted(rng.choices(before, k=29)) + [done]
            if rng.random() < 0.85:  # most who reach 30 keep using the app
                pace = 29 / len(before)
                days += [day for day in timeline.days[at + 1 :] if rng.random() < pace]
        else:
            start = rng.randrange(len(timeline.days))
            pace = rng.uniform(0.2, 0.8)
            stop = rng.randrange(start, len(timeline.days) + 8)  # some stopped, most still at it
            days = [
                day for day in timeline.days[start : stop + 1] if rng.random() < min(1.0, pace * timeline.busy[day])
            ]
            days = days[:29]
        times = sorted(timeline.time_on(rng, day) for day in days)
        for at in times:
            minutes = rng.choice([20, 30, 30, 45, 45, 60])
            events.append(Planned(at, user, "workout_completed", country=country, properties=(("minutes", minutes),)))
    return events


def _plan_daily_courier(rng: random.Random, timeline: Timeline, scale: int, **_) -> list[Planned]:
    """Readers subscribing: last month's within the budget, this month's more than it pays for."""
    now_count, before_count = (count * scale for count in COURIER_SUBSCRIBERS)
    days = [timeline.pick_day(rng, timeline.earlier) for _ in range(before_count)]
    days += timeline.spread(timeline.current, now_count)  # every day of the month its share
    events = []
    for number, day in enumerate(days, start=1):
        plan = rng.choice(["digital", "digital", "digital", "print"])
        at, user = timeline.time_on(rng, day), _user("reader", number)
        properties = (("plan", plan),)
        events.append(Planned(at, user, "subscription_started", country=rng.choice(COUNTRIES), properties=properties))
    return events


def _plan_questforge(rng: random.Random, timeline: Timeline, scale: int, **_) -> list[Planned]:
    """Players levelling up, a few levels a session (the event's quantity): exactly
    QUESTFORGE_THIS_MONTH reach level 15 this month (its budget nearly spent), some did last month,
    many are on their way."""
    completions = timeline.spread(timeline.current, QUESTFORGE_THIS_MONTH)
    completions += [timeline.pick_day(rng, timeline.earlier) for _ in range(min(25 * scale, 90))]
    events, number = [], 0
    for done in completions:
        number += 1
        at = timeline.index(done)
        gains = _level_gains(rng, 15)
        before = [*timeline.days_before(done, min(rng.randint(4, 24), at + 7)), done]
        days = sorted([*rng.choices(before, k=len(gains) - 1), done])  # level 15 on `done`
        later = timeline.days[at + 1 :]
        if later and rng.random() < 0.6:  # and most keep playing
            more = rng.randint(1, 4)
            gains += _level_gains(rng, more)
            days += sorted(rng.choices(later, k=len(gains) - len(days)))
        events += _levels(rng, timeline, _user("player", number), days, gains)
    for _ in range(80 * scale):
        number += 1
        start = rng.randrange(len(timeline.days))
        gains = _level_gains(rng, rng.randint(1, 14))
        days = sorted(rng.choices(timeline.days[start:], k=len(gains)))
        events += _levels(rng, timeline, _user("player", number), days, gains)
    return events


def _level_gains(rng, levels: int) -> list[int]:
    """`levels` split into sessions of one to three levels."""
    gains = []
    while levels > 0:
        gains.append(min(levels, rng.choice([1, 1, 2, 2, 3])))
        levels -= gains[-1]
    return gains


def _levels(rng, timeline, user, days, gains) -> list[Planned]:
    """A player's sessions on these days, in order, each reporting the levels it gained."""
    country = rng.choice(COUNTRIES)
    times = sorted(timeline.time_on(rng, day) for day in days)
    events, level = [], 0
    for at, gain in zip(times, gains, strict=True):
        level += gain
        events.append(Planned(at, user, "level_reached", Decimal(gain), country, (("level", level),)))
    return events


def _plan_nimbus(rng: random.Random, timeline: Timeline, scale: int, *, tournament_start: datetime, **_) -> list:
    """Subscribers joining the tournament, then taking its challenges stage by stage (a stage a
    week): predicting a match most often, uploading a photo or video, referring a friend."""
    challenges = [("match_predicted", 0.7), ("media_uploaded", 0.45), ("friend_referred", 0.25)]
    days = [day for day in timeline.days if day >= tournament_start.date()]
    opening_week = {day: 2.0 if (day - days[0]).days < 7 else 1.0 for day in days}

    def stage_of(day):
        return (day - days[0]).days // 7 + 1

    def joined(user, day):
        at = timeline.time_on(rng, day, after=tournament_start if day == days[0] else None)
        return at, Planned(at, user, "tournament_joined", country="KR" if rng.random() < 0.4 else "TH")

    events = []
    registered = 120 * scale
    for number in range(1, registered + 1):
        user = _user("nim", number)
        join_day = rng.choices(days, weights=[timeline.weight[d] * opening_week[d] for d in days])[0]
        join_at, event = joined(user, join_day)
        events.append(event)
        keen = rng.uniform(0.5, 1.2)
        for stage in range(stage_of(join_day), stage_of(days[-1]) + 1):
            stage_days = [d for d in days if d >= join_day and stage_of(d) == stage]
            elapsed = len([d for d in days if stage_of(d) == stage]) / 7  # the stage under way: its days so far
            for action, chance in challenges:
                if stage_days and rng.random() < chance * keen * elapsed:
                    day = rng.choice(stage_days)
                    at = timeline.time_on(rng, day, after=join_at if day == join_day else None)
                    events.append(Planned(at, user, action, country=event.country, properties=(("stage", stage),)))
    # Joiners who predict a match at once: on the opening day (last month's) and on each of this
    # month's last days, so both months have the tournament's moments.
    for day in [days[0], *timeline.last_days_this_month()]:
        registered += 1
        user = _user("nim", registered)
        join_at, event = joined(user, day)
        at = timeline.time_on(rng, day, after=join_at)
        properties = (("stage", stage_of(day)),)
        events += [event, Planned(at, user, "match_predicted", country=event.country, properties=properties)]
    return events


def _plan_streambox(rng: random.Random, timeline: Timeline, scale: int, **_) -> list[Planned]:
    """Viewers streaming a few hours some evenings: every hour gives 1 USD to the ocean, and those
    who reach 10 hours earn 25 USD of credit (the first 1,000)."""
    hours = [Decimal(h) for h in ("0.5", "1", "1", "1.5", "2", "2", "2.5", "3", "4")]
    events, viewers = [], 60 * scale
    for number in range(1, viewers + 1):
        user, country = _user("sbx", number), rng.choice(COUNTRIES)
        start = rng.randrange(len(timeline.days) - 1)
        habit = rng.uniform(0.12, 0.5)
        for day in timeline.days[start:]:
            if rng.random() < min(1.0, habit * timeline.busy[day]):
                events.append(Planned(timeline.time_on(rng, day), user, "hours_streamed", rng.choice(hours), country))
    for day in [timeline.earlier[-1], *timeline.last_days_this_month()]:  # both months have donations
        viewers += 1
        at = timeline.time_on(rng, day)
        events.append(Planned(at, _user("sbx", viewers), "hours_streamed", Decimal("2"), rng.choice(COUNTRIES)))
    return events


PLANS = {
    "fitlife": _plan_fitlife,
    "daily-courier": _plan_daily_courier,
    "questforge": _plan_questforge,
    "nimbus-mobile": _plan_nimbus,
    "streambox": _plan_streambox,
}


def activity_done(brand: Brand) -> bool:
    """Whether the brand's demo activity was generated (by an earlier run)."""
    return Event.objects.filter(brand=brand).filter(event_id__startswith=ACTIVITY_PREFIX).exists()


def activity_plan(*, brand: Brand, timeline: Timeline, size: str, seed: str = "moments-demo") -> list[Planned]:
    """The brand's events over the timeline, oldest first: deterministic for a seed, size and day."""
    rng = random.Random(f"{seed}:{brand.slug}:{size}")  # nosec B311  # demo data, the same every run: no secret
    extra = {}
    if brand.slug == "nimbus-mobile":
        starts = (
            Campaign.objects.filter(brand=brand)
            .filter(mode=Mode.LIVE, action="match_predicted")
            .values_list("starts_at", flat=True)
        )
        extra["tournament_start"] = max(starts.first() or timeline.now, timeline.now - timedelta(days=WINDOW_DAYS - 1))
    events = PLANS[brand.slug](rng, timeline, SIZES[size], **extra)
    return sorted(events, key=lambda event: (event.at, event.user_id))


def activity_ingest(*, brand: Brand, events: list[Planned], advance: Callable[[int], None] | None = None) -> None:
    """Send the plan through the real ingestion, as the brand's app would have: in batches of the
    events of a few hours, each at its own time (`now`), so moments are earned, charged against
    that day's month and capped as they would have been. Ids carry ACTIVITY_PREFIX."""
    batches, current, key = [], [], None
    for number, event in enumerate(events, start=1):
        event_key = (event.at.date(), event.at.hour // 6)
        if current and (event_key != key or len(current) == BATCH):
            batches.append(current)
            current = []
        key = event_key
        current.append(event.as_input(f"{ACTIVITY_PREFIX}{number:06d}"))
    if current:
        batches.append(current)
    for batch in batches:
        earning.events_ingest(brand=brand, mode="live", events=batch, now=batch[-1].occurred_at)
        if advance:
            advance(len(batch))
    # What the ingestion wrote "now" (a donation, a charge line) happened on the simulated day.
    generated = Moment.objects.filter(brand=brand).filter(event__event_id__startswith=ACTIVITY_PREFIX)
    earned_at = Subquery(Moment.objects.filter(pk=OuterRef("moment_id")).values("earned_at")[:1])
    Donation.objects.filter(brand=brand).filter(moment__in=generated).update(created_at=earned_at)
    LedgerEntry.objects.filter(brand=brand).filter(kind=LedgerEntry.Kind.CHARGE, moment__in=generated).update(
        created_at=earned_at
    )
