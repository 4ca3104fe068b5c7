"""The grant rules of DESIGN.md §3-§6, checked as properties over random event sequences.

events_ingest is driven directly (one event at a time and in batches) with a brand and
campaigns made by the factories. Each hypothesis example builds a brand of its own (a unique
slug), so examples never see each other's rows even though they share the test's transaction.

The properties are checked two ways: rule by rule against the running totals (counts, moments
due, caps, ledger against counters, replays), and answer by answer against a small reference
model of §4-§5 (`Model` below) which walks the events in order.
Runs on SQLite and PostgreSQL alike.
"""

import dataclasses
import itertools
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import ROUND_FLOOR, Decimal

import pytest
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, example, given, settings
from hypothesis import event as tally
from hypothesis import strategies as st
from rest_framework.test import APIClient

from rewards.catalog.selectors import platform_policy
from rewards.earning.services import EventInput, events_ingest
from rewards.errors import InvalidState
from rewards.models import BrandSpend, Campaign, CampaignSpend, Event, LedgerEntry, Moment, Progress
from rewards.moments.services import moment_cancel
from rewards.periods import month_of
from tenants import services as tenant_services
from tests.factories import ApiKeyFactory, BrandFactory, CampaignFactory, CatalogItemFactory

pytestmark = pytest.mark.django_db

ACTIONS = ["run", "swim"]
USERS = ["u1", "u2", "u3"]
REFUSALS = {"campaign_cap", "brand_cap", "campaign_full", "country_excluded"}
_brands = itertools.count(1)


# --- scenarios --------------------------------------------------------------------------------


def cents(low, high):
    return st.integers(low, high).map(lambda n: Decimal(n) / 100)


thresholds = st.one_of(st.integers(1, 4).map(Decimal), st.integers(250, 4000).map(lambda n: Decimal(n) / 1000))
quantities = st.one_of(st.integers(1, 3).map(Decimal), st.integers(1, 3000).map(lambda n: Decimal(n) / 1000))


@dataclass(frozen=True)
class CampaignSpec:
    action: str
    threshold: Decimal
    cpa: Decimal
    budget_cpas: int  # the monthly budget, in CPAs
    max_per_user: int | None
    max_moments: int | None
    excluded: tuple = ()
    counting: str = "sum"  # or "max": the count is the highest quantity reported (a level)


@dataclass(frozen=True)
class Op:
    """A new event, or a repeat of the `of`-th new event so far: the same body, or another one."""

    kind: str  # "new" | "replay" | "conflict"
    user: str = ""
    action: str = ""
    quantity: Decimal = Decimal("1")
    country: str = ""
    of: int = 0


def campaign_specs(prices):
    return st.builds(
        CampaignSpec,
        action=st.sampled_from(ACTIONS),
        threshold=thresholds,
        cpa=prices,
        budget_cpas=st.integers(1, 8),
        max_per_user=st.none() | st.integers(1, 3),
        max_moments=st.none() | st.integers(1, 4),
        excluded=st.sampled_from([(), ("FR",)]),
        counting=st.sampled_from(["sum", "max"]),
    )


new_ops = st.builds(
    Op,
    kind=st.just("new"),
    user=st.sampled_from(USERS),
    action=st.sampled_from(ACTIONS),
    quantity=quantities,
    # ZA is excluded by the platform's default policy, FR by some campaigns
    country=st.sampled_from(["", "", "", "US", "FR", "ZA"]),
)
ops = st.one_of(
    new_ops, new_ops, new_ops, st.builds(Op, kind=st.sampled_from(["replay", "conflict"]), of=st.integers(0, 1000))
)


@st.composite
def scenarios(draw, prices):
    campaigns = draw(st.lists(campaign_specs(prices), min_size=1, max_size=3))
    brand_cap = draw(st.none() | cents(300, 6000))
    sequence = [draw(new_ops), *draw(st.lists(ops, max_size=39))]
    # cut the sequence into batches: 1 (one by one) up to the whole of it
    sizes = draw(st.lists(st.integers(1, 8), min_size=len(sequence), max_size=len(sequence)))
    # event ids as clients make them: unique, in no particular order (the prefix has no "e")
    prefixes = draw(st.lists(st.text("abxyz", max_size=2), min_size=len(sequence), max_size=len(sequence)))
    return campaigns, brand_cap, sequence, sizes, prefixes


# --- the reference model ----------------------------------------------------------------------


def steps(count: Decimal, threshold: Decimal) -> int:
    return int((count / threshold).to_integral_value(rounding=ROUND_FLOOR))


def counted(spec: CampaignSpec, count: Decimal, quantity: Decimal) -> Decimal:
    return max(count, quantity) if spec.counting == "max" else count + quantity


