"""Campaign reports, dashboards, forecasts, cap alerts and CSV exports (rewards/reports).

One scene with hand-counted answers across a month boundary (refunds, test mode, a donation
campaign, a second campaign run alongside): every figure is asserted as counted by hand and as
computed again from the raw rows."""

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone

from rewards.earning.services import EventInput, events_ingest
from rewards.models import (
    Campaign,
    CampaignSpend,
    CapAlert,
    Donation,
    Event,
    LedgerEntry,
    Moment,
    Progress,
)
from rewards.moments.services import moment_cancel
from rewards.periods import month_bounds, month_of, parse_month
from rewards.reports.selectors import (
    brand_cap_forecast,
    brand_dashboard,
    campaign_report,
    cap_forecast,
    operator_dashboard,
    rate,
)
from rewards.reports.services import cap_alerts_send
from tests.factories import (
    BrandFactory,
    CampaignFactory,
    CatalogItemFactory,
    CharityFactory,
    DigitalCodeFactory,
    MembershipFactory,
    OrderFactory,
    StoreItemFactory,
)

pytestmark = pytest.mark.django_db


def post(brand, when, *pairs, mode="live", action="workout"):
    """Report (user_id, action) events at `when`, each with its own event id."""
    events = [EventInput(event_id=uuid.uuid4().hex, user_id=user, action=act or action) for user, act in pairs]
    return events_ingest(brand=brand, mode=mode, events=events, now=when)


@pytest.fixture
def scene():
    """Last month: u1 and u2 complete the workouts (u1's moment claimed, u2's fulfilled); u2's third
    workout is the month's last second. This month: u3 completes at the first second and the brand
    cancels it (refund); u4 and u5 are on their way (2 and 1 of 3); u1 uploads a photo (the second
    challenge); u5 streams two hours (two donations of 1.00 given at once). A test key's three
    workouts count nowhere."""
    now = timezone.now()
    this_month, _ = month_bounds(month_of(now))
    last_month_day = this_month - timedelta(days=20)
    last_second = this_month - timedelta(seconds=1)
    first_second = this_month + timedelta(seconds=1)
    brand = BrandFactory(slug="scene", monthly_cap=Decimal("5000.00"))
    workouts = CampaignFactory(
        brand=brand,
        slug="workouts",
        name="Workouts",
        action="workout",
        threshold=Decimal("3"),
        cpa=Decimal("5.00"),
        monthly_budget=Decimal("100.00"),
        active=True,
    )
    photos = CampaignFactory(
        brand=brand,
        slug="photos",
        name="Photos",
        action="photo",
        threshold=Decimal("1"),
        cpa=Decimal("4.00"),
        active=True,
    )
    ocean = CharityFactory(name="Ocean")
    hour = CatalogItemFactory(kind="donation", charity=ocean, value=Decimal("1.00"), sku="DONATE-1")
    streaming = CampaignFactory(
        brand=brand,
        slug="hours",
        name="Hours",
        action="hour",
        threshold=Decimal("1"),
        cpa=Decimal("3.00"),
        rewards=[hour.sku],
        max_per_user=None,
        active=True,
    )
    post(brand, last_month_day, ("u1", None), ("u1", None), ("u1", None), ("u2", None), ("u2", None))
    post(brand, last_second, ("u2", None))
    post(brand, first_second, ("u3", None), ("u3", None), ("u3", None), ("u4", None), ("u4", None), ("u5", None))
    post(brand, first_second, ("u1", "photo"), ("u5", "hour"), ("u5", "hour"))
    post(brand, first_second, ("t1", None), ("t1", None), ("t1", None), mode="test")
    u1, u2, u3 = (Moment.objects.get(campaign=workouts, user_id=user, mode="live") for user in ("u1", "u2", "u3"))
    Moment.objects.filter(pk=u1.pk).update(status=Moment.Status.CLAIMED, claimed_at=last_month_day)
    Moment.objects.filter(pk=u2.pk).update(status=Moment.Status.FULFILLED, fulfilled_at=last_second)
    moment_cancel(moment=u3, reason="duplicate account", actor=None)
    return {
        "now": now,
        "brand": brand,
        "workouts": workouts,
        "photos": photos,
        "streaming": streaming,
        "this": month_of(now),
        "last": month_of(last_second),
        "last_month_day": last_month_day,
        "last_second": last_second,
    }


