"""Every state change of campaigns, events, progress, moments and money goes through these functions."""

import copy
import csv
import hashlib
import io
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal

from django.core.exceptions import ValidationError
from django.db import OperationalError, transaction
from django.db.models import F
from django.db.models.functions import Round
from django.utils import timezone
from uuid6 import uuid7

from config.api import json_number
from config.errors import DomainError, lock_timed_out
from rewards import selectors, sql, webhooks
from rewards.claims import claim_token, claim_token_hash, claim_url
from rewards.locks import MonthSpend, lock_money
from rewards.models import (
    BrandSpend,
    Campaign,
    CampaignReward,
    CampaignSpend,
    CatalogItem,
    DigitalCode,
    Donation,
    Event,
    LedgerEntry,
    Mode,
    Moment,
    Progress,
    StockMovement,
)
from tenants.models import Brand, User

QUANTUM = Decimal("0.001")
# The most moments one event earns in one campaign (DESIGN.md §5): a huge quantity does bounded
# work, and what else it made due stays owed, granted by the user's next events.
MAX_MOMENTS_PER_EVENT = 10


class InvalidState(DomainError):
    """A status change the object's current status does not allow (a campaign's, a moment's)."""

    status = 409
    code = "invalid_status"


class IdempotencyConflict(DomainError):
    """An event_id already used with another body (or the key's other mode)."""

    status = 409
    code = "idempotency_conflict"

    def __init__(self):
        super().__init__("This event_id was already used with a different body.")


class BrandInactive(Exception):
    """A suspended brand earns nothing."""


# --- Campaigns --------------------------------------------------------------------------------

CAMPAIGN_FIELDS = [
    "slug",
    "name",
    "action",
    "threshold",
    "cpa",
    "monthly_budget",
    "starts_at",
    "ends_at",
    "max_moments",
    "max_per_user",
    "excluded_countries",
    "claim_window_days",
]
# Progress is counted per action and campaigns are addressed by slug: both stay as they were
# once a campaign has left its draft.
FIXED_AFTER_DRAFT = ["slug", "action"]


def campaign_create(*, brand: Brand, data: dict) -> Campaign:
    """Create a draft. `data` has CAMPAIGN_FIELDS (any subset) and `rewards`, a list of SKUs."""
    campaign = Campaign(brand=brand)
    rewards = _campaign_apply(campaign, data)
    return _campaign_save(campaign, rewards, old_action="")


def campaign_update(*, campaign: Campaign, data: dict) -> Campaign:
    """Change some fields; the rules are those of creation, checked against the result."""
    old_action = campaign.action
    rewards = _campaign_apply(campaign, data)
    return _campaign_save(campaign, rewards, old_action)


def campaign_check(*, brand: Brand, data: dict, campaign: Campaign | None = None) -> None:
    """Raise the ValidationError that creating (or updating) with `data` would raise; change nothing."""
    _campaign_apply(copy.copy(campaign) if campaign else Campaign(brand=brand), data)


def _campaign_apply(campaign: Campaign, data: dict):
    """Set `data` on the campaign and check every rule; the reward items when `data` names them."""
    unknown = set(data) - set(CAMPAIGN_FIELDS) - {"rewards"}
    if unknown:
        raise ValueError(f"not campaign fields: {sorted(unknown)}")
    if not campaign._state.adding and campaign.status != Campaign.Status.DRAFT:
        fixed = {
            name: ValidationError("This cannot change once the campaign has left its draft.", code="immutable")
            for name in FIXED_AFTER_DRAFT
            if name in data and data[name] != getattr(campaign, name)
        }
        if fixed:
            raise ValidationError(fixed)
    for name in CAMPAIGN_FIELDS:
        if name in data:
            setattr(campaign, name, data[name])
    rewards = _rewards_from_skus(data["rewards"]) if "rewards" in data else None
    _campaign_validate(campaign, rewards)
    return rewards


