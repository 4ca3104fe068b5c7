"""DESIGN.md §6 under real concurrency: "No overspend" and "Exactly once", through the HTTP stack.

Every test here starts real threads, each with its own APIClient and its own PostgreSQL
connection, held behind a threading.Barrier so that their requests really overlap; nothing is
mocked. They need PostgreSQL (SQLite serialises every writer, so it would prove nothing).

Proof that these tests can fail (DESIGN.md §6: "each has a test that can fail"), tried on
PostgreSQL against commit 25b0e95 and then undone, rewards/services.py restored byte for byte
(same sha256 as HEAD, and `git diff --stat` listed no non-test file):

1. `_spend`, rewards/services.py:543 (at 25b0e95) — the guard
       f"WHERE {table}.spent + excluded.spent <= CAST(%s AS NUMERIC) RETURNING spent"
   replaced by `f"RETURNING spent"` (and the cap dropped from `params`, line 536): three tests went
   red: campaign cap `assert 208 == 10` (spent 1040.00 against a cap of 50.00), brand cap
   `assert 216 == 10` (1080.00 against 50.00), batches `assert 175 == 60`.
2. A race only threads can show: `_spend` (rewards/services.py:545-548 at 25b0e95) made to read
   the counter, check `current + amount > cap` in Python, then add without the guard
   (read-check-write): every serial test of tests/rewards and tests/tenants still passed (541 of
   them), but test_brand_cap_holds_over_three_campaigns_under_parallel_events went red with 17
   moments granted and 85.00 spent against a brand cap of 50.00 (`assert 17 == 10`).
   (The campaign-cap test stayed green there: every grant takes the brand's month row first, which
   serialises the campaign's read-check-write behind it.)
"""

import random
import threading
import time
from collections import Counter, defaultdict
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum
from rest_framework.test import APIClient

from rewards.models import BrandSpend, Campaign, CampaignSpend, Event, LedgerEntry, Moment, Progress
from rewards.periods import month_of
from tenants import services as tenant_services
from tests.factories import ApiKeyFactory, BrandFactory, CampaignFactory

pytestmark = [pytest.mark.needs("postgresql"), pytest.mark.django_db(transaction=True)]

EVENTS = "/api/v1/events"
BATCH = "/api/v1/events/batch"
ACTION = "workout_completed"
THREADS = 8
JOIN_TIMEOUT = 120


# --- helpers ----------------------------------------------------------------------------------


def client_for(secret: str) -> APIClient:
    client = APIClient()
    client.raise_request_exception = False  # a crash must show as the 500 it would be in production
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def in_parallel(count: int, work, secret: str):
    """Run work(index, client) in `count` threads released together; [result of each] and seconds.

    Each thread has its own APIClient and closes its own database connection when done.
    """
    barrier = threading.Barrier(count)
    results = [None] * count
    errors = []

    def target(index):
        try:
            client = client_for(secret)
            barrier.wait(timeout=30)
            results[index] = work(index, client)
        except BaseException as exc:  # noqa: BLE001 - reported below, with the thread's index
            errors.append((index, repr(exc)))
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(index,), name=f"poster-{index}") for index in range(count)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    elapsed = time.perf_counter() - started
    assert not [thread.name for thread in threads if thread.is_alive()], "a thread hung (deadlock?)"
    assert not errors, errors
    return results, elapsed


def post_all(bodies):
    """A work function posting each body in turn: [(status, json)]."""

    def work(index, client):
        answers = []
        for body in bodies[index]:
            response = client.post(EVENTS, body, format="json")
            answers.append((response.status_code, response.json()))
        return answers

    return work


def money(value) -> Decimal:
    return Decimal(value or 0).quantize(Decimal("0.01"))


def ledger_sum(**filters) -> Decimal:
    return money(LedgerEntry.objects.filter(**filters).aggregate(total=Sum("amount"))["total"])


def spent(model, **filters) -> Decimal:
    period = month_of(Event.objects.order_by("id").first().received_at)
    return money(model.objects.filter(period=period, **filters).aggregate(total=Sum("spent"))["total"])