@dataclass
class Model:
    """§4-§5 walked in order: counts per (campaign, user) — a sum of quantities, or the highest one
    (a level) — every `threshold` units earn, up to max_per_user, charged against the brand's cap,
    then the campaign's budget, then first-N."""

    campaigns: list  # [(Campaign, CampaignSpec)], in id order (the order of `progress`)
    brand_cap: Decimal
    excluded: set
    count: Counter = field(default_factory=Counter)
    granted: Counter = field(default_factory=Counter)
    spent: Counter = field(default_factory=Counter)
    moments: Counter = field(default_factory=Counter)
    brand_spent: Decimal = Decimal("0")

    def answer(self, event: EventInput):
        moments, progress = [], []
        for campaign, spec in self.campaigns:
            if spec.action != event.action:
                continue
            key = (campaign.pk, event.user_id)
            before = self.count[key]
            self.count[key] = counted(spec, before, event.quantity)
            crossed = steps(self.count[key], spec.threshold) > steps(before, spec.threshold)
            due = steps(self.count[key], spec.threshold)
            if spec.max_per_user is not None:
                due = min(due, spec.max_per_user)
            blocked = None
            if due <= self.granted[key]:
                blocked = "user_limit" if crossed and spec.max_per_user is not None else None
            elif event.country and (event.country in self.excluded or event.country in spec.excluded):
                blocked = "country_excluded"
            else:
                while self.granted[key] < due:
                    if self.brand_spent + spec.cpa > self.brand_cap:
                        blocked = "brand_cap"
                        break
                    if self.spent[campaign.pk] + spec.cpa > spec.cpa * spec.budget_cpas:
                        blocked = "campaign_cap"
                        break
                    if spec.max_moments is not None and self.moments[campaign.pk] >= spec.max_moments:
                        blocked = "campaign_full"
                        break
                    self.brand_spent += spec.cpa
                    self.spent[campaign.pk] += spec.cpa
                    self.moments[campaign.pk] += 1
                    self.granted[key] += 1
                    moments.append((campaign.slug, event.user_id))
            progress.append((campaign.slug, self.count[key], spec.threshold, blocked))
        return moments, progress


def shape(body):
    """An answer as the model states it: (campaign, user) per moment, (campaign, count, threshold, blocked)."""
    return (
        [(m["campaign"], m["user_id"]) for m in body["moments"]],
        [
            (p["campaign"], Decimal(str(p["count"])), Decimal(str(p["threshold"])), p["blocked"])
            for p in body["progress"]
        ],
    )


# --- helpers ----------------------------------------------------------------------------------


def ledger_sum(**filters) -> Decimal:
    return LedgerEntry.objects.filter(**filters).aggregate(total=Sum("amount"))["total"] or Decimal("0")


def spend_of(model, **filters) -> Decimal:
    row = model.objects.filter(period=month_of(timezone.now()), **filters).first()
    return row.spent if row else Decimal("0")


def snapshot(brand):
    """Every row the events of this brand wrote, and the money, to compare before and after a replay."""
    return {
        "events": sorted(Event.objects.filter(brand=brand).values_list("event_id", "response")),
        "progress": sorted(
            Progress.objects.filter(brand=brand).values_list("campaign_id", "user_id", "count", "granted")
        ),
        "moments": sorted(Moment.objects.filter(brand=brand).values_list("pk", "status", "sequence")),
        "ledger": sorted(LedgerEntry.objects.filter(brand=brand).values_list("pk", "amount")),
        "campaign_spend": sorted(
            CampaignSpend.objects.filter(brand=brand).values_list("campaign_id", "spent", "capped_at")
        ),
        "brand_spend": list(BrandSpend.objects.filter(brand=brand).values_list("spent")),
        "first_n": sorted(Campaign.objects.filter(brand=brand).values_list("pk", "granted_live", "granted_test")),
    }


def make_brand(specs, brand_cap):
    brand = BrandFactory(slug=f"rules-{next(_brands)}")
    campaigns = [
        CampaignFactory(
            brand=brand,
            active=True,
            action=spec.action,
            threshold=spec.threshold,
            cpa=spec.cpa,
            monthly_budget=spec.cpa * spec.budget_cpas,
            max_per_user=spec.max_per_user,
            max_moments=spec.max_moments,
            excluded_countries=list(spec.excluded),
            counting=spec.counting,
        )
        for spec in specs
    ]
    if brand_cap is not None:  # lowered after the campaigns: it may be below their budgets
        brand.monthly_cap = brand_cap
        tenant_services.brand_save(brand=brand, actor=None)
    return brand, sorted(zip(campaigns, specs, strict=True), key=lambda pair: pair[0].pk)


