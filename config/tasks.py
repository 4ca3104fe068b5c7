"""The base of every Celery task of the project: wiring, importing no app."""

from celery import Task
from celery.signals import task_postrun, task_prerun
from django.db import transaction

from config.logs import TASK_HEADER, current_request_id, request_id_var, task_var
from config.scopes import fresh_scope


class TransactionAwareTask(Task):
    """A task runs in an empty brand scope (config/scopes.py): it enters its row's brand, or says
    it sweeps across brands, before it reads tenant data.

    `delay()` inside a transaction publishes when it commits, and not at all if it rolls back:
    a worker never picks up a task for a row it cannot see yet, or that never came to be (as
    pretix's TransactionAwareTask). Outside a transaction it publishes at once.

    A task enqueued while a request (or another task) is handled carries that request's id in its
    message's headers (`request_id`), taken when `delay()` is called; the worker logs the task's
    lines with it (config/logs.py)."""

    def apply_async(self, args=None, kwargs=None, **options):
        request_id = current_request_id()
        if request_id is not None:
            options["headers"] = {**(options.get("headers") or {}), TASK_HEADER: request_id}
        if transaction.get_connection().in_atomic_block:
            transaction.on_commit(lambda: Task.apply_async(self, args, kwargs, **options))
            return None
        return super().apply_async(args, kwargs, **options)

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
