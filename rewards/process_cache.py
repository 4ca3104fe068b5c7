"""Values kept in one process, reloaded when any process changes them (the hot path's reads)."""

import uuid

from django.core.cache import cache
from django.db import transaction


class ProcessCache:
    """Values kept in this process, fresh as long as their version token in the shared cache is.

    Reading costs one shared-cache round trip (the tokens) instead of SQL. A change sets a new
    token now and again after commit, so every process reloads on its next read; a process that
    reloaded between the two read the old rows and reloads once more. A token that is missing (a
    cache flush, an eviction) is replaced by a new one, so a flush never leaves a stale copy fresh.
    """

    instances: list["ProcessCache"] = []

    def __init__(self, namespace: str, *, follows: tuple["ProcessCache", ...] = ()):
        """`follows`: caches whose change makes this one's values stale too (the campaigns hold
        their catalog items, so a catalog change reloads them)."""
        self.namespace = namespace
        self.follows = follows
        self._entries: dict = {}
        ProcessCache.instances.append(self)

    def clear(self) -> None:
        self._entries.clear()

    def _token_keys(self, key) -> list[str]:
        # The key's own token, the namespace's (which invalidate_all() changes) and those of the
        # caches it follows: still one round trip.
        return [f"{self.namespace}:token:{key}", f"{self.namespace}:token"] + [
            f"{followed.namespace}:token" for followed in self.follows
        ]

    def get(self, key, load):
        return fresh((self, key, load))[0]

    def _value(self, key, load, tokens: dict):
        version = tuple(tokens[k] for k in self._token_keys(key))
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


def fresh(*reads) -> list:
    """The values of several (cache, key, load) reads, checking every version token in one round
    trip to the shared cache (the hot path reads the campaigns and the policy together)."""
    token_keys = list(dict.fromkeys(k for process_cache, key, _ in reads for k in process_cache._token_keys(key)))
    tokens = cache.get_many(token_keys)
    for missing in set(token_keys) - set(tokens):
        cache.add(missing, uuid.uuid4().hex, timeout=None)
        tokens[missing] = cache.get(missing)
    return [process_cache._value(key, load, tokens) for process_cache, key, load in reads]