def to_events(sequence, prefixes):
    """EventInputs in input order; replays and conflicts reuse an earlier one's id."""
    news, events = [], []
    for op in sequence:
        if op.kind == "new":
            event = EventInput(
                event_id=f"{prefixes[len(news)]}e{len(news)}",
                user_id=op.user,
                action=op.action,
                quantity=op.quantity,
                country=op.country,
            )
            news.append(event)
        else:
            first = news[op.of % len(news)]
            # a replay is an equal body in an object of its own, as the API makes one per item
            event = (
                dataclasses.replace(first)
                if op.kind == "replay"
                else EventInput(
                    event_id=first.event_id, user_id=first.user_id, action=first.action, quantity=first.quantity + 1
                )
            )
        events.append(event)
    return events


def in_batches(events, sizes):
    batches, start = [], 0
    for size in sizes:
        if start >= len(events):
            break
        batches.append(events[start : start + size])
        start += size
    return batches


# --- the property test ------------------------------------------------------------------------

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# Seven users, a budget of seven CPAs of 3.10: all seven are granted, the eighth is refused.
# This example found a bug at commit 25b0e95 (on SQLite only): `_spend` added money as SQLite REAL
# floats, 7 × 3.10 came to 21.700000000000003 > 21.70 and the seventh moment was refused as
# campaign_cap. Fixed since by rounding in SQL (ROUND(…, 2) in `_spend`); kept as a regression.
SEVEN_CPAS_OF_3_10 = (
    [CampaignSpec("run", Decimal("1"), Decimal("3.10"), 7, 1, None)],
    None,
    [Op("new", user=f"user-{n}", action="run") for n in range(8)],
    [1] * 8,
    [""] * 8,
)


@SETTINGS
@given(scenario=scenarios(cents(300, 900)))
@example(scenario=SEVEN_CPAS_OF_3_10)
def test_grants_follow_the_rules_for_any_sequence_of_events(scenario):
    check_scenario(*scenario)