def _campaign_save(campaign: Campaign, rewards, old_action: str) -> Campaign:
    with transaction.atomic():
        campaign.save()
        if rewards is not None:
            CampaignReward.objects.filter(campaign=campaign).delete()
            CampaignReward.objects.bulk_create(
                CampaignReward(campaign=campaign, item=item, position=position) for position, item in enumerate(rewards)
            )
        _campaigns_changed(campaign, old_action)
    return campaign


def _rewards_from_skus(skus) -> list[CatalogItem]:
    skus = list(dict.fromkeys(skus))  # keep the brand's order, drop repeats
    if not skus:
        raise ValidationError({"rewards": ValidationError("Choose at least one reward.", code="required")})
    items = {item.sku: item for item in CatalogItem.objects.filter(sku__in=skus)}
    unknown = [sku for sku in skus if sku not in items]
    if unknown:
        raise ValidationError(
            {"rewards": ValidationError(f"No such catalog item: {', '.join(unknown)}.", code="does_not_exist")}
        )
    inactive = [sku for sku in skus if not items[sku].active]
    if inactive:
        raise ValidationError(
            {"rewards": ValidationError(f"No longer offered: {', '.join(inactive)}.", code="inactive")}
        )
    return [items[sku] for sku in skus]


def _campaign_validate(campaign: Campaign, rewards) -> None:
    """The rules of DESIGN.md §3 and §5, the same for the admin and the API."""
    errors = {}
    try:
        campaign.full_clean(exclude=["brand"], validate_constraints=False)
    except ValidationError as exc:
        errors.update(exc.error_dict)
    policy = selectors.platform_policy()

    def add(name, message, code):
        errors.setdefault(name, []).append(ValidationError(message, code=code))

    if "cpa" not in errors and campaign.cpa < policy.min_cpa:
        add("cpa", f"The CPA must be at least {policy.min_cpa} USD.", "min_value")
    if "monthly_budget" not in errors:
        budget = campaign.monthly_budget
        if budget > policy.max_campaign_budget:
            add(
                "monthly_budget",
                f"A campaign's monthly budget can be at most {policy.max_campaign_budget} USD.",
                "max_value",
            )
        elif budget > campaign.brand.monthly_cap:
            add("monthly_budget", f"The brand's monthly cap is {campaign.brand.monthly_cap} USD.", "max_value")
        elif "cpa" not in errors and budget < campaign.cpa:
            add("monthly_budget", "The monthly budget must cover at least one CPA.", "min_value")
    if campaign.starts_at and campaign.ends_at and campaign.ends_at <= campaign.starts_at:
        add("ends_at", "The end must come after the start.", "invalid")
    if "slug" not in errors and campaign.slug:
        taken = Campaign.objects.for_brand(campaign.brand).filter(slug=campaign.slug).exclude(pk=campaign.pk)
        if taken.exists():
            add("slug", "You already have a campaign with this slug.", "unique")
    if rewards is None and campaign._state.adding:
        add("rewards", "Choose at least one reward.", "required")
    if errors:
        raise ValidationError(errors)


def campaign_activate(*, campaign: Campaign) -> Campaign:
    if campaign.ends_at and campaign.ends_at <= timezone.now():
        raise InvalidState("The campaign's end date has passed; move it before activating.")
    inactive = list(
        CampaignReward.objects.filter(campaign=campaign, item__active=False).values_list("item__sku", flat=True)
    )
    if inactive:
        raise InvalidState(f"Some rewards are no longer offered: {', '.join(inactive)}.")
    return _campaign_move(campaign, {Campaign.Status.DRAFT, Campaign.Status.PAUSED}, Campaign.Status.ACTIVE)


def campaign_pause(*, campaign: Campaign) -> Campaign:
    return _campaign_move(campaign, {Campaign.Status.ACTIVE}, Campaign.Status.PAUSED)


def campaign_end(*, campaign: Campaign) -> Campaign:
    return _campaign_move(campaign, {Campaign.Status.ACTIVE, Campaign.Status.PAUSED}, Campaign.Status.ENDED)


