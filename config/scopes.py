"""Each request and each task starts with an empty, enforcing django-scopes scope (plumbing: no app).

Queries on brand-owned models then raise until the surface enters a brand scope or says it reads
across brands (tenants/scoping.py). Without the reset a request would inherit whatever the thread
ran before — a test's own unscoped setup, or the last task's brand."""

from contextlib import contextmanager

from django_scopes.state import state


@contextmanager
def fresh_scope():
    token = state.set({"_enabled": True})
    try:
        yield
    finally:
        state.reset(token)


class FreshScopeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with fresh_scope():
            return self.get_response(request)
