"""The base of every Celery task of the project: wiring, importing no app."""

from celery import Task
from django.db import transaction

from config.scopes import fresh_scope


class TransactionAwareTask(Task):
    """A task runs in an empty brand scope (config/scopes.py): it enters its row's brand, or says
    it sweeps across brands, before it reads tenant data.

    `delay()` inside a transaction publishes when it commits, and not at all if it rolls back:
    a worker never picks up a task for a row it cannot see yet, or that never came to be (as
    pretix's TransactionAwareTask). Outside a transaction it publishes at once."""

    def apply_async(self, args=None, kwargs=None, **options):
        if transaction.get_connection().in_atomic_block:
            transaction.on_commit(lambda: Task.apply_async(self, args, kwargs, **options))
            return None
        return super().apply_async(args, kwargs, **options)

    def __call__(self, *args, **kwargs):
        with fresh_scope():
            return super().__call__(*args, **kwargs)