def _campaign_move(campaign: Campaign, allowed_from: set, to: str) -> Campaign:
    """draft → active ⇄ paused → ended, as one conditional UPDATE: a concurrent move loses cleanly."""
    with transaction.atomic():
        moved = Campaign.objects.filter(pk=campaign.pk, status__in=allowed_from).update(
            status=to, updated_at=timezone.now()
        )
        if not moved:
            campaign.refresh_from_db(fields=["status"])
            raise InvalidState(f"A campaign that is {campaign.status} cannot become {to}.")
        campaign.status = to
        _campaigns_changed(campaign, campaign.action)
    return campaign


def _campaigns_changed(campaign: Campaign, old_action: str) -> None:
    for action in {old_action, campaign.action} - {""}:
        selectors.campaigns_changed(campaign.brand_id, action)


# --- Events: ingestion, progress and earning --------------------------------------------------


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
    A post arriving while the first is in flight waits on the unique index until it commits.
    """
    if not brand.is_active:
        raise BrandInactive(brand.slug)
    now = now or timezone.now()
    first_of = {}  # event_id → position of its first post in this call, in input order
    for index, event in enumerate(events):
        first_of.setdefault(event.event_id, index)
    with transaction.atomic():
        new_rows = _claim_event_ids(brand, mode, [events[index] for index in first_of.values()], now)
        earlier = {
            row.event_id: row
            for row in Event.objects.for_brand(brand).filter(event_id__in=[e for e in first_of if e not in new_rows])
        }
        # Earned in input order (first-N and running counts follow the order the app sent).
        new_events = [
            (events[index], new_rows[event_id]) for event_id, index in first_of.items() if event_id in new_rows
        ]
        bodies = _earn(brand, mode, new_events, now) if new_events else {}
        for event, row in new_events:
            row.response = bodies[event.event_id]
        Event.objects.bulk_update([row for _, row in new_events], ["response"])

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
    """Insert the events that are new; {event_id: Event} of those this call inserted.

    One INSERT … ON CONFLICT DO NOTHING RETURNING, in event_id order so that two overlapping
    batches wait for each other instead of deadlocking.
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
    columns = [f for f in Event._meta.concrete_fields if f.name != "response"]
    inserted = sql.insert_on_conflict(
        Event,
        [{f.name: getattr(row, f.attname) for f in columns} for row in rows],
        conflict=["brand", "event_id"],
        update=None,
        returning=["event_id"],
    )
    inserted = {event_id for (event_id,) in inserted}
    claimed = {}
    for row in rows:
        if row.event_id in inserted:
            row._state.adding = False
            claimed[row.event_id] = row
    return claimed


@dataclass
class _Track:
    """One (campaign, user) progress row while a batch is applied to it."""

    progress_id: uuid.UUID
    count: Decimal
    granted: int


