"""Reads of the catalog and the platform's policy, cached per process (rewards/process_cache.py)."""

from rewards.catalog.models import CatalogItem, PlatformPolicy
from rewards.process_cache import ProcessCache

policy_cache = ProcessCache("policy")
# Holds no value itself: its token says when the catalog changed, for the caches that follow it.
catalog_cache = ProcessCache("catalog")


def _load_policy(_key) -> PlatformPolicy:
    return PlatformPolicy.objects.get_or_create(pk=1)[0]


# The policy as a read of `process_cache.fresh`, for callers that read it with other cached values.
POLICY_READ = (policy_cache, "policy", _load_policy)


def platform_policy() -> PlatformPolicy:
    return policy_cache.get("policy", _load_policy)


def platform_policy_changed() -> None:
    policy_cache.invalidate("policy")


def catalog_changed() -> None:
    """Cached campaigns hold their reward items: a catalog edit reloads them everywhere."""
    catalog_cache.invalidate_all()


def catalog_for_campaigns():
    """What a campaign may offer: active catalog items."""
    return CatalogItem.objects.filter(active=True).order_by("sku")
