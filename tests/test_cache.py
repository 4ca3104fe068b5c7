"""The shared cache's own parts (config/cache.py): one redis-py client per pool, and a counter
that opens its window on the first count (the API's rate limit)."""

import pytest
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache

from config.cache import ReusingRedisCache, count_in_window


@pytest.mark.needs("redis")
def test_the_redis_cache_keeps_one_client_for_its_pool(settings):
    backend = ReusingRedisCache(settings.REDIS_URL, {})

    first = backend._cache.get_client("a")
    backend.set("client-reuse", 1)

    assert backend._cache.get_client("b") is first
    assert backend.get("client-reuse") == 1
    backend.delete("client-reuse")


@pytest.mark.needs("redis")
def test_a_window_counter_on_redis_counts_and_expires_with_its_window(settings):
    backend = ReusingRedisCache(settings.REDIS_URL, {})
    key = backend.make_and_validate_key("window-count")
    client = backend._cache.get_client(key, write=True)
    client.delete(key)

    counts = [backend.count_in_window("window-count", 61) for _ in range(3)]

    assert counts == [1, 2, 3]
    assert 0 < client.ttl(key) <= 61  # set by the first count, not renewed by the later ones
    assert backend.get("window-count") == 3  # Django's reads see the same integer
    client.delete(key)


def test_a_window_counter_on_the_local_cache_counts_too(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    caches["default"].clear()
    assert isinstance(caches["default"], LocMemCache)

    assert [count_in_window("window-local", timeout=61) for _ in range(3)] == [1, 2, 3]
