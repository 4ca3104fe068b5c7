"""Reads of campaigns; the hot path's (the active campaigns on an action) cached per process."""

from django.db.models import Prefetch

from rewards.campaigns.models import Campaign, CampaignReward
from rewards.catalog.models import CatalogItem, PlatformPolicy
from rewards.catalog.selectors import POLICY_READ, catalog_cache
from rewards.process_cache import ProcessCache, fresh

campaign_cache = ProcessCache("campaigns", follows=(catalog_cache,))


def active_campaigns_watching(brand_id, action: str) -> list[Campaign]:
    """The brand's active campaigns on this action, with their rewards, ordered by id (lock order)."""
    return campaign_cache.get(f"{brand_id}:{action}", _load_active_campaigns)


def _load_active_campaigns(key: str) -> list[Campaign]:
    brand_id, action = key.split(":", 1)
    campaigns = (
        Campaign.objects.filter(brand_id=brand_id, action=action, status=Campaign.Status.ACTIVE)
        .select_related("brand")
        .prefetch_related(Prefetch("reward_links", queryset=CampaignReward.objects.select_related("item")))
        .order_by("id")
    )
    return list(campaigns)


def watching_and_policy(brand_id, actions) -> tuple[dict, PlatformPolicy]:
    """{action: its active campaigns} and the platform policy — the hot path's reads — checked
    against the shared cache in one round trip."""
    actions = sorted(actions)
    *watching, policy = fresh(
        *[(campaign_cache, f"{brand_id}:{action}", _load_active_campaigns) for action in actions], POLICY_READ
    )
    return dict(zip(actions, watching, strict=True)), policy


def campaigns_changed(brand_id, action: str) -> None:
    campaign_cache.invalidate(f"{brand_id}:{action}")


def campaigns_of(brand):
    """The brand's campaigns with their rewards, as the API shows them."""
    return Campaign.objects.filter(brand=brand).select_related("brand").prefetch_related("reward_links__item")


def campaign_rewards(campaign: Campaign) -> list[CatalogItem]:
    return [link.item for link in campaign.reward_links.all()]


def campaign_gives_at_once(campaign: Campaign) -> bool:
    """A single reward that needs nothing from the user (a donation) is given with no claim."""
    rewards = campaign_rewards(campaign)
    return len(rewards) == 1 and rewards[0].needs_nothing_from_the_user
