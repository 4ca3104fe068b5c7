"""Campaigns as brands set them up: creation and edits under the rules of DESIGN.md §3 and §5 (the
same for the admin and the API), and their moves draft → active ⇄ paused → ended."""

import copy

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from rewards.campaigns.models import Campaign, CampaignReward
from rewards.campaigns.selectors import campaigns_changed
from rewards.catalog.models import CatalogItem
from rewards.catalog.selectors import platform_policy
from rewards.errors import InvalidState
from rewards.ledger import services as ledger
from rewards.periods import month_of
from tenants.models import Brand

# When, where, how often and for how long a campaign's moments can be earned and claimed.
RULE_FIELDS = ["starts_at", "ends_at", "max_moments", "max_per_user", "excluded_countries", "claim_window_days"]
CAMPAIGN_FIELDS = ["slug", "name", "action", "counting", "threshold", "cpa", "monthly_budget", *RULE_FIELDS]
# Progress is counted per action, as a sum or a level (`counting`), and campaigns are addressed by
# slug: all stay as they were once a campaign has left its draft (a stored sum read as a level, or
# the reverse, would be another count).
FIXED_AFTER_DRAFT = ["slug", "action", "counting"]


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
        taken = Campaign.objects.filter(brand=campaign.brand).filter(slug=campaign.slug).exclude(pk=campaign.pk)
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
        campaigns_changed(campaign.brand_id, action)


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
    """The 1st of the month: open the new month's counters for every active campaign and its brand.

    Earning needs none of it (counters are keyed by month and created on first use, so capped
    campaigns resume by themselves); opening them early only spares the first grants of the month
    the insert. Idempotent: a second run finds every row there.
    """
    campaigns = list(Campaign.objects.filter(status=Campaign.Status.ACTIVE).values_list("pk", "brand_id"))
    ledger.counters_open(period=month_of(now or timezone.now()), campaigns=campaigns)
    return len(campaigns)