def check_scenario(specs, brand_cap, sequence, sizes, prefixes):
    brand, campaigns = make_brand(specs, brand_cap)
    brand.refresh_from_db()
    spec_of = {campaign.pk: spec for campaign, spec in campaigns}
    slug_of = {campaign.pk: campaign.slug for campaign, _ in campaigns}
    policy_excluded = {country.code for country in platform_policy().excluded_countries}
    model = Model(campaigns, brand.monthly_cap, policy_excluded)
    events = to_events(sequence, prefixes)
    batches = in_batches(events, sizes)

    outcomes = []
    for batch in batches:
        outcomes += events_ingest(brand=brand, mode="live", events=batch)
    assert len(outcomes) == len(events)

    first_body = {}
    running = Counter()  # (user, action) → quantities so far
    highest = Counter()  # (user, action) → the highest quantity so far (a level)
    moments_so_far = Counter()  # (campaign slug, user) → moments in the answers so far
    before_event = Counter()  # (campaign slug, user) → its count before the event at hand
    ever_refused = set()
    for event, outcome in zip(events, outcomes, strict=True):
        if event.event_id in first_body:
            first, first_event = first_body[event.event_id]
            if event == first_event:
                assert (outcome.kind, outcome.body) == ("replay", first), "a replay answered differently"
            else:
                assert outcome.kind == "conflict" and outcome.error.code == "idempotency_conflict"
            continue
        assert outcome.kind == "new"
        body = outcome.body
        first_body[event.event_id] = (body, event)
        # the answer is the model's, word for word
        assert shape(body) == model.answer(event), (event, body)

        running[(event.user_id, event.action)] += event.quantity
        highest[(event.user_id, event.action)] = max(highest[(event.user_id, event.action)], event.quantity)
        earned_here = Counter(m["campaign"] for m in body["moments"])
        watching = [(c, s) for c, s in campaigns if s.action == event.action]
        assert [p["campaign"] for p in body["progress"]] == [c.slug for c, _ in watching]
        for (campaign, spec), progress in zip(watching, body["progress"], strict=True):
            key = (campaign.slug, event.user_id)
            # the count is the running sum of this user's quantities on the action, or their highest
            total = (highest if spec.counting == "max" else running)[(event.user_id, event.action)]
            assert Decimal(str(progress["count"])) == total
            assert Decimal(str(progress["threshold"])) == spec.threshold
            before, before_event[key] = before_event[key], total
            owed_before = steps(before, spec.threshold)
            if spec.max_per_user is not None:
                owed_before = min(owed_before, spec.max_per_user)
            # nothing was due (no threshold crossed, nothing owed from before): nothing blocked, nothing earned
            if steps(total, spec.threshold) == steps(before, spec.threshold) and moments_so_far[key] == owed_before:
                assert progress["blocked"] is None, (event, progress)
                assert earned_here[campaign.slug] == 0
            if progress["blocked"] in REFUSALS:
                ever_refused.add(key)
            # counted by --hypothesis-show-statistics
            earned = ["no moment", "one moment", "moments"][min(earned_here[campaign.slug], 2)]
            tally(f"{spec.counting}: blocked {progress['blocked']}, {earned}")
            if progress["blocked"] is not None:
                assert progress["blocked"] in REFUSALS | {"user_limit"}, progress
            moments_so_far[key] += earned_here[campaign.slug]
        for moment in body["moments"]:
            assert moment["user_id"] == event.user_id and moment["mode"] == "live"
            assert moment["status"] == "earned" and moment["claim_url"].startswith("http")

    # per (campaign, user): floor(count / threshold) moments, at most max_per_user, unless refused
    per_pair = Counter(
        (slug_of[c], u) for c, u in Moment.objects.filter(brand=brand).values_list("campaign_id", "user_id")
    )
    assert per_pair == +moments_so_far
    for campaign, spec in campaigns:
        for user in {user for user, _ in running}:
            key = (campaign.slug, user)
            due = steps((highest if spec.counting == "max" else running)[(user, spec.action)], spec.threshold)
            if spec.max_per_user is not None:
                due = min(due, spec.max_per_user)
            if key in ever_refused:
                assert per_pair[key] <= due, key
            else:
                assert per_pair[key] == due, key
    # sequences 1..n, Progress.granted is the number of moments
    for progress in Progress.objects.filter(brand=brand):
        key = (slug_of[progress.campaign_id], progress.user_id)
        assert progress.granted == per_pair[key]
        spec = spec_of[progress.campaign_id]
        assert progress.count == (highest if spec.counting == "max" else running)[(progress.user_id, spec.action)]
        sequences = Moment.objects.filter(campaign_id=progress.campaign_id, user_id=progress.user_id)
        assert sorted(sequences.values_list("sequence", flat=True)) == list(range(1, progress.granted + 1))
    # first-N, budgets, the brand's cap; the ledger explains every counter
    brand_total = Decimal("0")
    for campaign, spec in campaigns:
        count = Moment.objects.filter(campaign=campaign).count()
        if spec.max_moments is not None:
            assert count <= spec.max_moments
        assert Campaign.objects.get(pk=campaign.pk).granted_live == count
        spent = spend_of(CampaignSpend, campaign=campaign)
        assert spent <= campaign.monthly_budget
        assert spent == ledger_sum(campaign=campaign) == count * spec.cpa
        assert LedgerEntry.objects.filter(campaign=campaign, kind="charge").count() == count
        brand_total += spent
    assert spend_of(BrandSpend, brand=brand) == brand_total == ledger_sum(brand=brand)
    assert brand_total <= brand.monthly_cap
    assert brand_total == model.brand_spent

    # replaying the whole sequence (as one batch) changes nothing and answers as the first time
    before = snapshot(brand)
    again = events_ingest(brand=brand, mode="live", events=events)
    for event, outcome in zip(events, again, strict=True):
        first, first_event = first_body[event.event_id]
        if event == first_event:
            assert (outcome.kind, outcome.body) == ("replay", first)
        else:
            assert outcome.kind == "conflict"
    assert snapshot(brand) == before


# --- example-based rules ----------------------------------------------------------------------


def event(n, user="user-1", action="run", quantity=Decimal("1"), **fields):
    return EventInput(event_id=f"evt-{n}", user_id=user, action=action, quantity=quantity, **fields)


def ingest(brand, *events, mode="live"):
    return events_ingest(brand=brand, mode=mode, events=list(events))


def test_a_budget_of_seven_cpas_of_3_10_pays_for_seven_moments():
    """A regression test (see SEVEN_CPAS_OF_3_10): failed on SQLite at 25b0e95."""
    brand = BrandFactory()
    campaign = CampaignFactory(
        brand=brand,
        active=True,
        action="run",
        threshold=Decimal("1"),
        cpa=Decimal("3.10"),
        monthly_budget=Decimal("21.70"),
    )

    outcomes = [ingest(brand, event(n, user=f"user-{n}"))[0] for n in range(8)]

    blocked = [outcome.body["progress"][0]["blocked"] for outcome in outcomes]
    assert blocked == [None] * 7 + ["campaign_cap"]
    assert Moment.objects.filter(campaign=campaign).count() == 7
    assert spend_of(CampaignSpend, campaign=campaign) == Decimal("21.70") == ledger_sum()


