"""Reads shared by the API, the admin and the storefront; the hot path's reads are cached here."""

import uuid
from datetime import date, datetime

from django.core.cache import cache
from django.db import transaction
from django.db.models import Prefetch

from rewards.models import Campaign, CampaignReward, CampaignSpend, CatalogItem, Moment, PlatformPolicy


class ProcessCache:
    """Values kept in this process, fresh as long as their version token in the shared cache is.

    Reading costs one shared-cache round trip (the tokens) instead of SQL. A change sets a new
    token now and again after commit, so every process reloads on its next read; a process that
    reloaded between the two read the old rows and reloads once more. A token that is missing (a
    cache flush, an eviction) is replaced by a new one, so a flush never leaves a stale copy fresh.
    """

    instances: list["ProcessCache"] = []

    def __init__(self, namespace: str):
        self.namespace = namespace
        self._entries: dict = {}
        ProcessCache.instances.append(self)

    def clear(self) -> None:
        self._entries.clear()

    def _token_keys(self, key) -> list[str]:
        # The key's own token and the namespace's, which invalidate_all() changes.
        return [f"{self.namespace}:token:{key}", f"{self.namespace}:token"]

    def get(self, key, load):
        token_keys = self._token_keys(key)
        tokens = cache.get_many(token_keys)
        for missing in set(token_keys) - set(tokens):
            cache.add(missing, uuid.uuid4().hex, timeout=None)
            tokens[missing] = cache.get(missing)
        version = tuple(tokens[k] for k in token_keys)
        entry = self._entries.get(key)
        if entry is None or entry[0] != version:
            entry = (version, load(key))
            self._entries[key] = entry
        return entry[1]

    def invalidate(self, key) -> None:
        self._renew(self._token_keys(key)[0])

    def invalidate_all(self) -> None:
        self._renew(self._token_keys(None)[1])

    @staticmethod
    def _renew(token_key: str) -> None:
        def renew():
            cache.set(token_key, uuid.uuid4().hex, timeout=None)

        renew()
        transaction.on_commit(renew)


_policy_cache = ProcessCache("policy")
_campaign_cache = ProcessCache("campaigns")


def platform_policy() -> PlatformPolicy:
    return _policy_cache.get("policy", lambda _key: PlatformPolicy.objects.get_or_create(pk=1)[0])


def platform_policy_changed() -> None:
    _policy_cache.invalidate("policy")


def active_campaigns_watching(brand_id, action: str) -> list[Campaign]:
    """The brand's active campaigns on this action, with their rewards, ordered by id (lock order)."""
    return _campaign_cache.get(f"{brand_id}:{action}", _load_active_campaigns)


def _load_active_campaigns(key: str) -> list[Campaign]:
    brand_id, action = key.split(":", 1)
    campaigns = (
        Campaign.objects.filter(brand_id=brand_id, action=action, status=Campaign.Status.ACTIVE)
        .select_related("brand")
        .prefetch_related(Prefetch("reward_links", queryset=CampaignReward.objects.select_related("item")))
        .order_by("id")
    )
    return list(campaigns)


def campaigns_changed(brand_id, action: str) -> None:
    _campaign_cache.invalidate(f"{brand_id}:{action}")


def catalog_changed() -> None:
    """Cached campaigns hold their reward items: a catalog edit reloads them everywhere."""
    _campaign_cache.invalidate_all()


def campaign_rewards(campaign: Campaign) -> list[CatalogItem]:
    return [link.item for link in campaign.reward_links.all()]


def campaign_gives_at_once(campaign: Campaign) -> bool:
    """A single reward that needs nothing from the user (a donation) is given with no claim."""
    rewards = campaign_rewards(campaign)
    return len(rewards) == 1 and rewards[0].needs_nothing_from_the_user


def month_of(moment: datetime) -> date:
    """The spend period of a UTC time: the first day of its month."""
    return moment.date().replace(day=1)


def campaigns_spent_in(campaign_ids, period: date) -> dict:
    """{campaign id: spent} for one month, read from the counters (no scan of the ledger)."""
    rows = CampaignSpend.objects.filter(campaign_id__in=list(campaign_ids), period=period)
    return dict(rows.values_list("campaign_id", "spent"))


def moments_of_user(*, brand, mode: str, user_id: str):
    return (
        Moment.objects.filter(brand=brand)
        .filter(mode=mode, user_id=user_id)
        .select_related("campaign")
        .order_by("-earned_at", "-id")
    )


def catalog_for_campaigns():
    """What a campaign may offer: active catalog items."""
    return CatalogItem.objects.filter(active=True).order_by("sku")
