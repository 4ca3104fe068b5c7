"""Campaigns as brands set them up: creation and edits under the rules of DESIGN.md §3 and §5 (the
same for the admin and the API), and their moves draft → active ⇄ paused → ended."""

import copy

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from rewards import clock
from rewards.campaigns.models import Campaign, CampaignReward
from rewards.campaigns.selectors import campaign_rewards, campaigns_changed
from rewards.catalog.models import CatalogItem
from rewards.catalog.selectors import platform_policy
from rewards.errors import InvalidState
from rewards.fields import Mode
from rewards.ledger import services as ledger
from rewards.periods import month_of
from tenants import audit
from tenants.models import ApiKey, Brand, User

# When, where, how often and for how long a campaign's moments can be earned and claimed.
RULE_FIELDS = ["starts_at", "ends_at", "max_moments", "max_per_user", "excluded_countries", "claim_window_days"]
CAMPAIGN_FIELDS = ["slug", "name", "action", "counting", "threshold", "cpa", "monthly_budget", *RULE_FIELDS]
# Progress is counted per action, as a sum or a level (`counting`), and campaigns are addressed by
# slug: all stay as they were once a campaign has left its draft (a stored sum read as a level, or
# the reverse, would be another count).
FIXED_AFTER_DRAFT = ["slug", "action", "counting"]


def campaign_create(*, brand: Brand, mode: str, data: dict, actor: User | ApiKey | None) -> Campaign:
    """Create a draft of `mode` (live or test: DESIGN.md §5). `data` has CAMPAIGN_FIELDS (any
    subset) and `rewards`, a list of SKUs."""
    campaign = Campaign(brand=brand, mode=mode)
    rewards = _campaign_apply(campaign, data)
    return _campaign_save(campaign, rewards, old_action="", actor=actor, before={})


def campaign_copy_to_live(*, campaign: Campaign, actor: User | None) -> Campaign:
    """A live draft with everything a test campaign sets up (its rules and rewards, its slug — or,
    when a live campaign has it, the slug with the first free `-2`, `-3`… suffix), so that what was
    tried in test mode goes live in one step; the test campaign is left as it is."""
    if campaign.mode != Mode.TEST:
        raise InvalidState("Only a test campaign is copied to live mode.")
    data = {name: getattr(campaign, name) for name in CAMPAIGN_FIELDS}
    data["slug"] = _free_live_slug(campaign)
    data["excluded_countries"] = [country.code for country in campaign.excluded_countries]
    data["rewards"] = [item.sku for item in campaign_rewards(campaign)]
    return campaign_create(brand=campaign.brand, mode=Mode.LIVE, data=data, actor=actor)


def campaign_update(*, campaign: Campaign, data: dict, actor: User | ApiKey | None) -> Campaign:
    """Change some fields; the rules are those of creation, checked against the result."""
    old_action = campaign.action
    before = _campaign_values(campaign, data.keys())
    rewards = _campaign_apply(campaign, data)
    return _campaign_save(campaign, rewards, old_action, actor=actor, before=before)


def _campaign_values(campaign: Campaign, names, rewards=None) -> dict:
    """The audit trail's view of a campaign: these fields, and its rewards' SKUs when named."""
    values = {name: getattr(campaign, name) for name in CAMPAIGN_FIELDS if name in names}
    if "rewards" in names:
        values["rewards"] = (
            [item.sku for item in rewards] if rewards is not None else [item.sku for item in campaign_rewards(campaign)]
        )
    return values


def _free_live_slug(campaign: Campaign) -> str:
    taken = set(
        Campaign.objects.filter(brand=campaign.brand)
        .filter(mode=Mode.LIVE, slug__startswith=campaign.slug)
        .values_list("slug", flat=True)
    )
    slug, number = campaign.slug, 1
    while slug in taken:
        number += 1
        suffix = f"-{number}"
        slug = campaign.slug[: 50 - len(suffix)].rstrip("-") + suffix
    return slug


def campaign_check(*, brand: Brand, mode: str, data: dict, campaign: Campaign | None = None) -> None:
    """Raise the ValidationError that creating (or updating) with `data` would raise; change nothing."""
    _campaign_apply(copy.copy(campaign) if campaign else Campaign(brand=brand, mode=mode), data)


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