def test_a_batch_is_applied_in_input_order_whatever_its_event_ids():
    """Found a bug at 25b0e95 (kept as a regression test): events_ingest (rewards/services.py:271)
    walked a batch's new events in the order _claim_event_ids returned them, sorted by event_id for
    lock order (services.py:311), so running counts, the event that earns and the first-N places
    followed the alphabetical order of the ids instead of the order the events were sent."""
    brand = BrandFactory()
    CampaignFactory(brand=brand, active=True, action="run", slug="every-two", threshold=Decimal("2"), max_per_user=None)
    CampaignFactory(brand=brand, active=True, action="run", slug="first-one", threshold=Decimal("1"), max_moments=1)
    # event ids as a client may make them (random, here chosen to sort against the input order)
    batch = [
        EventInput(event_id="z-sent-first", user_id="ann", action="run"),
        EventInput(event_id="m-sent-second", user_id="ann", action="run"),
        EventInput(event_id="a-sent-third", user_id="bob", action="run"),
    ]

    outcomes = ingest(brand, *batch)

    counts = [{p["campaign"]: p["count"] for p in o.body["progress"]} for o in outcomes]
    assert counts == [
        {"every-two": 1, "first-one": 1},
        {"every-two": 2, "first-one": 2},
        {"every-two": 1, "first-one": 1},
    ]
    earned = [sorted(m["campaign"] for m in o.body["moments"]) for o in outcomes]
    # ann's first event is the first of the batch, so she has the one place; her second earns every-two
    assert earned == [["first-one"], ["every-two"], []]
    [bobs] = [p for p in outcomes[2].body["progress"] if p["campaign"] == "first-one"]
    assert bobs["blocked"] == "campaign_full"


def test_test_mode_is_a_world_apart_from_live():
    brand = BrandFactory()
    rules = {
        "brand": brand,
        "active": True,
        "slug": "runs",  # the same slug in both modes: each mode has its own
        "action": "run",
        "threshold": Decimal("1"),
        "cpa": Decimal("5.00"),
        "monthly_budget": Decimal("10.00"),
        "max_moments": 3,
    }
    live_campaign = CampaignFactory(**rules)
    test_campaign = CampaignFactory(mode="test", **rules)

    # three test users: the test campaign's budget pays for two, in test mode's own ledger
    test_outcomes = [ingest(brand, event(n, user=f"tester-{n}"), mode="test")[0] for n in range(3)]

    assert [len(o.body["moments"]) for o in test_outcomes] == [1, 1, 0]
    assert [len(o.body["progress"]) for o in test_outcomes] == [1, 1, 1]  # the test campaign alone
    assert test_outcomes[2].body["progress"][0]["blocked"] == "campaign_cap"
    assert set(Moment.objects.values_list("campaign_id", "mode", "cpa")) == {
        (test_campaign.pk, "test", Decimal("5.00"))
    }
    assert set(LedgerEntry.objects.values_list("mode", flat=True)) == {"test"}
    assert spend_of(CampaignSpend, campaign=test_campaign) == Decimal("10.00")
    assert spend_of(BrandSpend, brand=brand, mode="test") == Decimal("10.00")
    assert not BrandSpend.objects.filter(mode="live").exists()
    assert not CampaignSpend.objects.filter(campaign=live_campaign).exists()
    live_campaign.refresh_from_db()
    test_campaign.refresh_from_db()
    assert (live_campaign.granted_live, live_campaign.granted_test, test_campaign.granted_test) == (0, 0, 2)

    # live events move the live campaign only: its budget and first-N places are whole
    live = [ingest(brand, event(f"live-{n}", user=f"live-{n}"))[0] for n in range(3)]
    assert [len(o.body["moments"]) for o in live] == [1, 1, 0]
    assert all([p["campaign"] for p in o.body["progress"]] == ["runs"] for o in live)
    assert Moment.objects.filter(campaign=live_campaign, mode="live").count() == 2
    assert not Moment.objects.filter(campaign=live_campaign, mode="test").exists()
    assert spend_of(BrandSpend, brand=brand, mode="live") == spend_of(CampaignSpend, campaign=live_campaign)
    assert spend_of(BrandSpend, brand=brand, mode="live") == Decimal("10.00")
    assert spend_of(BrandSpend, brand=brand, mode="test") == Decimal("10.00")  # unmoved by live events


