"""The task queues: one per kind of work, so that each kind can have workers of its own, every one
named after the deployment's queue (`CELERY_QUEUE`, the default queue) so that deployments sharing a
broker never read each other's work. Wiring's plumbing: it names tasks as text and imports no app.

    <CELERY_QUEUE>               whatever is not routed below (emails to staff and customers)
    <CELERY_QUEUE>.fulfilment    orders fulfilled
    <CELERY_QUEUE>.webhooks      deliveries to the brands' endpoints
    <CELERY_QUEUE>.reports       the cap alerts, computed from every brand's reports
    <CELERY_QUEUE>.beat          the beat's sweeps (which then queue fulfilments and deliveries)

Which task goes where is `TASK_QUEUE_KINDS` in config/settings.py. Every queue is a quorum queue
(replicated across a RabbitMQ cluster, platform/DEPLOY.md) on a topic exchange of its own, so that
Celery's native delayed delivery holds a retry's countdown in the broker, not in a worker.

The route is worked out when a task is sent, from the app's default queue at that moment: a test
that points the default queue at a queue of its own (tests/workers.py, PublishTo) sends every kind
of task to that queue's family, which its worker reads.
"""

from celery import current_app
from django.conf import settings
from kombu import Exchange, Queue

KINDS = ("fulfilment", "webhooks", "reports", "beat")
QUEUE_ARGUMENTS = {"x-queue-type": "quorum"}
EXCHANGE_TYPE = "topic"


def queue_name(base: str, kind: str | None = None) -> str:
    """The queue of `kind` (None: the default queue) in the family named `base`."""
    return base if kind is None else f"{base}.{kind}"


def queue_names(base: str) -> list[str]:
    """Every queue of the family, the default one first."""
    return [queue_name(base, kind) for kind in (None, *KINDS)]


def declared_queue(name: str) -> Queue:
    """A durable quorum queue on a topic exchange of the same name, bound by its own name."""
    return Queue(name, Exchange(name, type=EXCHANGE_TYPE), routing_key=name, queue_arguments=QUEUE_ARGUMENTS)


def declared_queues(base: str) -> list[Queue]:
    return [declared_queue(name) for name in queue_names(base)]


def route_task(name, args, kwargs, options, task=None, **kw):
    """Celery's router (`task_routes`): the queue of the task's kind, in the family of the app's
    default queue; None (the default queue) for a task of no kind."""
    kind = settings.TASK_QUEUE_KINDS.get(name)
    if kind is None:
        return None
    app = task.app if task is not None else current_app
    return {"queue": queue_name(app.conf.task_default_queue, kind)}