def _campaign_save(campaign: Campaign, rewards, old_action: str, *, actor, before: dict) -> Campaign:
    """Save a campaign made or changed, with its audit entry: every field set on creation, the
    changed ones (`before` holds them as they were) on a change."""
    creating = campaign._state.adding
    with transaction.atomic():
        campaign.save()
        if rewards is not None:
            CampaignReward.objects.filter(campaign=campaign).delete()
            CampaignReward.objects.bulk_create(
                CampaignReward(campaign=campaign, item=item, position=position) for position, item in enumerate(rewards)
            )
        after = _campaign_values(campaign, [*CAMPAIGN_FIELDS, "rewards"] if creating else before.keys(), rewards)
        audit.record(
            actor=actor,
            brand=campaign.brand,
            action=audit.Action.CAMPAIGN_CREATE if creating else audit.Action.CAMPAIGN_UPDATE,
            obj=campaign,
            before=before,
            after={**after, "mode": campaign.mode} if creating else after,
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
    policy = platform_policy()

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
        taken = Campaign.objects.filter(brand=campaign.brand).filter(mode=campaign.mode, slug=campaign.slug)
        if taken.exclude(pk=campaign.pk).exists():
            add("slug", "You already have a campaign with this slug.", "unique")
    if rewards is None and campaign._state.adding:
        add("rewards", "Choose at least one reward.", "required")
    if errors:
        raise ValidationError(errors)


def campaign_activate(*, campaign: Campaign, actor: User | ApiKey | None) -> Campaign:
    if campaign.ends_at and campaign.ends_at <= clock.mode_now(campaign.brand, campaign.mode):
        raise InvalidState("The campaign's end date has passed; move it before activating.")
    inactive = list(
        CampaignReward.objects.filter(campaign=campaign, item__active=False).values_list("item__sku", flat=True)
    )
    if inactive:
        raise InvalidState(f"Some rewards are no longer offered: {', '.join(inactive)}.")
    return _campaign_move(
        campaign, {Campaign.Status.DRAFT, Campaign.Status.PAUSED}, Campaign.Status.ACTIVE, actor=actor
    )


def campaign_pause(*, campaign: Campaign, actor: User | ApiKey | None) -> Campaign:
    return _campaign_move(campaign, {Campaign.Status.ACTIVE}, Campaign.Status.PAUSED, actor=actor)


def campaign_end(*, campaign: Campaign, actor: User | ApiKey | None) -> Campaign:
    """End for good; `actor` None: the beat, at the campaign's end date."""
    moving = {Campaign.Status.ACTIVE, Campaign.Status.PAUSED}
    return _campaign_move(campaign, moving, Campaign.Status.ENDED, actor=actor)


MOVE_ACTIONS = {
    Campaign.Status.ACTIVE: audit.Action.CAMPAIGN_ACTIVATE,
    Campaign.Status.PAUSED: audit.Action.CAMPAIGN_PAUSE,
    Campaign.Status.ENDED: audit.Action.CAMPAIGN_END,
}


def _campaign_move(campaign: Campaign, allowed_from: set, to: str, *, actor) -> Campaign:
    """draft → active ⇄ paused → ended, one move at a time: the row is locked and read (the audit
    trail's "before"), then moved if it may; a concurrent move waits, then loses cleanly."""
    with transaction.atomic():
        was = Campaign.objects.select_for_update().filter(pk=campaign.pk).values_list("status", flat=True).get()
        if was not in allowed_from:
            campaign.status = was
            raise InvalidState(f"A campaign that is {was} cannot become {to}.")
        Campaign.objects.filter(pk=campaign.pk).update(status=to, updated_at=timezone.now())
        campaign.status = to
        audit.record(
            actor=actor,
            brand=campaign.brand,
            action=MOVE_ACTIONS[to],
            obj=campaign,
            before={"status": was},
            after={"status": to},
        )
        _campaigns_changed(campaign, campaign.action)
    return campaign


def _campaigns_changed(campaign: Campaign, old_action: str) -> None:
    for action in {old_action, campaign.action} - {""}:
        campaigns_changed(campaign.brand_id, campaign.mode, action)


def campaigns_end_due(*, now=None, test_world_of: Brand | None = None) -> int:
    """Campaigns past their end date, by their mode's clock, become `ended` (they already stopped
    earning at that date); only the test campaigns of the brand `test_world_of` when given (its
    test clock has just moved)."""
    now = now or timezone.now()
    ended = 0
    due = Campaign.objects.filter(
        clock.passed("ends_at", now), status__in=[Campaign.Status.ACTIVE, Campaign.Status.PAUSED]
    )
    if test_world_of is not None:
        due = due.filter(brand=test_world_of, mode=Mode.TEST)
    for campaign in due.select_related("brand"):
        try:
            campaign_end(campaign=campaign, actor=None)  # the platform's own sweep: "system" in the trail
            ended += 1
        except InvalidState:
            pass  # moved by someone else meanwhile
    return ended


def month_roll(*, now=None) -> int:
    """The 1st of the month: open the new month's counters for every active campaign and its brand.

    Earning needs none of it (counters are keyed by month and created on first use, so capped
    campaigns resume by themselves); opening them early only spares the first grants of the month
    the insert. Idempotent: a second run finds every row there.
    """
    # Live campaigns only: a test campaign's counters follow its brand's test clock, made on first use.
    campaigns = list(
        Campaign.objects.filter(status=Campaign.Status.ACTIVE, mode=Mode.LIVE).values_list("pk", "brand_id")
    )
    ledger.counters_open(period=month_of(now or timezone.now()), campaigns=campaigns)
    return len(campaigns)
