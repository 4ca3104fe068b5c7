"""Reads of campaigns; the hot path's (the active campaigns on an action) cached per process."""

from django.db.models import Prefetch

from rewards.campaigns.models import Campaign, CampaignReward
from rewards.catalog.models import CatalogItem, PlatformPolicy
from rewards.catalog.selectors import POLICY_READ, catalog_cache
from rewards.process_cache import ProcessCache, fresh

campaign_cache = ProcessCache("campaigns", follows=(catalog_cache,))
# The actions any campaign of a brand counts, in either mode and any status: an event on another
# action is most likely a typo, and its answer says so (`unknown_action`).
watched_actions_cache = ProcessCache("watched-actions")


def active_campaigns_watching(brand_id, mode: str, action: str) -> list[Campaign]:
    """The brand's active campaigns of `mode` on this action, with their rewards, ordered by id (lock order)."""
    return campaign_cache.get(f"{brand_id}:{mode}:{action}", _load_active_campaigns)


def _load_active_campaigns(key: str) -> list[Campaign]:
    brand_id, mode, action = key.split(":", 2)
    campaigns = (
        Campaign.objects.filter(brand_id=brand_id, mode=mode, action=action, status=Campaign.Status.ACTIVE)
        .select_related("brand")
        .prefetch_related(Prefetch("reward_links", queryset=CampaignReward.objects.select_related("item")))
        .order_by("id")
    )
    return list(campaigns)


def _load_watched_actions(brand_id) -> frozenset:
    return frozenset(Campaign.objects.filter(brand_id=brand_id).values_list("action", flat=True).distinct())


def watching_and_policy(brand_id, mode: str, actions) -> tuple[dict, PlatformPolicy, frozenset]:
    """{action: its active campaigns of `mode`}, the platform policy and the actions any campaign
    of the brand watches — the hot path's reads — checked against the shared cache in one round trip."""
    actions = sorted(actions)
    *watching, policy, watched = fresh(
        *[(campaign_cache, f"{brand_id}:{mode}:{action}", _load_active_campaigns) for action in actions],
        POLICY_READ,
        (watched_actions_cache, str(brand_id), _load_watched_actions),
    )
    return dict(zip(actions, watching, strict=True)), policy, watched


def campaigns_changed(brand_id, mode: str, action: str) -> None:
    campaign_cache.invalidate(f"{brand_id}:{mode}:{action}")
    watched_actions_cache.invalidate(str(brand_id))


def campaigns_of(brand, mode: str):
    """The brand's campaigns of one mode with their rewards, as the API shows them."""
    return (
        Campaign.objects.filter(brand=brand)
        .filter(mode=mode)
        .select_related("brand")
        .prefetch_related("reward_links__item")
    )


def campaign_rewards(campaign: Campaign) -> list[CatalogItem]:
    return [link.item for link in campaign.reward_links.all()]


def campaign_gives_at_once(campaign: Campaign) -> bool:
    """A single reward that needs nothing from the user (a donation) is given with no claim."""
    rewards = campaign_rewards(campaign)
    return len(rewards) == 1 and rewards[0].needs_nothing_from_the_user