def _earn(brand, mode, new_events, now) -> dict:
    """Count progress and grant moments for new events; {event_id: response body}."""
    campaigns_by_action = {
        action: selectors.active_campaigns_watching(brand.pk, action) for action in {e.action for e, _ in new_events}
    }
    policy_excluded = {country.code for country in selectors.platform_policy().excluded_countries}
    # Which (event, campaign) pairs count: the campaign is open at the event's time.
    counted = {}
    for event, row in new_events:
        for campaign in campaigns_by_action[event.action]:
            if _timing_block(campaign, row.occurred_at) is None:
                key = (campaign.pk, event.user_id)
                counted[key] = counted.get(key, Decimal("0")) + event.quantity
    tracks = _add_progress(brand, mode, counted, now) if counted else {}
    held = _lock_for_grants(brand, mode, campaigns_by_action, tracks, now)
    standing = _counts_not_moved(brand, mode, new_events, campaigns_by_action, tracks)
    # The totals include the whole batch; walk it in order to give each event its own count.
    for key, added in counted.items():
        tracks[key].count -= added

    bodies = {}
    for event, row in new_events:
        moments, progress = [], []
        for campaign in campaigns_by_action[event.action]:
            blocked = _timing_block(campaign, row.occurred_at)
            key = (campaign.pk, event.user_id)
            if blocked is None:
                track = tracks[key]
                before, track.count = track.count, track.count + event.quantity
                blocked = _grant_due(
                    brand, mode, campaign, event, row, track, before, policy_excluded, now, moments, held
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
        bodies[event.event_id] = {"event_id": event.event_id, "moments": moments, "progress": progress}
    return bodies


def _lock_for_grants(brand, mode, campaigns_by_action, tracks, now) -> MonthSpend:
    """Before the first grant, lock what every grant of this call may need, at once and in the one
    order (rewards/locks.py): grants then follow event order, across campaigns, without ever
    waiting on another transaction in a different order. Only when some moment may be due; what
    the counters held, which the grants keep up to date as they charge."""
    campaigns = {campaign.pk: campaign for group in campaigns_by_action.values() for campaign in group}
    may_grant = set()
    for (campaign_id, _user_id), track in tracks.items():
        campaign = campaigns[campaign_id]
        due = _steps(track.count, campaign.threshold)
        if campaign.max_per_user is not None:
            due = min(due, campaign.max_per_user)
        if due > track.granted:
            may_grant.add(campaign_id)
    if not may_grant:
        return MonthSpend()
    period = selectors.month_of(now) if mode == Mode.LIVE else None
    return lock_money(brand_id=brand.pk, period=period, campaign_ids=may_grant, granting=True)


def _add_progress(brand, mode, counted: dict, now) -> dict:
    """Upsert every (campaign, user) row at once, in key order (lock order); {key: _Track} after."""
    keys = sorted(counted, key=lambda key: (str(key[0]), key[1]))
    rows = sql.insert_on_conflict(
        Progress,
        [
            {
                "id": uuid7(),
                "brand": brand.pk,
                "campaign": campaign_id,
                "mode": mode,
                "user_id": user_id,
                "count": counted[(campaign_id, user_id)],
                "granted": 0,
                "updated_at": now,
            }
            for campaign_id, user_id in keys
        ],
        conflict=["campaign", "mode", "user_id"],
        update="count = {table}.count + excluded.count, updated_at = excluded.updated_at",
        returning=["id", "campaign", "user_id", "count", "granted"],
    )
    campaign_field = Progress._meta.get_field("campaign")
    to_uuid = campaign_field.to_python
    return {
        (to_uuid(campaign_id), user_id): _Track(progress_id=to_uuid(pk), count=_quantity(count), granted=granted)
        for pk, campaign_id, user_id, count, granted in rows
    }


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
    rows = Progress.objects.for_brand(brand).filter(
        mode=mode, campaign_id__in={c for c, _ in wanted}, user_id__in={u for _, u in wanted}
    )
    return {(c, u): count for c, u, count in rows.values_list("campaign_id", "user_id", "count") if (c, u) in wanted}


def _timing_block(campaign, occurred_at) -> str | None:
    if campaign.starts_at and occurred_at < campaign.starts_at:
        return "not_started"
    if campaign.ends_at and occurred_at >= campaign.ends_at:
        return "ended"
    return None


def _grant_due(brand, mode, campaign, event, row, track, before, policy_excluded, now, moments, held) -> str | None:
    """Grant what this event made due (every `threshold` units, up to max_per_user, at most
    MAX_MOMENTS_PER_EVENT at once); the reason if something due was not granted."""
    steps_before = _steps(before, campaign.threshold)
    steps_now = _steps(track.count, campaign.threshold)
    due = steps_now if campaign.max_per_user is None else min(steps_now, campaign.max_per_user)
    if due <= track.granted:
        crossed = steps_now > steps_before
        return "user_limit" if crossed and campaign.max_per_user is not None else None
    if event.country and (
        event.country in policy_excluded or event.country in {c.code for c in campaign.excluded_countries}
    ):
        return "country_excluded"
    wanted = min(due - track.granted, MAX_MOMENTS_PER_EVENT)
    with transaction.atomic():
        granted, blocked = _grant(brand, mode, campaign, event, row, track, wanted, now, held)
    track.granted += len(granted)
    moments.extend(_moment_body(m, gives_claim=m.status == Moment.Status.EARNED) for m in granted)
    if blocked is None and track.granted < due:
        return "event_limit"  # still owed: the user's next event on this action grants more
    return blocked


def _grant(brand, mode, campaign, event, row, track, wanted: int, now, held: MonthSpend):
    """Up to `wanted` moments at once, charged in the same transaction: as many as the brand's and
    the campaign's month and the first-N limit leave room for; the moments, and the rule that
    stopped the rest.

    Everything it moves was locked by `_lock_for_grants` (`held`: what the month counters hold,
    kept current here); each counter moves once, by the whole amount.
    """
    period = selectors.month_of(now)
    live = mode == Mode.LIVE
    count, blocked = wanted, None

    def limit(room: int, reason: str) -> None:
        nonlocal count, blocked
        if room < count:
            count, blocked = max(room, 0), reason

    if live:
        limit(_room(brand.monthly_cap - held.brand, campaign.cpa), "brand_cap")
        campaign_spent = held.campaigns[campaign.pk]
        limit(_room(campaign.monthly_budget - campaign_spent, campaign.cpa), "campaign_cap")
    counter = "granted_live" if live else "granted_test"
    room = Campaign.objects.filter(pk=campaign.pk)
    if campaign.max_moments is not None and count:
        [granted_so_far] = room.select_for_update().values_list(counter, flat=True)
        limit(campaign.max_moments - granted_so_far, "campaign_full")
    if count == 0:
        if blocked == "campaign_cap":
            _mark_capped(campaign, now)
        return [], blocked
    room.update(**{counter: F(counter) + count})
    if live:
        charge = campaign.cpa * count
        BrandSpend.objects.filter(brand=brand, period=period).update(spent=Round(F("spent") + charge, 2))
        CampaignSpend.objects.filter(campaign=campaign, period=period).update(spent=Round(F("spent") + charge, 2))
        held.brand += charge
        held.campaigns[campaign.pk] = campaign_spent + charge
        if campaign_spent + charge + campaign.cpa > campaign.monthly_budget:
            _mark_capped(campaign, now)  # these grants used the last of the month's budget
    Progress.objects.filter(pk=track.progress_id, granted=track.granted).update(granted=F("granted") + count)
    at_once = selectors.campaign_gives_at_once(campaign)
    moments = [
        Moment(
            brand=brand,
            campaign=campaign,
            event=row,
            mode=mode,
            user_id=event.user_id,
            sequence=track.granted + 1 + offset,
            status=Moment.Status.FULFILLED if at_once else Moment.Status.EARNED,
            cpa=campaign.cpa if live else Decimal("0.00"),
            earned_at=now,
            expires_at=now + timedelta(days=campaign.claim_window_days),
            fulfilled_at=now if at_once else None,
        )
        for offset in range(count)
    ]
    if not at_once:
        for moment in moments:
            moment.claim_token_hash = claim_token_hash(claim_token(moment.pk))
    Moment.objects.bulk_create(moments)
    if at_once and live:  # the donation is made now: into the donation ledger
        item = selectors.campaign_rewards(campaign)[0]
        Donation.objects.bulk_create(
            Donation(brand=brand, charity_id=item.charity_id, amount=item.value, moment=moment) for moment in moments
        )
    webhooks.emit_many(
        brand=brand,
        event_type="moment.earned",
        datas=_render({"moments": [_moment_body(moment, gives_claim=not at_once) for moment in moments]})["moments"],
    )
    if live:
        LedgerEntry.objects.bulk_create(
            LedgerEntry(
                brand=brand,
                campaign=campaign,
                moment=moment,
                kind=LedgerEntry.Kind.CHARGE,
                amount=campaign.cpa,
                period=period,
                counter_period=period,
            )
            for moment in moments
        )
    return moments, blocked


def _room(left: Decimal, cpa: Decimal) -> int:
    """How many CPAs fit in what is left of a month's budget."""
    return int((left / cpa).to_integral_value(rounding=ROUND_FLOOR)) if left > 0 else 0


def _mark_capped(campaign, now) -> None:
    """Mark the campaign's month capped, once: the conditional UPDATE lets only one caller do it,
    and that one announces it (`campaign.capped`)."""
    period = selectors.month_of(now)
    if CampaignSpend.objects.filter(campaign=campaign, period=period, capped_at__isnull=True).update(capped_at=now):
        webhooks.emit(
            brand=campaign.brand,
            event_type="campaign.capped",
            data={
                "campaign": campaign.slug,
                "month": period.isoformat()[:7],
                "monthly_budget": f"{campaign.monthly_budget:.2f}",
            },
        )


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
        "expires_at": _iso(moment.expires_at),
        "mode": moment.mode,
    }