def test_test_mode_is_not_stopped_by_live_caps():
    brand = BrandFactory()
    rules = {"brand": brand, "active": True, "action": "run", "threshold": Decimal("1"), "cpa": Decimal("5.00")}
    CampaignFactory(monthly_budget=Decimal("5.00"), **rules)
    CampaignFactory(mode="test", **rules)
    brand.monthly_cap = Decimal("5.00")
    tenant_services.brand_save(brand=brand, actor=None)
    ingest(brand, event("live-1", user="live-1"))
    assert spend_of(BrandSpend, brand=brand, mode="live") == Decimal("5.00")

    outcomes = [ingest(brand, event(n, user=f"tester-{n}"), mode="test")[0] for n in range(2)]

    # the live month is spent, yet test mode earns against its own counter until it, too, is full
    assert [len(o.body["moments"]) for o in outcomes] == [1, 0]
    assert outcomes[1].body["progress"][0]["blocked"] == "brand_cap"
    assert spend_of(BrandSpend, brand=brand, mode="live") == Decimal("5.00")
    assert spend_of(BrandSpend, brand=brand, mode="test") == Decimal("5.00")


def test_cancelling_an_earned_live_moment_refunds_its_cpa_and_frees_the_budget():
    brand = BrandFactory()
    cpa = Decimal("5.00")
    campaign = CampaignFactory(
        brand=brand, active=True, action="run", threshold=Decimal("1"), max_per_user=1, cpa=cpa, monthly_budget=2 * cpa
    )
    ingest(brand, event(1, user="ann"))
    ingest(brand, event(2, user="bob"))
    refused = ingest(brand, event(3, user="cat"))[0].body
    assert refused["progress"][0]["blocked"] == "campaign_cap" and refused["moments"] == []
    assert spend_of(CampaignSpend, campaign=campaign) == spend_of(BrandSpend, brand=brand) == 2 * cpa
    anns = Moment.objects.get(user_id="ann")

    cancelled = moment_cancel(moment=anns, reason="  duplicate account  ", actor=None)

    assert cancelled.status == "cancelled" and cancelled.cancel_reason == "duplicate account"
    assert cancelled.cancelled_at is not None
    refund = LedgerEntry.objects.get(moment=anns, kind="refund")
    assert refund.amount == -cpa
    assert refund.period == month_of(timezone.now())
    assert refund.campaign_id == campaign.pk and refund.brand_id == brand.pk
    assert spend_of(CampaignSpend, campaign=campaign) == spend_of(BrandSpend, brand=brand) == cpa == ledger_sum()

    # the freed CPA pays for the moment cat was owed, on her next event
    granted = ingest(brand, event(4, user="cat"))[0].body
    assert [m["user_id"] for m in granted["moments"]] == ["cat"]
    assert granted["progress"][0] == {"campaign": campaign.slug, "count": 2, "threshold": 1, "blocked": None}
    assert spend_of(CampaignSpend, campaign=campaign) == spend_of(BrandSpend, brand=brand) == 2 * cpa == ledger_sum()
    # and ann, whose moment was cancelled, does not earn it again (max_per_user 1)
    assert ingest(brand, event(5, user="ann"))[0].body["moments"] == []


@pytest.mark.parametrize("status", ["cancelled", "claimed", "fulfilled", "expired"])
def test_cancelling_a_moment_that_is_not_earned_raises_and_writes_nothing(status):
    brand = BrandFactory()
    campaign = CampaignFactory(brand=brand, active=True, action="run", threshold=Decimal("1"), cpa=Decimal("5.00"))
    ingest(brand, event(1, user="ann"))
    moment = Moment.objects.get()
    if status == "cancelled":
        moment_cancel(moment=moment, reason="first cancel", actor=None)
    else:
        Moment.objects.filter(pk=moment.pk).update(status=status)
    moment.refresh_from_db()
    before = snapshot(brand)
    row_before = Moment.objects.filter(pk=moment.pk).values().get()

    with pytest.raises(InvalidState):
        moment_cancel(moment=moment, reason="second thoughts", actor=None)

    assert Moment.objects.filter(pk=moment.pk).values().get() == row_before
    assert snapshot(brand) == before
    assert ledger_sum(campaign=campaign) == spend_of(CampaignSpend, campaign=campaign)


def test_a_donation_given_at_once_cannot_be_cancelled():
    brand = BrandFactory()
    donation = CatalogItemFactory(kind="donation")
    CampaignFactory(brand=brand, active=True, action="run", threshold=Decimal("1"), rewards=[donation.sku])
    [moment] = ingest(brand, event(1))[0].body["moments"]
    assert moment["status"] == "fulfilled" and moment["claim_url"] is None
    before = snapshot(brand)

    with pytest.raises(InvalidState):
        moment_cancel(moment=Moment.objects.get(pk=moment["id"]), reason="changed my mind", actor=None)

    assert snapshot(brand) == before


# --- campaigns that count a level (counting "max") --------------------------------------------