def test_this_months_report_as_counted_by_hand(scene):
    report = campaign_report(campaign=scene["workouts"], period=scene["this"], now=scene["now"])

    funnel = report.funnel
    assert (funnel.actions, funnel.in_progress, funnel.reached, funnel.earned) == (6, 2, 1, 1)
    assert (funnel.claimed, funnel.fulfilled) == (0, 0)  # u3's moment was cancelled
    assert report.completion_rate == Decimal("33.3")  # 1 reached, of 3 counting
    assert report.claim_rate == Decimal("0.0")
    assert (report.charges, report.refunds, report.shipping_fees, report.net_spend) == (
        Decimal("5.00"),
        Decimal("5.00"),
        Decimal("0.00"),
        Decimal("0.00"),
    )
    assert report.cost_per_completion == Decimal("0.00")
    assert report.campaign_spent == Decimal("0.00")  # the refund lowered this month's counter
    assert report.brand_spent == Decimal("10.00")  # photos 4.00 + two donations 3.00 each
    assert [(b["low"], b["users"]) for b in report.histogram if b["users"]] == [(30, 1), (60, 1)]
    assert sum(day["earned"] for day in report.daily) == 1
    assert report.known_users == 5  # u1…u5; the test key's t1 is no user of the brand's
    assert {(c["slug"], c["users"], c["share"]) for c in report.challenges} == {
        ("workouts", 1, Decimal("20.0")),
        ("photos", 1, Decimal("20.0")),
        ("hours", 1, Decimal("20.0")),
    }


def test_last_months_report_as_counted_by_hand(scene):
    report = campaign_report(campaign=scene["workouts"], period=scene["last"], now=scene["now"])

    funnel = report.funnel
    assert (funnel.actions, funnel.in_progress, funnel.reached, funnel.earned) == (6, None, 2, 2)
    assert (funnel.claimed, funnel.fulfilled) == (2, 1)
    assert report.claim_rate == Decimal("100.0")
    assert (report.charges, report.refunds, report.net_spend, report.cost_per_completion) == (
        Decimal("10.00"),
        Decimal("0.00"),
        Decimal("10.00"),
        Decimal("5.00"),
    )
    assert report.campaign_spent == Decimal("10.00")
    assert report.histogram == [] and report.campaign_forecast is None  # "now" figures: this month only
    assert report.completion_rate is None
    by_day = {day["day"]: day["earned"] for day in report.daily if day["earned"]}
    assert by_day == {scene["last_month_day"].date(): 1, scene["last_second"].date(): 1}


def test_a_campaign_counting_levels_reports_its_users_by_the_level_reached(client):
    now = timezone.now()
    brand = BrandFactory(slug="game")
    levels = CampaignFactory(
        brand=brand, slug="level-15", action="level", counting="max", threshold=Decimal("15"), active=True
    )
    reported = [("u1", 3), ("u1", 9), ("u1", 6), ("u2", 14), ("u2", 15), ("u3", 2)]
    events_ingest(
        brand=brand,
        mode="live",
        events=[
            EventInput(event_id=f"e{n}", user_id=user, action="level", quantity=Decimal(level))
            for n, (user, level) in enumerate(reported)
        ],
        now=now,
    )

    report = campaign_report(campaign=levels, period=month_of(now), now=now)

    # u1 is at level 9 (not 18: no moment), u2 reached 15 (one moment, not two for 29), u3 at level 2
    funnel = report.funnel
    assert (funnel.actions, funnel.in_progress, funnel.reached, funnel.earned) == (6, 2, 1, 1)
    assert report.completion_rate == Decimal("33.3")
    assert [(b["low"], b["users"]) for b in report.histogram if b["users"]] == [(10, 1), (60, 1)]
    client.force_login(MembershipFactory(brand=brand, role="analyst").user)
    html = client.get(report_url(levels)).content.decode()
    assert 'data-figure="in_progress">2<' in html
    assert 'data-figure="counting">A user\'s progress on level counts the highest value reported.<' in html


def test_donations_raised_per_charity(scene):
    report = campaign_report(campaign=scene["streaming"], period=scene["this"], now=scene["now"])

    assert report.donations == [{"charity": "Ocean", "month": Decimal("2.00"), "total": Decimal("2.00")}]
    assert report.funnel.earned == 2 and report.funnel.fulfilled == 2  # given at once


