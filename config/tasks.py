"""The base of every Celery task of the project: wiring, importing no app."""

import logging
import time

from celery import Task
from celery.signals import task_postrun, task_prerun
from django.db import transaction
from kombu.exceptions import OperationalError as BrokerUnavailable

from config.logs import TASK_HEADER, current_request_id, request_id_var, task_var
from config.scopes import fresh_scope

logger = logging.getLogger(__name__)


class BrokerOutage:
    """When this process last failed to publish after a commit. For `RETRY_AFTER` seconds it does
    not try again: a commit that asked for many tasks (a batch of events, each with its webhook
    delivery) would otherwise wait out the publish retries once per task, for minutes."""

    RETRY_AFTER = 5.0

    def __init__(self):
        self.failed_at: float | None = None

    def recent(self) -> bool:
        return self.failed_at is not None and time.monotonic() - self.failed_at < self.RETRY_AFTER

    def record(self) -> None:
        self.failed_at = time.monotonic()

    def reset(self) -> None:
        self.failed_at = None


broker_outage = BrokerOutage()


class TransactionAwareTask(Task):
    """A task runs in an empty brand scope (config/scopes.py): it enters its row's brand, or says
    it sweeps across brands, before it reads tenant data.

    `delay()` inside a transaction publishes when it commits, and not at all if it rolls back:
    a worker never picks up a task for a row it cannot see yet, or that never came to be (as
    pretix's TransactionAwareTask). Outside a transaction it publishes at once.

    A task enqueued while a request (or another task) is handled carries that request's id in its
    message's headers (`request_id`), taken when `delay()` is called; the worker logs the task's
    lines with it (config/logs.py).

    A publish after the commit that the broker cannot take (it is down, or restarting) is logged,
    not raised: what asked for it is committed and has succeeded, and an error now would tell a
    customer whose order was placed that it was not. The beat picks the work up again from the
    database (DESIGN.md §6, "Nothing lost": placed orders are swept, due webhook deliveries sent);
    an email asked for in that moment is lost, as it was when the request failed instead."""

    def apply_async(self, args=None, kwargs=None, **options):
        request_id = current_request_id()
        if request_id is not None:
            options["headers"] = {**(options.get("headers") or {}), TASK_HEADER: request_id}
        if transaction.get_connection().in_atomic_block:
            transaction.on_commit(lambda: self._publish_after_commit(args, kwargs, options))
            return None
        return super().apply_async(args, kwargs, **options)

    def _publish_after_commit(self, args, kwargs, options) -> None:
        if broker_outage.recent():
            logger.error("%s%r was committed but not enqueued: the broker was unavailable just now", self.name, args)
            return
        try:
            Task.apply_async(self, args, kwargs, **options)
        except BrokerUnavailable:
            broker_outage.record()
            logger.exception("%s%r was committed but not enqueued: the broker is unavailable", self.name, args)

    def __call__(self, *args, **kwargs):
        with fresh_scope():
            return super().__call__(*args, **kwargs)


def request_id_of(task) -> str | None:
    """The request id a task's message carries, if any (in a worker the message's custom headers;
    run in-process, the headers given to `apply`)."""
    headers = getattr(task.request, "headers", None) or {}
    return headers.get(TASK_HEADER) or getattr(task.request, TASK_HEADER, None)


_tokens = {}  # task id -> the context to restore when it ends (prerun and postrun share the thread)


@task_prerun.connect(dispatch_uid="config.tasks.log_context")
def _enter_log_context(task_id=None, task=None, **kwargs):
    """From before the task runs until after Celery logged its outcome ("succeeded", "failed",
    "retry"), its log lines carry its id, its name and its request's id."""
    _tokens[task_id] = (
        request_id_var.set(request_id_of(task) or current_request_id()),
        task_var.set((task_id, task.name)),
    )


@task_postrun.connect(dispatch_uid="config.tasks.log_context")
def _leave_log_context(task_id=None, **kwargs):
    tokens = _tokens.pop(task_id, None)
    if tokens is not None:
        request_token, task_token = tokens
        task_var.reset(task_token)
        request_id_var.reset(request_token)