def assert_no_duplicate_moments(campaign_ids=None):
    moments = Moment.objects.all() if campaign_ids is None else Moment.objects.filter(campaign_id__in=campaign_ids)
    steps = list(moments.values_list("campaign_id", "mode", "user_id", "sequence"))
    assert len(steps) == len(set(steps)), "a (campaign, mode, user, sequence) was granted twice"
    # every user's moments in a campaign are numbered 1..n, without gaps
    by_pair = defaultdict(list)
    for campaign_id, mode, user_id, sequence in steps:
        by_pair[(campaign_id, mode, user_id)].append(sequence)
    for pair, sequences in by_pair.items():
        assert sorted(sequences) == list(range(1, len(sequences) + 1)), (pair, sorted(sequences))


def assert_every_moment_charged_once(cpa_of):
    """One CPA charge per live moment, of that campaign's CPA; no charge without a moment."""
    charges = Counter(LedgerEntry.objects.filter(kind="charge").values_list("moment_id", flat=True))
    moments = dict(Moment.objects.filter(mode="live").values_list("pk", "campaign_id"))
    assert set(charges) == set(moments)
    assert set(charges.values()) <= {1}
    for entry in LedgerEntry.objects.all():
        assert entry.amount == cpa_of[entry.campaign_id], entry


def moments_in(answers) -> list:
    return [moment for _, body in answers for moment in body["moments"]]


# --- a. idempotent replays --------------------------------------------------------------------


def test_the_same_event_posted_by_eight_threads_at_once_is_processed_once():
    brand = BrandFactory()
    campaign = CampaignFactory(brand=brand, active=True, threshold=Decimal("1"), cpa=Decimal("5.00"))
    secret = ApiKeyFactory(brand=brand).secret
    body = {"event_id": "evt-same", "user_id": "user-1", "action": ACTION, "quantity": 1, "properties": {"n": 1}}

    results, elapsed = in_parallel(THREADS, post_all([[body]] * THREADS), secret)

    answers = [answer for thread in results for answer in thread]
    assert sorted(status for status, _ in answers) == [200] * (THREADS - 1) + [201], answers
    first = answers[0][1]
    assert all(answer == first for _, answer in answers), "a replay answered differently from the first post"
    assert len(first["moments"]) == 1 and first["moments"][0]["claim_url"]
    assert Event.objects.count() == 1
    assert Progress.objects.get().count == Decimal("1")
    assert Moment.objects.count() == 1
    assert LedgerEntry.objects.count() == 1
    assert ledger_sum() == campaign.cpa == spent(CampaignSpend) == spent(BrandSpend)
    print(f"\n[replays] {THREADS} simultaneous posts of one event in {elapsed:.2f}s: one 201, {THREADS - 1}×200")


def test_the_same_event_id_with_eight_different_bodies_at_once_wins_once_and_conflicts_seven_times():
    brand = BrandFactory()
    campaign = CampaignFactory(brand=brand, active=True, threshold=Decimal("1"), cpa=Decimal("5.00"))
    secret = ApiKeyFactory(brand=brand).secret
    bodies = [
        [{"event_id": "evt-same", "user_id": f"user-{index}", "action": ACTION, "quantity": index + 1}]
        for index in range(THREADS)
    ]

    results, _ = in_parallel(THREADS, post_all(bodies), secret)

    answers = [answer for thread in results for answer in thread]
    assert sorted(status for status, _ in answers) == [201] + [409] * (THREADS - 1), answers
    for status, answer in answers:
        if status == 409:
            assert answer["error"]["code"] == "idempotency_conflict", answer
            assert answer["error"]["type"] == "conflict_error", answer
    [(winner_index, winner)] = [(i, thread[0][1]) for i, thread in enumerate(results) if thread[0][0] == 201]
    event = Event.objects.get()
    assert event.user_id == f"user-{winner_index}" and event.quantity == winner_index + 1
    assert event.response["event_id"] == "evt-same"
    assert Moment.objects.get().user_id == event.user_id
    assert [(p.user_id, p.count) for p in Progress.objects.all()] == [(event.user_id, Decimal(winner_index + 1))]
    assert ledger_sum() == campaign.cpa == spent(CampaignSpend) == spent(BrandSpend)
    assert winner["moments"][0]["user_id"] == event.user_id


# --- b. a campaign's cap ----------------------------------------------------------------------