@pytest.mark.parametrize("month", ["this", "last"])
@pytest.mark.parametrize("campaign", ["workouts", "photos", "streaming"])
def test_every_figure_equals_the_same_figure_computed_from_the_raw_rows(scene, month, campaign):
    campaign, period = scene[campaign], scene[month]
    report = campaign_report(campaign=campaign, period=period, now=scene["now"])
    start, end = month_bounds(period)

    def in_month(moment):
        return moment is not None and start <= moment < end

    moments = [m for m in Moment.objects.filter(campaign=campaign) if m.mode == "live" and in_month(m.earned_at)]
    events = [e for e in Event.objects.filter(brand=campaign.brand) if e.mode == "live" and e.action == campaign.action]
    lines = [line for line in LedgerEntry.objects.filter(campaign=campaign) if line.period == period]
    total = {kind: sum((line.amount for line in lines if line.kind == kind), Decimal("0")) for kind in LedgerEntry.Kind}
    progress = [
        p
        for p in Progress.objects.filter(campaign=campaign)
        if p.mode == "live" and p.granted == 0 and 0 < p.count < campaign.threshold
    ]
    histogram = {}
    for p in progress:
        bucket = min(int(p.count * 10 / campaign.threshold), 9)
        histogram[bucket * 10] = histogram.get(bucket * 10, 0) + 1
    mine = {m.pk for m in moments}
    cost = sum(
        (
            line.amount
            for line in LedgerEntry.objects.filter(campaign=campaign).select_related("order")
            if line.moment_id in mine or (line.order_id and line.order.moment_id in mine)
        ),
        Decimal("0"),
    )
    known = {e.user_id for e in Event.objects.filter(brand=campaign.brand) if e.mode == "live"}
    completed = {}
    for m in Moment.objects.filter(brand=campaign.brand).select_related("campaign"):
        if m.mode == "live" and in_month(m.earned_at):
            completed.setdefault(m.campaign.slug, set()).add(m.user_id)

    assert report.funnel.actions == sum(1 for e in events if in_month(e.received_at))
    assert report.funnel.earned == len(moments)
    assert report.funnel.reached == len({m.user_id for m in moments})
    assert report.funnel.claimed == sum(1 for m in moments if m.status in {"claimed", "fulfilled"})
    assert report.funnel.fulfilled == sum(1 for m in moments if m.status == "fulfilled")
    assert report.funnel.in_progress == (len(progress) if month == "this" else None)
    reached = len({m.user_id for m in moments})
    if month == "this":
        assert report.completion_rate == rate(reached, reached + len(progress))
        assert {b["low"]: b["users"] for b in report.histogram if b["users"]} == histogram
    else:
        assert report.completion_rate is None and report.histogram == []  # "now" figures: this month only
    assert report.cost_per_completion == ((cost / len(moments)).quantize(Decimal("0.01")) if moments else None)
    assert report.known_users == len(known)
    assert {(c["slug"], c["users"], c["share"]) for c in report.challenges} == {
        (slug, len(users), rate(len(users), len(known))) for slug, users in completed.items()
    }
    assert report.charges == total["charge"] and report.refunds == -total["refund"]
    assert report.net_spend == sum(total.values(), Decimal("0"))
    spend = CampaignSpend.objects.filter(campaign=campaign, period=period).first()
    assert report.campaign_spent == (spend.spent if spend else Decimal("0.00"))
    assert sum(day["earned"] for day in report.daily) == len(moments)
    assert sum(day["spend"] for day in report.daily) == sum((m.cpa for m in moments), Decimal("0"))
    assert report.donations == [
        {
            "charity": name,
            "month": sum(
                (d.amount for d in donations if name == d.charity.name and in_month(d.created_at)), Decimal("0")
            ),
            "total": sum((d.amount for d in donations if name == d.charity.name), Decimal("0")),
        }
        for donations in [list(Donation.objects.filter(moment__campaign=campaign).select_related("charity"))]
        for name in sorted({d.charity.name for d in donations})
    ]


# --- Forecasts ---------------------------------------------------------------------------------


def test_the_forecast_follows_this_months_pace():
    period = month_of(datetime(2026, 6, 11, tzinfo=UTC))
    ten_days_in = datetime(2026, 6, 11, tzinfo=UTC)
    # 100 spent in 10 days: 10 a day; 150 left of 250 → 15 more days, the 26th
    on_pace = cap_forecast(spent=Decimal("100"), cap=Decimal("250"), step=Decimal("5"), period=period, now=ten_days_in)
    assert on_pace.on == datetime(2026, 6, 26).date() and not on_pace.reached
    slow = cap_forecast(spent=Decimal("100"), cap=Decimal("1000"), step=Decimal("5"), period=period, now=ten_days_in)
    assert slow.on is None and not slow.reached  # not before the month ends
    done = cap_forecast(spent=Decimal("247"), cap=Decimal("250"), step=Decimal("5"), period=period, now=ten_days_in)
    assert done.reached  # less than one CPA left
    assert (
        cap_forecast(spent=Decimal("0"), cap=Decimal("250"), step=Decimal("5"), period=period, now=ten_days_in).on
        is None
    )
    later = datetime(2026, 7, 2, tzinfo=UTC)
    assert cap_forecast(spent=Decimal("100"), cap=Decimal("250"), step=Decimal("5"), period=period, now=later) is None