def _render(stored: dict) -> dict:
    """A stored event answer with its claim URLs derived again (they are never stored)."""
    return {
        **stored,
        "moments": [{**m, "claim_url": claim_url(m["id"]) if m["claim_url"] else None} for m in stored["moments"]],
    }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- Moments ----------------------------------------------------------------------------------


def moments_expire(*, now=None, batch: int = 500) -> int:
    """Expire unclaimed moments past their claim window and credit their CPA back (DESIGN.md §3).

    One transaction per moment, locking through `lock_money` like every money path: a sweep holds
    a brand's month counter for one refund at a time, never for hundreds across brands. A claim
    confirmed at the same instant, or a second sweeper, finds the moment moved and leaves it. They
    hold no stock (stock is reserved by an order, at the claim), so nothing else is released.
    """
    now = now or timezone.now()
    expired, busy = 0, set()
    while True:
        due = list(
            Moment.objects.filter(status=Moment.Status.EARNED, expires_at__lte=now)
            .exclude(pk__in=busy)
            .order_by("expires_at")
            .values_list("pk", flat=True)[:batch]
        )
        for moment_id in due:
            try:
                with transaction.atomic():
                    moment = Moment.objects.get(pk=moment_id)
                    lock_money(**refund_locks(moment=moment, now=now))
                    if Moment.objects.filter(pk=moment.pk, status=Moment.Status.EARNED).update(
                        status=Moment.Status.EXPIRED
                    ):
                        _refund(moment, now, note="expired unclaimed")
                        expired += 1
            except OperationalError as exc:
                if not lock_timed_out(exc):
                    raise
                busy.add(moment_id)  # its locks stayed taken past the lock timeout: the next sweep
        if len(due) < batch:
            return expired