def counts_of(outcome):
    return {p["campaign"]: p["count"] for p in outcome.body["progress"]}


def test_a_level_is_the_highest_value_reported_where_a_sum_adds_them_up():
    brand = BrandFactory()
    CampaignFactory(brand=brand, active=True, action="level", slug="levels", counting="max", threshold=Decimal("10"))
    CampaignFactory(brand=brand, active=True, action="level", slug="sums", threshold=Decimal("10"), max_per_user=None)

    outcomes = [ingest(brand, event(n, action="level", quantity=Decimal(q)))[0] for n, q in enumerate([5, 3, 14, 15])]

    # 14 then 15 is level 15, not 29; a lower level reported later lowers nothing
    assert [counts_of(o) for o in outcomes] == [
        {"levels": 5, "sums": 5},
        {"levels": 5, "sums": 8},
        {"levels": 14, "sums": 22},
        {"levels": 15, "sums": 37},
    ]
    earned = [sorted(m["campaign"] for m in o.body["moments"]) for o in outcomes]
    assert earned == [[], [], ["levels", "sums", "sums"], ["sums"]]
    stored = dict(Progress.objects.filter(brand=brand).values_list("campaign__slug", "count"))
    assert stored == {"levels": Decimal("15"), "sums": Decimal("37")}


def test_inside_a_batch_each_event_shows_its_own_level_in_input_order():
    brand = BrandFactory()
    CampaignFactory(brand=brand, active=True, action="level", slug="ten", counting="max", threshold=Decimal("10"))
    batch = [
        EventInput(event_id=f"{prefix}-{n}", user_id=user, action="level", quantity=Decimal(q))
        for n, (prefix, user, q) in enumerate([("z", "ann", 7), ("a", "ann", 3), ("m", "bob", 4), ("b", "ann", 12)])
    ]
    batch.append(EventInput(event_id="c-4", user_id="ann", action="level", quantity=Decimal("9")))

    outcomes = ingest(brand, *batch)

    assert [counts_of(o)["ten"] for o in outcomes] == [7, 7, 4, 12, 12]
    assert [len(o.body["moments"]) for o in outcomes] == [0, 0, 0, 1, 0]
    assert [o.body["progress"][0]["blocked"] for o in outcomes] == [None] * 5
    stored = dict(Progress.objects.filter(brand=brand).values_list("user_id", "count"))
    assert stored == {"ann": Decimal("12"), "bob": Decimal("4")}
    # the next batch starts from the stored level
    [again] = ingest(brand, event("later", user="ann", action="level", quantity=Decimal("11")))
    assert counts_of(again) == {"ten": 12} and again.body["moments"] == []


def test_a_level_of_several_thresholds_earns_as_many_moments_up_to_max_per_user():
    brand = BrandFactory()
    CampaignFactory(
        brand=brand,
        active=True,
        action="level",
        slug="every-five",
        counting="max",
        threshold=Decimal("5"),
        max_per_user=3,
    )

    outcomes = [ingest(brand, event(n, action="level", quantity=Decimal(q)))[0] for n, q in enumerate([10, 20, 25])]

    assert [len(o.body["moments"]) for o in outcomes] == [2, 1, 0]
    assert [o.body["progress"][0]["blocked"] for o in outcomes] == [None, None, "user_limit"]
    assert sorted(Moment.objects.filter(brand=brand).values_list("sequence", flat=True)) == [1, 2, 3]


def test_a_level_owed_beyond_the_event_limit_is_granted_by_the_next_event_even_a_lower_one():
    brand = BrandFactory()
    CampaignFactory(brand=brand, active=True, action="level", counting="max", threshold=Decimal("1"), max_per_user=None)

    first = ingest(brand, event(1, action="level", quantity=Decimal("15")))[0].body
    second = ingest(brand, event(2, action="level", quantity=Decimal("2")))[0].body

    assert (len(first["moments"]), first["progress"][0]["blocked"]) == (10, "event_limit")
    assert (len(second["moments"]), second["progress"][0]["blocked"]) == (5, None)
    assert second["progress"][0]["count"] == 15
    assert Progress.objects.get(brand=brand).granted == 15


def test_a_level_reported_outside_the_campaigns_dates_does_not_count():
    brand = BrandFactory()
    now = timezone.now()
    CampaignFactory(
        brand=brand,
        active=True,
        action="level",
        counting="max",
        threshold=Decimal("10"),
        starts_at=now - timedelta(days=1),
    )

    early = ingest(brand, event(1, action="level", quantity=Decimal("50"), occurred_at=now - timedelta(days=2)))[0]
    later = ingest(brand, event(2, action="level", quantity=Decimal("3")))[0]

    assert early.body["progress"][0] == {**early.body["progress"][0], "count": 0, "blocked": "not_started"}
    assert later.body["progress"][0]["count"] == 3 and later.body["moments"] == []