def test_campaign_cap_holds_under_parallel_events():
    per_thread, cpa = 26, Decimal("5.00")
    cap = 10 * cpa
    brand = BrandFactory()
    campaign = CampaignFactory(
        brand=brand, active=True, threshold=Decimal("1"), max_per_user=1, cpa=cpa, monthly_budget=cap
    )
    secret = ApiKeyFactory(brand=brand).secret
    bodies = [
        [{"event_id": f"evt-{t}-{i}", "user_id": f"user-{t}-{i}", "action": ACTION} for i in range(per_thread)]
        for t in range(THREADS)
    ]

    results, elapsed = in_parallel(THREADS, post_all(bodies), secret)

    answers = [answer for thread in results for answer in thread]
    requests = len(answers)
    granted = Moment.objects.filter(campaign=campaign).count()
    total = spent(CampaignSpend, campaign=campaign)
    print(
        f"\n[campaign cap] requests={requests} threads={THREADS} granted={granted} spent={total} "
        f"cap={cap} elapsed={elapsed:.2f}s ({requests / elapsed:.0f} events/s)"
    )
    assert requests == THREADS * per_thread >= 200
    assert {status for status, _ in answers} == {201}, Counter(status for status, _ in answers)
    # demand (208 users) exceeds the cap (10 moments): exactly the cap is granted, never more
    assert granted == 10 == len(moments_in(answers))
    assert total == cap == ledger_sum() == spent(BrandSpend)
    assert_every_moment_charged_once({campaign.pk: cpa})
    assert_no_duplicate_moments()
    assert len(set(Moment.objects.values_list("user_id", flat=True))) == granted, "a user got two moments"
    # each answer says why it got nothing: the campaign's cap, and nothing when it was granted
    for _, body in answers:
        [progress] = body["progress"]
        assert progress["count"] == 1
        assert progress["blocked"] == (None if body["moments"] else "campaign_cap"), body
    capped = CampaignSpend.objects.get(campaign=campaign)
    assert capped.capped_at is not None, "the campaign's month was not marked capped"
    assert Campaign.objects.get(pk=campaign.pk).granted_live == granted


# --- c. a brand's cap -------------------------------------------------------------------------


def test_brand_cap_holds_over_three_campaigns_under_parallel_events():
    per_thread, cpa = 27, Decimal("5.00")
    brand_cap = 10 * cpa
    actions = ["workout_completed", "level_reached", "hour_streamed"]
    brand = BrandFactory()
    # each campaign alone could spend twice the brand's cap: only the brand's cap can stop them
    campaigns = [
        CampaignFactory(
            brand=brand,
            active=True,
            action=action,
            threshold=Decimal("1"),
            max_per_user=1,
            cpa=cpa,
            monthly_budget=2 * brand_cap,
        )
        for action in actions
    ]
    brand.monthly_cap = brand_cap
    tenant_services.brand_save(brand=brand, actor=None)
    secret = ApiKeyFactory(brand=brand).secret
    bodies = [
        [
            {"event_id": f"evt-{t}-{i}", "user_id": f"user-{t}-{i}", "action": actions[(t + i) % len(actions)]}
            for i in range(per_thread)
        ]
        for t in range(THREADS)
    ]

    results, elapsed = in_parallel(THREADS, post_all(bodies), secret)

    answers = [answer for thread in results for answer in thread]
    requests = len(answers)
    granted = Moment.objects.count()
    total = spent(BrandSpend, brand=brand)
    per_campaign = {c.slug: Moment.objects.filter(campaign=c).count() for c in campaigns}
    print(
        f"\n[brand cap] requests={requests} threads={THREADS} granted={granted} per campaign={per_campaign} "
        f"spent={total} cap={brand_cap} elapsed={elapsed:.2f}s ({requests / elapsed:.0f} events/s)"
    )
    assert requests == THREADS * per_thread >= 200
    assert {status for status, _ in answers} == {201}, Counter(status for status, _ in answers)
    assert granted == 10 == len(moments_in(answers))
    assert total == brand_cap == ledger_sum() == spent(CampaignSpend)
    for campaign in campaigns:
        assert (
            spent(CampaignSpend, campaign=campaign)
            == ledger_sum(campaign=campaign)
            == per_campaign[campaign.slug] * cpa
        )
        # the brand's cap stopped them, not their own: no campaign's month is marked capped
        assert not CampaignSpend.objects.filter(campaign=campaign, capped_at__isnull=False).exists()
    assert_every_moment_charged_once({c.pk: cpa for c in campaigns})
    assert_no_duplicate_moments()
    for _, body in answers:
        [progress] = body["progress"]
        assert progress["blocked"] == (None if body["moments"] else "brand_cap"), body