def campaigns_end_due(*, now=None) -> int:
    """Campaigns past their end date become `ended` (they already stopped earning at that date)."""
    now = now or timezone.now()
    ended = 0
    for campaign in Campaign.objects.filter(
        status__in=[Campaign.Status.ACTIVE, Campaign.Status.PAUSED], ends_at__lte=now
    ).select_related("brand"):
        try:
            campaign_end(campaign=campaign)
            ended += 1
        except InvalidState:
            pass  # moved by someone else meanwhile
    return ended


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


def moment_cancel(*, moment: Moment, reason: str, claimed: bool = False) -> Moment:
    """Cancel an unclaimed moment (or, with `claimed`, one whose order the operator called off) and
    credit its CPA back (DESIGN.md §3: brands pay for rewards that reach a customer). A refund in
    the month of the charge lowers that month's counters."""
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": ValidationError("Say why the moment is cancelled.", code="required")})
    now = timezone.now()
    from_status = Moment.Status.CLAIMED if claimed else Moment.Status.EARNED
    with transaction.atomic():
        lock_money(**refund_locks(moment=moment, now=now))
        cancelled = Moment.objects.filter(pk=moment.pk, status=from_status).update(
            status=Moment.Status.CANCELLED, cancelled_at=now, cancel_reason=reason[:240]
        )
        moment.refresh_from_db()
        if not cancelled:
            raise InvalidState(f"Only an {from_status.label} moment can be cancelled; this one is {moment.status}.")
        _refund(moment, now, note=f"cancelled: {reason}"[:240])
    return moment


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


def _refund(moment: Moment, now, note: str) -> None:
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


# --- Shipping ---------------------------------------------------------------------------------


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


# --- Stock ------------------------------------------------------------------------------------