# --- the hot path's queries -------------------------------------------------------------------


def test_one_event_that_earns_nothing_costs_a_fixed_number_of_queries(django_assert_max_num_queries):
    brand = BrandFactory()
    CampaignFactory(brand=brand, active=True, action="run", threshold=Decimal("10"))
    CampaignFactory(brand=brand, active=True, action="run", threshold=Decimal("5"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {ApiKeyFactory(brand=brand).secret}")
    # the first event warms the caches: the API key, its last-use mark, the campaigns, the policy
    warm = client.post("/api/v1/events", {"event_id": "warm", "user_id": "ann", "action": "run"}, format="json")
    assert warm.status_code == 201

    # The second, which earns nothing, needs (the test runs inside a transaction, so
    # `transaction.atomic` is a savepoint here where production has BEGIN … COMMIT):
    #   1. SAVEPOINT                                  (events_ingest's transaction.atomic)
    #   2. INSERT INTO rewards_eventkey … ON CONFLICT DO NOTHING RETURNING (_claim_event_ids: the id)
    #   3. INSERT INTO rewards_progress … ON CONFLICT DO UPDATE RETURNING  (_add_progress, both campaigns)
    #   4. INSERT INTO rewards_event …                  (_write_events: the event, with its answer)
    #   5. RELEASE SAVEPOINT
    # No query per campaign or per rule, none for the key, the campaigns or the policy (cached),
    # no UPDATE of the event (its answer is written with it), nothing for the grants' writer.
    with CaptureQueriesContext(connection) as queries, django_assert_max_num_queries(5):
        response = client.post(
            "/api/v1/events", {"event_id": "second", "user_id": "ann", "action": "run"}, format="json"
        )

    assert response.status_code == 201 and response.json()["moments"] == []
    print("\n".join(f"{n}. {q['sql'][:110]}" for n, q in enumerate(queries.captured_queries, 1)))
    assert len(queries) == 5
    written = [" ".join(q["sql"].split()[:3]) for q in queries.captured_queries[1:4]]
    assert written == [
        'INSERT INTO "rewards_eventkey"',
        'INSERT INTO "rewards_progress"',
        'INSERT INTO "rewards_event"',
    ]


def test_a_level_costs_one_update_more_and_only_when_it_rises():
    brand = BrandFactory()
    CampaignFactory(brand=brand, active=True, action="run", threshold=Decimal("100"))
    CampaignFactory(brand=brand, active=True, action="run", counting="max", threshold=Decimal("100"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {ApiKeyFactory(brand=brand).secret}")
    body = {"user_id": "ann", "action": "run"}
    assert client.post("/api/v1/events", {**body, "event_id": "warm", "quantity": 5}, format="json").status_code == 201

    def statements(event_id, quantity):
        with CaptureQueriesContext(connection) as queries:
            response = client.post(
                "/api/v1/events", {**body, "event_id": event_id, "quantity": quantity}, format="json"
            )
        assert response.status_code == 201
        return [" ".join(q["sql"].split()[:3]) for q in queries.captured_queries[1:-1]]

    # one upsert serves both campaigns (a level's row adds 0: it is locked and its level read) …
    lower = statements("lower", 3)
    # … and a level that rises is written under that lock by one UPDATE
    higher = statements("higher", 8)

    assert lower == ['INSERT INTO "rewards_eventkey"', 'INSERT INTO "rewards_progress"', 'INSERT INTO "rewards_event"']
    assert higher == [
        'INSERT INTO "rewards_eventkey"',
        'INSERT INTO "rewards_progress"',
        'UPDATE "rewards_progress" SET',
        'INSERT INTO "rewards_event"',
    ]
    assert sorted(Progress.objects.filter(brand=brand).values_list("count", flat=True)) == [8, 16]


def test_the_same_event_object_twice_in_one_call_is_once_new_and_once_a_replay():
    """Found a bug at 25b0e95 (kept as a regression test; service level only, the API makes one
    object per item): events_ingest (rewards/services.py:280) told a first post from its repeats
    with `event is first`, so the very same EventInput passed twice was answered 201 twice."""
    brand = BrandFactory()
    CampaignFactory(brand=brand, active=True, action="run", threshold=Decimal("1"))
    once = event("twice")

    outcomes = ingest(brand, once, once)

    assert Event.objects.filter(brand=brand).count() == 1 and Moment.objects.filter(brand=brand).count() == 1
    assert [o.kind for o in outcomes] == ["new", "replay"]
    assert outcomes[1].body == outcomes[0].body
