"""Reads shared by the API, the admin and the storefront; the hot path's reads are cached here."""

from datetime import date, datetime

from django.core.cache import cache
from django.db import transaction
from django.db.models import Prefetch

from rewards.models import Campaign, CampaignReward, CampaignSpend, CatalogItem, Moment, PlatformPolicy


class ProcessCache:
    """Values kept in this process, fresh as long as their version in the shared cache is unchanged.

    Reading costs one shared-cache round trip (the version) instead of SQL; a change bumps the
    version after its transaction commits, so every process reloads on its next read. A process
    that loaded old data just before a bump stored it under the old version and reloads too.
    """

    instances: list["ProcessCache"] = []

    def __init__(self, namespace: str):
        self.namespace = namespace
        self._entries: dict = {}
        ProcessCache.instances.append(self)

    def clear(self) -> None:
        self._entries.clear()

    def _version_key(self, key) -> str:
        return f"{self.namespace}:v:{key}"

    def get_many(self, keys, load):
        """{key: value} for these keys, loading (per key) only what is missing or stale."""
        versions = cache.get_many([self._version_key(key) for key in keys])
        values = {}
        for key in keys:
            version = versions.get(self._version_key(key), 0)
            entry = self._entries.get(key)
            if entry is None or entry[0] != version:
                entry = (version, load(key))
                self._entries[key] = entry
            values[key] = entry[1]
        return values

    def get(self, key, load):
        return self.get_many([key], load)[key]

    def invalidate(self, key) -> None:
        """Bump now (this transaction's own later reads) and again after commit (everyone else's:
        a process that reloaded between the two bumps read the old rows)."""

        def bump():
            version_key = self._version_key(key)
            cache.add(version_key, 0, timeout=None)
            cache.incr(version_key)

        bump()
        transaction.on_commit(bump)


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
        Moment.objects.for_brand(brand)
        .filter(mode=mode, user_id=user_id)
        .select_related("campaign")
        .order_by("-earned_at", "-id")
    )


def catalog_for_campaigns():
    """What a campaign may offer: active catalog items."""
    return CatalogItem.objects.filter(active=True).order_by("sku")
