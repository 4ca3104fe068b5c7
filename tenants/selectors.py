"""Reads of the tenants domain shared by the admin, the API and the commands."""

import hmac

from django.conf import settings
from django.core.cache import cache

from tenants.models import ApiKey, Membership, User
from tenants.scoping import across_brands
from tenants.services import api_key_cache_key, api_key_hash, api_key_prefix


def api_key_for_secret(secret: str) -> ApiKey | None:
    """The key (with its brand) whose secret this is, or None; the hash is compared in constant time.

    Keys are cached by their public prefix; revoking a key or changing its brand overwrites the
    entry after commit (services.api_key_cache_refresh), so a revoked key is refused at once.
    """
    prefix = api_key_prefix(secret)
    cache_key = api_key_cache_key(prefix)
    api_key = cache.get(cache_key)
    if api_key is None:
        with across_brands():  # the key names its brand: it is looked up before any scope
            api_key = ApiKey.objects.select_related("brand").filter(prefix=prefix).first()
        if api_key is None:
            return None
        cache.add(cache_key, api_key, timeout=settings.API_KEY_CACHE_SECONDS)
    if not hmac.compare_digest(api_key.secret_hash, api_key_hash(secret)):
        return None
    return api_key


def memberships_of(user: User):
    """The brands a user works for, with their roles, in a stable order: across brands, being the
    user's own (the admin reads them to learn which brand to scope to)."""
    if not user.is_authenticated:
        return Membership.objects.none()
    with across_brands():
        return Membership.objects.filter(user=user).select_related("brand").order_by("brand__name", "brand__slug")
