"""The shared cache (Redis) with one redis-py client per connection pool."""

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class ReusingRedisCacheClient(RedisCacheClient):
    """Django builds a new `redis.Redis` for every cache call, and redis-py fills some 170 response
    callbacks into each one: measured, a sixth of an API event's CPU (tests/benchmarks/ingest.py).
    A client holds nothing but its pool and is safe to share, so each pool keeps one."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(pool)
        if client is None:
            client = self._clients[pool] = self._client(connection_pool=pool)
        return client


class ReusingRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusingRedisCacheClient

    def count_in_window(self, key, timeout: int, version=None) -> int:
        """Add one to a counter that lives `timeout` seconds from its first count; its new value.
        One round trip (SET NX opens the window, INCR counts), where Django's `incr` takes two."""
        key = self.make_and_validate_key(key, version=version)
        pipeline = self._cache.get_client(key, write=True).pipeline(transaction=False)
        pipeline.set(key, 0, ex=timeout, nx=True)
        pipeline.incr(key)
        return pipeline.execute()[1]


def count_in_window(key: str, *, timeout: int) -> int:
    """`ReusingRedisCache.count_in_window` on the default cache, or Django's add and incr elsewhere
    (the local-memory cache of the embedded defaults)."""
    backend = caches["default"]
    if isinstance(backend, ReusingRedisCache):
        return backend.count_in_window(key, timeout)
    try:
        return backend.incr(key)
    except ValueError:  # the window's first count (or its key just expired): open it
        return 1 if backend.add(key, 1, timeout=timeout) else backend.incr(key)