# --- d. one user, many threads ----------------------------------------------------------------


def test_one_user_hammered_by_eight_threads_earns_once_per_event_in_sequence():
    per_thread, cpa = 10, Decimal("3.00")
    brand = BrandFactory()
    campaign = CampaignFactory(
        brand=brand, active=True, threshold=Decimal("1"), max_per_user=None, cpa=cpa, monthly_budget=Decimal("5000.00")
    )
    secret = ApiKeyFactory(brand=brand).secret
    bodies = [
        [
            {"event_id": f"evt-{t}-{i}", "user_id": "hammered", "action": ACTION, "quantity": 1}
            for i in range(per_thread)
        ]
        for t in range(THREADS)
    ]

    results, elapsed = in_parallel(THREADS, post_all(bodies), secret)

    answers = [answer for thread in results for answer in thread]
    events = THREADS * per_thread
    print(f"\n[one user] {events} events from {THREADS} threads in {elapsed:.2f}s")
    assert {status for status, _ in answers} == {201}
    progress = Progress.objects.get(campaign=campaign, user_id="hammered")
    assert progress.count == events
    assert progress.granted == events
    sequences = sorted(Moment.objects.filter(campaign=campaign).values_list("sequence", flat=True))
    assert sequences == list(range(1, events + 1))
    # every event saw its own running count: each of 1..N exactly once, and earned exactly one moment
    assert sorted(body["progress"][0]["count"] for _, body in answers) == list(range(1, events + 1))
    assert all(len(body["moments"]) == 1 and body["progress"][0]["blocked"] is None for _, body in answers)
    assert ledger_sum() == events * cpa == spent(CampaignSpend) == spent(BrandSpend)
    assert_every_moment_charged_once({campaign.pk: cpa})


# --- d'. one player's levels, many threads ------------------------------------------------------


def test_one_players_levels_from_eight_threads_end_at_the_highest_and_earn_each_threshold_once():
    """A campaign counting "max": levels 1..80 of one player, shuffled over eight threads. Whatever
    the interleaving, the stored level is the highest (no lost update: a level is written under the
    progress row's lock, from the level that lock returned) and each of the 8 thresholds crossed
    earns once.

    Seen to fail: with `_add_progress` reading the stored levels by a plain SELECT before its upsert
    and writing the level from that read, three runs stored 74, 78 and 78 instead of 80, while every
    serial test of tests/rewards passed but the statement count (the SELECT is one more)."""
    per_thread, threshold, cpa = 10, Decimal("10"), Decimal("3.00")
    brand = BrandFactory()
    campaign = CampaignFactory(
        brand=brand,
        active=True,
        counting="max",
        threshold=threshold,
        max_per_user=None,
        cpa=cpa,
        monthly_budget=Decimal("500.00"),
    )
    secret = ApiKeyFactory(brand=brand).secret
    levels = list(range(1, THREADS * per_thread + 1))
    random.Random(20261201).shuffle(levels)
    bodies = [
        [
            {"event_id": f"lvl-{level}", "user_id": "player", "action": ACTION, "quantity": level}
            for level in levels[t * per_thread : (t + 1) * per_thread]
        ]
        for t in range(THREADS)
    ]

    results, elapsed = in_parallel(THREADS, post_all(bodies), secret)

    answers = [answer for thread in results for answer in thread]
    sent = [body for thread in bodies for body in thread]
    top, due = max(levels), max(levels) // int(threshold)
    print(f"\n[one player's levels] {len(answers)} events from {THREADS} threads in {elapsed:.2f}s")
    assert {status for status, _ in answers} == {201}
    progress = Progress.objects.get(campaign=campaign, user_id="player")
    assert (progress.count, progress.granted) == (top, due)
    sequences = sorted(Moment.objects.filter(campaign=campaign).values_list("sequence", flat=True))
    assert sequences == list(range(1, due + 1))
    # each answer's level is one reported, at least its own; the moments answered are the moments made
    for body, (_, answer) in zip(sent, answers, strict=True):
        count = answer["progress"][0]["count"]
        assert count >= body["quantity"] and count in levels, (body, answer)
    assert len(moments_in(answers)) == len({m["id"] for m in moments_in(answers)}) == due
    assert ledger_sum() == due * cpa == spent(CampaignSpend) == spent(BrandSpend)
    assert_every_moment_charged_once({campaign.pk: cpa})
    assert_no_duplicate_moments()