def test_a_brand_cap_above_what_its_campaigns_can_spend_is_never_forecast():
    now = timezone.now()
    start, _ = month_bounds(month_of(now))
    brand = BrandFactory(slug="small-budget", monthly_cap=Decimal("15000.00"))
    CampaignFactory(
        brand=brand,
        action="level",
        threshold=Decimal("1"),
        cpa=Decimal("10.00"),
        monthly_budget=Decimal("100.00"),
        max_per_user=None,
        active=True,
    )
    post(brand, start + (now - start) / 2, *[(f"p{i}", "level") for i in range(6)])  # 60 by mid-way

    # at this pace 15,000 would be reached this month (in seconds on the 1st) — but the campaigns can spend 100
    assert (
        brand_cap_forecast(brand=brand, mode="live", spent=Decimal("60.00"), period=month_of(now), now=now).on is None
    )
    assert cap_forecast(spent=Decimal("60"), cap=Decimal("100"), step=Decimal("10"), period=month_of(now), now=now).on


def test_owners_get_one_email_when_a_cap_is_forecast_and_one_when_it_is_reached(settings):
    now = timezone.now()
    start, _ = month_bounds(month_of(now))
    brand = BrandFactory(slug="capped", monthly_cap=Decimal("15000.00"))
    owner = MembershipFactory(brand=brand, role="owner").user
    MembershipFactory(brand=brand, role="analyst")
    campaign = CampaignFactory(
        brand=brand,
        action="level",
        threshold=Decimal("1"),
        cpa=Decimal("10.00"),
        monthly_budget=Decimal("100.00"),
        max_per_user=None,
        active=True,
    )
    post(brand, start + (now - start) / 2, *[(f"p{i}", "level") for i in range(6)])  # 60 of 100 by mid-way

    assert cap_alerts_send(now=now) == 1  # at that pace 100 is reached before the month ends
    assert cap_alerts_send(now=now) == 0  # once
    assert [m.to for m in mail.outbox] == [[owner.email]]
    assert "will reach its monthly cap" in mail.outbox[0].subject or campaign.name in mail.outbox[0].subject

    post(brand, now, *[(f"q{i}", "level") for i in range(4)])  # 100 of 100
    assert cap_alerts_send(now=now) == 1
    assert cap_alerts_send(now=now) == 0
    assert "reached its monthly cap" in mail.outbox[1].subject
    assert set(CapAlert.objects.filter(brand=brand).values_list("kind", flat=True)) == {"forecast", "reached"}


# --- The console ------------------------------------------------------------------------------


def report_url(campaign, month=None):
    url = reverse("admin:rewards_campaignreport_change", args=[campaign.pk])
    return f"{url}?month={month:%Y-%m}" if month else url


@pytest.mark.parametrize("role", ["owner", "manager", "analyst"])
def test_every_role_reads_the_report_one_hop_from_the_campaign(scene, client, role):
    client.force_login(MembershipFactory(brand=scene["brand"], role=role).user)

    campaign_page = client.get(reverse("admin:rewards_campaign_change", args=[scene["workouts"].pk])).content.decode()
    assert report_url(scene["workouts"]) in campaign_page
    page = client.get(report_url(scene["workouts"]))

    assert page.status_code == 200
    html = page.content.decode()
    for figure, value in [("actions", "6"), ("reached", "1"), ("in_progress", "2"), ("refunds", "5.00 USD")]:
        assert f'data-figure="{figure}">{value}<' in html
    assert 'src="data:image/svg+xml' in html and "<script" not in html.split('id="content-main"')[1]
    assert 'data-table="daily"' in html  # the chart's numbers, as a table