def stock_adjust(*, item: CatalogItem, change: int, reason: str, note: str = "", by: User | None = None):
    """The operator's "adjust by ±N, with a reason": goods received, a count corrected, units
    damaged. Never below zero; a line in the stock ledger. Raises ValidationError if it cannot."""
    if item.kind != CatalogItem.Kind.PHYSICAL:
        raise ValidationError(f"{item.sku} is not a physical item: it has no stock.", code="invalid")
    if not change:
        raise ValidationError("Say by how many units the stock changes.", code="required")
    if reason not in {StockMovement.Reason.RECEIVED, StockMovement.Reason.CORRECTION, StockMovement.Reason.DAMAGED}:
        raise ValidationError("Choose why the stock changes.", code="invalid")
    movement = _move_stock(item=item, change=change, reason=reason, note=note.strip()[:240], by=by)
    if movement is None:
        raise ValidationError(f"Only {_stock_of(item)} on hand: the stock cannot go below zero.", code="out_of_stock")
    return movement


def stock_open(*, item: CatalogItem, count: int, by: User | None = None) -> StockMovement | None:
    """A new physical item's first count: its opening line in the stock ledger."""
    return _move_stock(item=item, change=count, reason=StockMovement.Reason.OPENING, by=by) if count else None


def stock_reserve(*, item: CatalogItem, order) -> bool:
    """Take one unit for an order as it is placed; False when none is left."""
    return _move_stock(item=item, change=-1, reason=StockMovement.Reason.ORDER, order=order) is not None


def stock_release(*, item: CatalogItem, order) -> None:
    """A cancelled order's unit goes back on the shelf."""
    _move_stock(item=item, change=1, reason=StockMovement.Reason.ORDER_CANCELLED, order=order)


def _move_stock(*, item, change: int, reason: str, note: str = "", by=None, order=None) -> StockMovement | None:
    """One conditional UPDATE (never below zero, whatever the concurrency) and its ledger line, in
    one transaction; None when the stock was too low. The only code that changes `stock`."""
    with transaction.atomic():
        rows = CatalogItem.objects.filter(pk=item.pk, kind=CatalogItem.Kind.PHYSICAL)
        if change < 0:
            rows = rows.filter(stock__gte=-change)
        if not rows.update(stock=F("stock") + change):
            return None
        return StockMovement.objects.create(
            item=item, change=change, stock_after=_stock_of(item), reason=reason, note=note, by=by, order=order
        )


def _stock_of(item: CatalogItem) -> int:
    return CatalogItem.objects.filter(pk=item.pk).values_list("stock", flat=True).get()


# --- Code pools -------------------------------------------------------------------------------

CODE_IMPORT_MAX_BYTES = 5 * 1024 * 1024


@dataclass
class CodeImport:
    added: int
    skipped: int


def codes_import(*, item: CatalogItem, file) -> CodeImport:
    """Add a CSV of codes to a digital item's pool; codes already there are skipped, never doubled."""
    if item.kind != CatalogItem.Kind.DIGITAL_CODE:
        raise ValidationError(f"{item.sku} is not a digital item.", code="invalid")
    if file.size > CODE_IMPORT_MAX_BYTES:
        raise ValidationError("The file is larger than 5 MB: split it.", code="max_size")
    try:
        text = file.read().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError("The file is not UTF-8 text.", code="invalid") from exc
    codes = []
    for row in csv.reader(io.StringIO(text)):
        value = row[0].strip() if row else ""
        if not value or (not codes and value.lower() == "code"):
            continue
        if len(value) > DigitalCode._meta.get_field("code").max_length or not value.isprintable():
            raise ValidationError(
                f"Line {len(codes) + 1}: not a code (too long or control characters).", code="invalid"
            )
        codes.append(value)
    if not codes:
        raise ValidationError("The file holds no codes.", code="empty")
    unique = list(dict.fromkeys(codes))
    with transaction.atomic():
        existing = set(DigitalCode.objects.filter(item=item, code__in=unique).values_list("code", flat=True))
        DigitalCode.objects.bulk_create(
            [DigitalCode(item=item, code=code) for code in unique if code not in existing], ignore_conflicts=True
        )
    selectors.catalog_changed()
    return CodeImport(added=len(unique) - len(existing), skipped=len(codes) - len(unique) + len(existing))