# --- e. overlapping batches -------------------------------------------------------------------


def test_parallel_batches_over_overlapping_users_neither_deadlock_nor_double_count():
    batches, per_batch, stride, cpa = 4, 100, 25, Decimal("3.00")
    brand = BrandFactory()
    once = CampaignFactory(  # one moment per user, budget for 60 of the 175 users
        brand=brand, active=True, slug="once", threshold=Decimal("1"), max_per_user=1, cpa=cpa, monthly_budget=60 * cpa
    )
    every_two = CampaignFactory(  # a moment every 2 events, no limit per user
        brand=brand,
        active=True,
        slug="every-two",
        threshold=Decimal("2"),
        max_per_user=None,
        cpa=cpa,
        monthly_budget=Decimal("1000.00"),
    )
    secret = ApiKeyFactory(brand=brand).secret
    # batch t reports users t*25 .. t*25+99, shuffled: each overlaps its neighbours by 75 users
    rng = random.Random(20240601)
    bodies = []
    for t in range(batches):
        users = [f"user-{u:03d}" for u in range(t * stride, t * stride + per_batch)]
        rng.shuffle(users)
        bodies.append([{"event_id": f"evt-{t}-{u}", "user_id": u, "action": ACTION} for u in users])
    events_of = Counter(body["user_id"] for batch in bodies for body in batch)

    def post_batch(index, client):
        response = client.post(BATCH, {"events": bodies[index]}, format="json")
        return response.status_code, response.json()

    results, elapsed = in_parallel(batches, post_batch, secret)

    assert [status for status, _ in results] == [200] * batches, results
    items = [item for _, body in results for item in body["results"]]
    assert [item["status"] for item in items] == [201] * batches * per_batch
    moments_once = Moment.objects.filter(campaign=once).count()
    moments_two = Moment.objects.filter(campaign=every_two).count()
    expected_two = sum(n // 2 for n in events_of.values())
    print(
        f"\n[batches] {batches} batches × {per_batch} events over {len(events_of)} users in {elapsed:.2f}s: "
        f"once={moments_once}/60 every-two={moments_two}/{expected_two} spent={spent(BrandSpend)}"
    )
    assert moments_once == 60  # demand of 175 users, budget of 60
    assert moments_two == expected_two == 150
    assert len(set(Moment.objects.filter(campaign=once).values_list("user_id", flat=True))) == 60
    for progress in Progress.objects.all():
        assert progress.count == events_of[progress.user_id], progress.user_id
    assert ledger_sum() == (60 + expected_two) * cpa == spent(BrandSpend) == spent(CampaignSpend)
    for campaign in (once, every_two):
        assert ledger_sum(campaign=campaign) == spent(CampaignSpend, campaign=campaign)
    assert CampaignSpend.objects.get(campaign=once).capped_at is not None
    assert_every_moment_charged_once({once.pk: cpa, every_two.pk: cpa})
    assert_no_duplicate_moments()
    reported = [m for item in items for m in item["event"]["moments"]]
    assert len(reported) == moments_once + moments_two == len({m["id"] for m in reported})

    # the same batches again, all at once: every item is a replay with the first answer, nothing moves
    rows_before = {m.__name__: m.objects.count() for m in (Event, Progress, Moment, LedgerEntry)}
    spend_before = spent(BrandSpend)
    again, _ = in_parallel(batches, post_batch, secret)
    for (status, body), (_, first) in zip(again, results, strict=True):
        assert status == 200
        assert [item["status"] for item in body["results"]] == [200] * per_batch
        assert [item["event"] for item in body["results"]] == [item["event"] for item in first["results"]]
    assert {m.__name__: m.objects.count() for m in (Event, Progress, Moment, LedgerEntry)} == rows_before
    assert spent(BrandSpend) == spend_before
