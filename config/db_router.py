"""Reads of reports and of the console's lists from a PostgreSQL replica, when one is configured
(`DATABASE_REPLICA_URL`, which installs `ReplicaRouter`); everything else on the primary. Wiring's
plumbing: it imports no app.

A read goes to the replica only when all of these hold:
- the code asked for it: a view marked `@reads_from_replica`, the admin's lists and index
  (`ReplicaReadsMiddleware`, GET and HEAD only), or a `with replica_reads():` block;
- the model may lag: its app or model label is in `DATABASE_REPLICA_READS` (never users, sessions,
  memberships or API keys, which decide who someone is and what they may do);
- no transaction is open on the primary: whatever is read inside one (`select_for_update`, a
  service's checks before it writes) is read where it is written.

Writes always go to the primary; so does a query Django marks for writing (`select_for_update`,
`get_or_create`). The API's hot path never asks, so it never reads a replica's lag. Migrations run on
the primary only (the replica follows it by streaming replication).
"""

import contextvars
from contextlib import contextmanager

from django.conf import settings
from django.db import connections

PRIMARY = "default"
REPLICA = "replica"

_replica_reads = contextvars.ContextVar("replica_reads", default=False)


@contextmanager
def replica_reads(enabled: bool = True):
    """Inside, reads that may lag go to the replica (if there is one and no transaction is open)."""
    token = _replica_reads.set(enabled)
    try:
        yield
    finally:
        _replica_reads.reset(token)


def replica_reads_asked() -> bool:
    """Whether the code running now asked for replica reads (a streamed response carries it on)."""
    return _replica_reads.get()


def reads_from_replica(view):
    """Marks a view (a function or an admin's method) whose GET reads may come from the replica."""
    view.reads_from_replica = True
    return view


def _may_lag(model) -> bool:
    labels = settings.DATABASE_REPLICA_READS
    return model._meta.app_label in labels or model._meta.label in labels


class ReplicaRouter:
    def db_for_read(self, model, **hints):
        if _replica_reads.get() and _may_lag(model) and not connections[PRIMARY].in_atomic_block:
            return REPLICA
        # Said outright, not None: Django would otherwise follow an instance read from the replica.
        return PRIMARY

    def db_for_write(self, model, **hints):
        return PRIMARY

    def allow_relation(self, obj1, obj2, **hints):
        return True  # one database, two ways in

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == PRIMARY


def _admin_list(match) -> bool:
    return "admin" in match.namespaces and (match.url_name.endswith("_changelist") or match.url_name == "index")


class ReplicaReadsMiddleware:
    """Asks for replica reads for the whole of a GET to a marked view or an admin list (the template
    is rendered inside it too); a POST to the same URL (a bulk action) stays on the primary."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _replica_reads.set(False)
        try:
            return self.get_response(request)
        finally:
            _replica_reads.reset(token)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.method not in ("GET", "HEAD"):
            return None
        match = request.resolver_match
        if getattr(view_func, "reads_from_replica", False) or (match is not None and _admin_list(match)):
            _replica_reads.set(True)  # reset by __call__ when the response is complete
        return None