def test_the_month_picker_shows_an_earlier_month_and_never_a_later_one(scene, client):
    client.force_login(MembershipFactory(brand=scene["brand"], role="analyst").user)

    html = client.get(report_url(scene["workouts"], scene["last"])).content.decode()
    assert 'data-figure="earned">2<' in html and 'data-figure="in_progress">—<' in html
    future = scene["this"].replace(year=scene["this"].year + 1)
    assert parse_month(f"{future:%Y-%m}", scene["now"]) == scene["this"]
    assert parse_month("not-a-month", scene["now"]) == scene["this"]


def test_another_brands_report_and_its_csvs_answer_404(scene, client):
    client.force_login(MembershipFactory(role="owner").user)  # of another brand

    for name in ("change", "moments_csv", "daily_csv"):
        url = reverse(f"admin:rewards_campaignreport_{name}", args=[scene["workouts"].pk])
        assert client.get(url).status_code == 404, name


def read_csv(response):
    assert isinstance(response, StreamingHttpResponse)  # streamed, never built in memory
    return list(csv.DictReader(io.StringIO(response.getvalue().decode())))


def test_the_moments_csv_streams_every_moment_with_plain_money_and_utc_times_and_no_person(scene, client):
    analyst = MembershipFactory(brand=scene["brand"], role="analyst").user
    client.force_login(analyst)

    rows = read_csv(client.get(reverse("admin:rewards_campaignreport_moments_csv", args=[scene["workouts"].pk])))

    assert len(rows) == Moment.objects.filter(campaign=scene["workouts"]).count() == 3  # test mode has its own
    assert {row["mode"] for row in rows} == {"live"}
    assert {row["cpa_usd"] for row in rows} == {"5.00"}
    assert all(row["earned_at"].endswith("Z") and datetime.fromisoformat(row["earned_at"]) for row in rows)
    assert not any("@" in value for row in rows for value in row.values())
    assert "account" not in rows[0] and "email" not in rows[0]


def test_the_daily_csv_has_a_line_per_day_of_the_month(scene, client):
    client.force_login(MembershipFactory(brand=scene["brand"], role="analyst").user)
    url = reverse("admin:rewards_campaignreport_daily_csv", args=[scene["workouts"].pk])

    rows = read_csv(client.get(f"{url}?month={scene['last']:%Y-%m}"))

    start, end = month_bounds(scene["last"])
    assert len(rows) == (end - start).days
    assert sum(int(row["moments_earned"]) for row in rows) == 2
    assert sum(Decimal(row["spend_usd"]) for row in rows) == Decimal("10.00")


def test_the_ledger_csv_is_the_brands_and_one_month_of_it_on_request(scene, client, operator):
    client.force_login(MembershipFactory(brand=scene["brand"], role="analyst").user)
    other = CampaignFactory(active=True)
    post(other.brand, timezone.now(), *[("o1", None)] * 3, action=other.action)  # one moment, one charge
    url = reverse("admin:rewards_ledgerentry_export")

    rows = read_csv(client.get(url))
    assert len(rows) == LedgerEntry.objects.filter(brand=scene["brand"]).count()  # not the other brand's
    assert "brand" not in rows[0] and all(row["created_at"].endswith("Z") for row in rows)
    assert {row["amount_usd"] for row in rows} >= {"5.00", "-5.00"}  # plain decimals, refunds negative
    start, end = month_bounds(scene["last"])
    last_month = read_csv(client.get(f"{url}?period__gte={start:%Y-%m-%d}&period__lt={end:%Y-%m-%d}"))
    assert {row["period"] for row in last_month} == {scene["last"].isoformat()} and len(last_month) == 2
    client.force_login(operator)
    assert {row["brand"] for row in read_csv(client.get(url))} == {"scene", other.brand.slug}


def test_the_brands_index_shows_each_campaign_this_month(scene, client):
    client.force_login(MembershipFactory(brand=scene["brand"], role="analyst").user)
    dashboard = brand_dashboard(brand=scene["brand"], mode="live", now=scene["now"])

    lines = {line.campaign.slug: line for line in dashboard.campaigns}
    assert (lines["photos"].spent, lines["photos"].earned_month) == (Decimal("4.00"), 1)
    assert (lines["hours"].spent, lines["hours"].earned_month) == (Decimal("6.00"), 2)
    assert lines["workouts"].earned_month == 1 and dashboard.spent == Decimal("10.00")
    html = client.get(reverse("admin:index")).content.decode()
    assert 'data-dashboard="brand"' in html
    for slug in ("photos", "hours", "workouts"):
        assert f'data-campaign="{slug}"' in html
    assert report_url(scene["photos"]) in html


