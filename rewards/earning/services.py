"""Earning: events recorded once (idempotent on event_id), progress counted per (campaign, user),
moments granted and charged against the month's caps in the same transaction, set-based."""

import hashlib
import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal

from django.db import transaction
from django.db.models import F
from uuid6 import uuid7

from config import metrics
from config.api import json_number
from rewards import clock, sql
from rewards.campaigns.models import Campaign
from rewards.campaigns.selectors import campaign_gives_at_once, campaign_rewards, watching_and_policy
from rewards.earning.models import Event, EventKey, Progress
from rewards.errors import BrandInactive, IdempotencyConflict
from rewards.fields import Mode
from rewards.ledger import services as ledger
from rewards.ledger.locks import MonthSpend, lock_money
from rewards.moments.claims import claim_token, claim_token_hash, claim_url
from rewards.moments.models import Donation, Moment
from rewards.periods import month_of
from rewards.webhooks import services as webhooks
from tenants.models import Brand

QUANTUM = Decimal("0.001")
# The most moments one event earns in one campaign (DESIGN.md §5): a huge quantity does bounded
# work, and what else it made due stays owed, granted by the user's next events.


MAX_MOMENTS_PER_EVENT = 10


@dataclass(frozen=True)
class EventInput:
    """One validated event of the API (DESIGN.md §5)."""

    event_id: str
    user_id: str
    action: str
    quantity: Decimal = Decimal("1")
    occurred_at: datetime | None = None
    country: str = ""
    properties: dict = field(default_factory=dict)

    def body_hash(self, mode: str) -> str:
        """What makes two posts "the same body": every field, normalised, defaults not filled in,
        and the key's mode (a live post of an id first used in test mode is a conflict, not a replay)."""
        canonical = {
            "mode": mode,
            "event_id": self.event_id,
            "user_id": self.user_id,
            "action": self.action,
            "quantity": str(self.quantity.normalize()),
            "occurred_at": self.occurred_at.isoformat() if self.occurred_at else None,
            "country": self.country,
            "properties": self.properties,
        }
        return hashlib.sha256(json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass
class EventOutcome:
    """What one posted event came to: `new` (first seen, `body` its answer), `replay` (the first
    answer again) or a `conflict` (`error`: the same event_id with another body)."""

    kind: str
    body: dict | None = None
    error: IdempotencyConflict | None = None


def events_ingest(*, brand: Brand, mode: str, events: list[EventInput], now: datetime | None = None):
    """Record events and everything they earn, in one transaction; returns outcomes in input order.

    Idempotent on (brand, event_id): the first post of an id is processed; a later post (or a
    repeat inside the batch) gets the first answer (a replay) or, with another body, a conflict.
    A post arriving while the first is in flight waits on the key's unique index until it commits.
    """
    if not brand.is_active:
        raise BrandInactive(brand.slug)
    now = clock.mode_now(brand, mode, now)
    first_of = {}  # event_id → position of its first post in this call, in input order
    for index, event in enumerate(events):
        first_of.setdefault(event.event_id, index)
    with transaction.atomic():
        new_rows = _claim_event_ids(brand, mode, [events[index] for index in first_of.values()], now)
        repeated = [event_id for event_id in first_of if event_id not in new_rows]
        earlier = (
            {row.event_id: row for row in Event.objects.filter(brand=brand).filter(event_id__in=repeated)}
            if repeated
            else {}
        )
        # Earned in input order (first-N and running counts follow the order the app sent).
        new_events = [
            (events[index], new_rows[event_id]) for event_id, index in first_of.items() if event_id in new_rows
        ]
        if new_events:
            bodies, grants, tally = _earn(brand, mode, new_events, now)
            for event, row in new_events:
                row.response = bodies[event.event_id]
            _write_events(new_rows.values())
            if grants.counters or grants.capped:
                _write_grants(brand, mode, grants, now)
            # Counted once per call, if it commits: a few increments, no query (config/metrics.py).
            transaction.on_commit(
                lambda: metrics.events_counted(
                    brand=brand.slug,
                    mode=mode,
                    actions=tally.actions,
                    granted=len(grants.moments),
                    blocked=tally.blocked,
                )
            )

    outcomes = []
    for index, event in enumerate(events):
        if first_of[event.event_id] == index and event.event_id in new_rows:
            outcomes.append(EventOutcome("new", _render(new_rows[event.event_id].response)))
            continue
        stored = new_rows.get(event.event_id) or earlier[event.event_id]
        if stored.body_hash != event.body_hash(mode):
            outcomes.append(EventOutcome("conflict", error=IdempotencyConflict()))
        else:
            outcomes.append(EventOutcome("replay", _render(stored.response)))
    return outcomes


def _claim_event_ids(brand, mode, events, now) -> dict:
    """Claim the event ids that are new; {event_id: Event} of those this call claimed, not yet
    written (`_write_events` writes them with their answers).

    One INSERT … ON CONFLICT DO NOTHING RETURNING into the narrow key table, in event_id order so
    that two overlapping batches wait for each other instead of deadlocking.
    """
    rows = [
        Event(
            brand=brand,
            event_id=event.event_id,
            mode=mode,
            body_hash=event.body_hash(mode),
            user_id=event.user_id,
            action=event.action,
            quantity=event.quantity,
            occurred_at=event.occurred_at or now,
            received_at=now,
            country=event.country,
            properties=event.properties,
        )
        for event in sorted(events, key=lambda e: e.event_id)
    ]
    inserted = sql.insert_on_conflict(
        EventKey,
        [{"row": row.pk, "brand": brand.pk, "event_id": row.event_id} for row in rows],
        conflict=["brand", "event_id"],
        update=None,
        returning=["event_id"],
    )
    inserted = {event_id for (event_id,) in inserted}
    return {row.event_id: row for row in rows if row.event_id in inserted}


def _write_events(rows) -> None:
    """The claimed events, whole, with their answers: one INSERT (their keys hold their ids)."""
    columns = Event._meta.concrete_fields
    sql.insert_on_conflict(
        Event,
        [{f.name: getattr(row, f.attname) for f in columns} for row in rows],
        conflict=None,
        update=None,
        returning=[],
    )
    for row in rows:
        row._state.adding = False


@dataclass
class _Track:
    """One (campaign, user) progress row while a batch is applied to it: `count` runs, event by
    event, from the row's count before the call to `final`, its count after."""

    progress_id: uuid.UUID
    count: Decimal
    final: Decimal
    granted: int


@dataclass
class _Tally:
    """What a call's new events come to for the metrics: events by action (an action none of the
    brand's campaigns counts as `other`, so a client's typos make no series) and `blocked` reasons."""

    actions: Counter = field(default_factory=Counter)
    blocked: Counter = field(default_factory=Counter)


def _earn(brand, mode, new_events, now) -> tuple[dict, "_Grants", _Tally]:
    """Count progress and decide the moments new events earn: {event_id: response body}, the
    grants for `_write_grants` to write, and the tally for the metrics."""
    campaigns_by_action, policy, watched = watching_and_policy(brand.pk, mode, {e.action for e, _ in new_events})
    policy_excluded = {country.code for country in policy.excluded_countries}
    # Which (event, campaign) pairs count (the campaign is open at the event's time), and what the
    # batch brings each (campaign, user): the sum of its quantities, or the highest (a level).
    added, levels = {}, {}
    for event, row in new_events:
        for campaign in campaigns_by_action[event.action]:
            if _timing_block(campaign, row.occurred_at) is None:
                key = (campaign.pk, event.user_id)
                brought = levels if campaign.counting == Campaign.Counting.MAX else added
                brought[key] = _counted(campaign, brought.get(key, Decimal("0")), event.quantity)
    tracks = _add_progress(brand, mode, added, levels, now) if added or levels else {}
    grants = _lock_for_grants(brand, mode, campaigns_by_action, tracks, now)
    standing = _counts_not_moved(brand, mode, new_events, campaigns_by_action, tracks)

    # The batch walked in order: each event gets its own count.
    bodies, tally = {}, _Tally()
    for event, row in new_events:
        moments, progress = [], []
        for campaign in campaigns_by_action[event.action]:
            blocked = _timing_block(campaign, row.occurred_at)
            key = (campaign.pk, event.user_id)
            if blocked is None:
                track = tracks[key]
                before, track.count = track.count, _counted(campaign, track.count, event.quantity)
                blocked = _grant_due(
                    brand, mode, campaign, event, row, track, before, policy_excluded, now, moments, grants
                )
                count = track.count
            else:
                count = tracks[key].count if key in tracks else standing.get(key, Decimal("0"))
            progress.append(
                {
                    "campaign": campaign.slug,
                    "count": json_number(count),
                    "threshold": json_number(campaign.threshold),
                    "blocked": blocked,
                }
            )
            if blocked is not None:
                tally.blocked[blocked] += 1
        known = event.action in watched
        tally.actions[event.action if known else metrics.OTHER_ACTION] += 1
        warnings = [] if known else [_unknown_action(event.action)]
        bodies[event.event_id] = {
            "event_id": event.event_id,
            "moments": moments,
            "progress": progress,
            "warnings": warnings,
        }
    return bodies, grants, tally


def _unknown_action(action: str) -> dict:
    """The warning of an event whose action none of the brand's campaigns counts: it was recorded,
    and earns nothing until a campaign watches it (most often a typo in the app)."""
    return {
        "code": "unknown_action",
        "message": f"No campaign of yours, live or test, counts '{action}'; check its spelling.",
    }


@dataclass
class _Grants:
    """The grants of one call, decided event by event in memory and written once at the end
    (`_write_grants`): every row they move was locked first, by `_lock_for_grants`."""

    held: MonthSpend  # what the month counters hold, kept current as grants are decided
    granted_so_far: dict = field(default_factory=dict)  # campaign id → its mode's granted counter
    counters: dict = field(default_factory=dict)  # campaign id → moments this call adds
    progress: dict = field(default_factory=dict)  # progress id → its `granted` after this call
    moments: list = field(default_factory=list)
    donations: list = field(default_factory=list)
    announced: list = field(default_factory=list)  # the moment.earned webhook payloads, in order
    charges: dict = field(default_factory=dict)  # campaign id → (cpa, moments), in the mode's ledger
    capped: dict = field(default_factory=dict)  # campaign id → campaign whose month is now capped


def _lock_for_grants(brand, mode, campaigns_by_action, tracks, now) -> _Grants:
    """Before the first grant, lock what every grant of this call may need, at once and in the one
    order (rewards/ledger/locks.py): grants then follow event order, across campaigns, without ever
    waiting on another transaction in a different order. Only when some moment may be due."""
    campaigns = {campaign.pk: campaign for group in campaigns_by_action.values() for campaign in group}
    may_grant = set()
    for (campaign_id, _user_id), track in tracks.items():
        campaign = campaigns[campaign_id]
        if _due(campaign, _steps(track.final, campaign.threshold)) > track.granted:
            may_grant.add(campaign_id)
    if not may_grant:
        return _Grants(held=MonthSpend())
    locked = Campaign.objects.filter(pk__in=may_grant)
    held = lock_money(
        brand_id=brand.pk, mode=mode, period=month_of(now), campaign_ids=may_grant, rows=[locked], granting=True
    )
    grants = _Grants(held=held)
    if any(campaigns[campaign_id].max_moments is not None for campaign_id in may_grant):
        grants.granted_so_far = dict(locked.values_list("pk", _granted_counter(mode)))
    return grants


def _granted_counter(mode) -> str:
    return "granted_live" if mode == Mode.LIVE else "granted_test"


def _add_progress(brand, mode, added: dict, levels: dict, now) -> dict:
    """Upsert every (campaign, user) row at once, in key order (lock order); {key: _Track}.

    `added`: what the batch adds to a sum; `levels`: the highest value it reports to a "max"
    campaign. One statement for both: a level's row is upserted adding 0, which locks it and
    returns its stored level (PostgreSQL before 18 cannot return the old value of a row that
    `GREATEST` updated, and the batch's walk needs it), then the levels the batch raised are
    written by one UPDATE under that lock. An event on sum campaigns only costs what it did.
    """
    keys = sorted({*added, *levels}, key=lambda key: (str(key[0]), key[1]))
    rows = sql.insert_on_conflict(
        Progress,
        [
            {
                "id": uuid7(),
                "brand": brand.pk,
                "campaign": campaign_id,
                "mode": mode,
                "user_id": user_id,
                "count": added.get((campaign_id, user_id), Decimal("0")),
                "granted": 0,
                "updated_at": now,
            }
            for campaign_id, user_id in keys
        ],
        conflict=["campaign", "mode", "user_id"],
        update="count = {table}.count + excluded.count, updated_at = excluded.updated_at",
        returning=["id", "campaign", "user_id", "count", "granted"],
    )
    to_uuid = Progress._meta.get_field("campaign").to_python
    tracks, raised = {}, []
    for pk, campaign_id, user_id, count, granted in rows:
        key, stored = (to_uuid(campaign_id), user_id), _quantity(count)
        if key in levels:
            before, after = stored, max(stored, levels[key])
            if after > stored:
                raised.append(Progress(pk=to_uuid(pk), count=after))
        else:
            before, after = stored - added[key], stored
        tracks[key] = _Track(progress_id=to_uuid(pk), count=before, final=after, granted=granted)
    sql.update_each(Progress, raised, ["count"])
    return tracks


def _counts_not_moved(brand, mode, new_events, campaigns_by_action, tracks) -> dict:
    """Counts to report for campaigns an event did not count toward (not started, ended): one query."""
    wanted = {
        (campaign.pk, event.user_id)
        for event, _ in new_events
        for campaign in campaigns_by_action[event.action]
        if (campaign.pk, event.user_id) not in tracks
    }
    if not wanted:
        return {}
    rows = Progress.objects.filter(brand=brand).filter(
        mode=mode, campaign_id__in={c for c, _ in wanted}, user_id__in={u for _, u in wanted}
    )
    return {(c, u): count for c, u, count in rows.values_list("campaign_id", "user_id", "count") if (c, u) in wanted}


def _timing_block(campaign, occurred_at) -> str | None:
    if campaign.starts_at and occurred_at < campaign.starts_at:
        return "not_started"
    if campaign.ends_at and occurred_at >= campaign.ends_at:
        return "ended"
    return None


def _grant_due(brand, mode, campaign, event, row, track, before, policy_excluded, now, moments, grants) -> str | None:
    """Grant what this event made due (every `threshold` units, up to max_per_user, at most
    MAX_MOMENTS_PER_EVENT at once); the reason if something due was not granted."""
    steps_before = _steps(before, campaign.threshold)
    steps_now = _steps(track.count, campaign.threshold)
    due = _due(campaign, steps_now)
    if due <= track.granted:
        crossed = steps_now > steps_before
        return "user_limit" if crossed and campaign.max_per_user is not None else None
    if event.country and (
        event.country in policy_excluded or event.country in {c.code for c in campaign.excluded_countries}
    ):
        return "country_excluded"
    wanted = min(due - track.granted, MAX_MOMENTS_PER_EVENT)
    granted, blocked = _grant(brand, mode, campaign, event, row, track, wanted, now, grants)
    track.granted += len(granted)
    moments.extend(_moment_body(m, gives_claim=m.status == Moment.Status.EARNED) for m in granted)
    if blocked is None and track.granted < due:
        return "event_limit"  # still owed: the user's next event on this action grants more
    return blocked


def _grant(brand, mode, campaign, event, row, track, wanted: int, now, grants: _Grants):
    """Up to `wanted` moments at once, charged in the same transaction: as many as the brand's and
    the campaign's month and the first-N limit leave room for; the moments, and the rule that
    stopped the rest. Decided here, against what `grants` holds; written by `_write_grants`."""
    held = grants.held
    count, blocked = wanted, None

    def limit(room: int, reason: str) -> None:
        nonlocal count, blocked
        if room < count:
            count, blocked = max(room, 0), reason

    # Test mode has caps of its own, against its own ledger: trying a cap there costs nothing.
    limit(_room(brand.monthly_cap - held.brand, campaign.cpa), "brand_cap")
    campaign_spent = held.campaigns[campaign.pk]
    limit(_room(campaign.monthly_budget - campaign_spent, campaign.cpa), "campaign_cap")
    if campaign.max_moments is not None and count:
        limit(campaign.max_moments - grants.granted_so_far[campaign.pk], "campaign_full")
    if count == 0:
        if blocked == "campaign_cap":
            grants.capped[campaign.pk] = campaign
        return [], blocked
    grants.counters[campaign.pk] = grants.counters.get(campaign.pk, 0) + count
    if campaign.max_moments is not None:
        grants.granted_so_far[campaign.pk] += count
    grants.progress[track.progress_id] = track.granted + count
    at_once = campaign_gives_at_once(campaign)
    moments = [
        Moment(
            brand=brand,
            campaign=campaign,
            event=row,
            mode=mode,
            user_id=event.user_id,
            sequence=track.granted + 1 + offset,
            status=Moment.Status.FULFILLED if at_once else Moment.Status.EARNED,
            cpa=campaign.cpa,
            earned_at=now,
            expires_at=now + timedelta(days=campaign.claim_window_days),
            fulfilled_at=now if at_once else None,
        )
        for offset in range(count)
    ]
    if not at_once:
        for moment in moments:
            moment.claim_token_hash = claim_token_hash(claim_token(moment.pk))
    grants.moments.extend(moments)
    if at_once and mode == Mode.LIVE:  # the donation is made now: into the donation ledger (live only)
        item = campaign_rewards(campaign)[0]
        grants.donations.extend(
            Donation(brand=brand, charity_id=item.charity_id, amount=item.value, moment=moment) for moment in moments
        )
    grants.announced.extend(_moment_body(moment, gives_claim=not at_once) for moment in moments)
    charge = campaign.cpa * count
    grants.charges.setdefault(campaign.pk, (campaign.cpa, []))[1].extend(moments)
    held.brand += charge
    held.campaigns[campaign.pk] = campaign_spent + charge
    if campaign_spent + charge + campaign.cpa > campaign.monthly_budget:
        grants.capped[campaign.pk] = campaign  # these grants used the last of the month's budget
    return moments, blocked


def _write_grants(brand, mode, grants: _Grants, now) -> None:
    """Write what the call's grants decided: a statement per table (the campaigns' counters one
    per campaign), whatever the number of grants. The rows were locked by `_lock_for_grants`, and
    the progress rows by their upsert, so the values decided in memory are the rows' own."""
    counter = _granted_counter(mode)
    for campaign_id, added in grants.counters.items():
        Campaign.objects.filter(pk=campaign_id).update(**{counter: F(counter) + added})
    sql.update_each(
        Progress, [Progress(pk=pk, granted=granted) for pk, granted in grants.progress.items()], ["granted"]
    )
    Moment.objects.bulk_create(grants.moments)
    Donation.objects.bulk_create(grants.donations)
    webhooks.emit_many(
        brand=brand, mode=mode, event_type="moment.earned", datas=_render({"moments": grants.announced})["moments"]
    )
    ledger.charge(
        brand_id=brand.pk,
        mode=mode,
        period=month_of(now),
        charges=[(campaign_id, cpa, moments) for campaign_id, (cpa, moments) in grants.charges.items()],
    )
    for campaign in grants.capped.values():
        _mark_capped(campaign, now)


def _room(left: Decimal, cpa: Decimal) -> int:
    """How many CPAs fit in what is left of a month's budget."""
    return int((left / cpa).to_integral_value(rounding=ROUND_FLOOR)) if left > 0 else 0


def _mark_capped(campaign, now) -> None:
    """Mark the campaign's month capped, once: the conditional UPDATE lets only one caller do it,
    and that one announces it (`campaign.capped`)."""
    period = month_of(now)
    if ledger.counters_mark_capped(campaign_id=campaign.pk, period=period, now=now):
        webhooks.emit(
            brand=campaign.brand,
            mode=campaign.mode,  # test mode's own counters cap test campaigns
            event_type="campaign.capped",
            data={
                "campaign": campaign.slug,
                "month": period.isoformat()[:7],
                "monthly_budget": f"{campaign.monthly_budget:.2f}",
                "mode": campaign.mode,
            },
        )


def _due(campaign, steps: int) -> int:
    """Moments a user with `steps` thresholds crossed is owed in all: one a step, up to max_per_user."""
    return steps if campaign.max_per_user is None else min(steps, campaign.max_per_user)


def _counted(campaign, count: Decimal, quantity: Decimal) -> Decimal:
    """A count after one more quantity: added to it, or the higher of the two (a level)."""
    return max(count, quantity) if campaign.counting == Campaign.Counting.MAX else count + quantity


def _steps(count: Decimal, threshold: Decimal) -> int:
    return int((count / threshold).to_integral_value(rounding=ROUND_FLOOR))


def _quantity(value) -> Decimal:
    # SQLite hands back floats for decimal columns; PostgreSQL hands back exact Decimals.
    return Decimal(str(value)).quantize(QUANTUM)


def _moment_body(moment: Moment, *, gives_claim: bool) -> dict:
    """A moment as the API shows it; `claim_url` is filled in when rendered, never stored."""
    return {
        "id": str(moment.pk),
        "campaign": moment.campaign.slug,
        "user_id": moment.user_id,
        "status": moment.status,
        "claim_url": gives_claim,
        "expires_at": clock.utc_iso(moment.expires_at),
        "mode": moment.mode,
    }


def _render(stored: dict) -> dict:
    """A stored event answer with its claim URLs derived again (they are never stored); answers
    stored before events carried warnings have none."""
    return {
        **stored,
        "moments": [{**m, "claim_url": claim_url(m["id"]) if m["claim_url"] else None} for m in stored["moments"]],
        "warnings": stored.get("warnings", []),
    }