def test_a_brand_giving_credit_with_an_empty_store_is_warned_on_its_index(client):
    brand = BrandFactory(slug="credit-brand")
    credit = CatalogItemFactory(kind="credit", value=Decimal("5.00"), cost=Decimal("5.00"))
    gives_credit = CampaignFactory(brand=brand, name="Level fifteen", rewards=[credit.sku], active=True)
    CampaignFactory(brand=brand, name="Codes only", active=True)  # no credit: not named
    ended = CampaignFactory(brand=brand, name="Old credit", rewards=[credit.sku])
    Campaign.objects.filter(pk=ended.pk).update(status=Campaign.Status.ENDED)
    StoreItemFactory(brand=brand, active=False)  # a retired item stocks nothing
    client.force_login(MembershipFactory(brand=brand, role="owner").user)

    warned = client.get(reverse("admin:index")).content.decode()
    assert [c.name for c in brand_dashboard(brand=brand, mode="live").credit_without_store] == ["Level fifteen"]
    StoreItemFactory(brand=brand, item__kind="digital_code")
    stocked = client.get(reverse("admin:index")).content.decode()

    assert 'data-warning="credit-without-store"' in warned
    assert reverse("admin:rewards_campaign_change", args=[gives_credit.pk]) in warned
    assert "Codes only" not in warned.split('data-warning="credit-without-store"')[1].split("</div>")[0]
    assert 'data-warning="credit-without-store"' not in stocked
    assert brand_dashboard(brand=brand, mode="live").credit_without_store == []


def test_the_brands_index_lists_the_actions_reported_and_flags_one_no_campaign_watches(client):
    brand = BrandFactory(slug="typo-brand")
    watched = CampaignFactory(brand=brand, name="Thirty workouts", action="workout_completed", active=True)
    CampaignFactory(brand=brand, name="Draft too", action="workout_completed")  # any status watches
    now = timezone.now()
    post(brand, now, ("u1", None), ("u1", None), ("u1", None), action="workout_completed")
    post(brand, now, ("u1", None), action="workout_completed", mode="test")
    post(brand, now, ("u2", None), ("u2", None), action="workout_complete")
    post(brand, now - timedelta(days=31), ("u3", None), action="long_ago")
    client.force_login(MembershipFactory(brand=brand, role="analyst").user)

    rows = {row["action"]: row for row in brand_dashboard(brand=brand, mode="live", now=now).reported_actions}
    html = client.get(reverse("admin:index")).content.decode()

    assert set(rows) == {"workout_completed", "workout_complete"}  # the last 30 days only
    assert (rows["workout_completed"]["live"], rows["workout_completed"]["test"]) == (3, 1)
    assert [c.name for c in rows["workout_completed"]["campaigns"]] == ["Draft too", "Thirty workouts"]
    assert (rows["workout_complete"]["live"], rows["workout_complete"]["campaigns"]) == (2, [])
    typo = html.split('data-action="workout_complete"')[1].split("</tr>")[0]
    assert "No campaign watches this action" in typo
    watched_row = html.split('data-action="workout_completed"')[1].split("</tr>")[0]
    assert reverse("admin:rewards_campaign_change", args=[watched.pk]) in watched_row


def test_the_operators_index_shows_spend_queue_low_pools_and_failing_endpoints(scene, client, operator):
    failing = BrandFactory(slug="failing", webhook_url="https://hooks.example.com/x")
    failing.webhook_failing_since = timezone.now() - timedelta(days=2)
    failing.save()
    card = CatalogItemFactory(kind="digital_code", sku="GC-LOW")
    DigitalCodeFactory(item=card)
    OrderFactory(brand=scene["brand"])
    client.force_login(operator)

    figures = operator_dashboard(brands=[scene["brand"], failing], now=scene["now"])
    assert figures.spend_by_brand[0]["spent"] == Decimal("10.00")
    assert {row["status"]: row["orders"] for row in figures.queue} == {"placed": 1}
    assert {row["item"].sku: row["free"] for row in figures.low_codes}["GC-LOW"] == 1
    assert figures.failing_endpoints == [failing]
    html = client.get(reverse("admin:index")).content.decode()
    assert 'data-dashboard="operator"' in html
    for table in ("spend_by_brand", "queue", "running_low", "failing_endpoints"):
        assert f'data-table="{table}"' in html
    # every link behind the figures opens its list
    links = [part.split('"')[0] for part in html.split('data-dashboard="operator"')[1].split('href="')[1:]]
    assert links
    for link in links:
        assert client.get(link.replace("&amp;", "&")).status_code == 200, link
