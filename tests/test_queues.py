"""One queue per kind of work (config/queues.py): fulfilment, webhooks, reports and the beat's sweeps
apart from the rest, each a quorum queue, each with a worker command of its own (platform/Procfile);
and a test that sends its tasks to a family of its own (tests/workers.py) still gets every kind."""

import re
import shlex
import uuid
from pathlib import Path

import pytest
from amqp.exceptions import PreconditionFailed
from django.conf import settings
from kombu import Connection, Queue

from config import queues
from config.celery import app
from tests.workers import PublishTo

ROOT = Path(__file__).resolve().parent.parent


def route(task_name: str) -> Queue:
    app.loader.import_default_modules()
    return app.amqp.router.route({}, task_name, (), {}, app.tasks[task_name])["queue"]


@pytest.mark.parametrize(
    ("task_name", "kind"),
    [
        ("rewards.tasks.fulfil_order", "fulfilment"),
        ("rewards.tasks.deliver_webhook", "webhooks"),
        ("rewards.tasks.send_cap_alerts", "reports"),
        ("rewards.tasks.send_due_webhooks", "beat"),
        ("rewards.tasks.sweep_orders", "beat"),
        ("rewards.tasks.expire_moments", "beat"),
        ("rewards.tasks.month_roll", "beat"),
        ("storefront.tasks.send_order_update", None),  # emails: the default queue
        ("tenants.tasks.send_staff_invitation", None),
    ],
)
def test_each_kind_of_work_goes_to_its_own_queue(task_name, kind):
    base = settings.CELERY_TASK_DEFAULT_QUEUE
    queue = route(task_name)

    assert queue.name == queues.queue_name(base, kind)
    assert queue.queue_arguments == {"x-queue-type": "quorum"}
    assert queue.exchange.type == "topic"  # Celery's native delayed delivery needs it with quorum queues


def test_every_routed_task_exists_and_nothing_the_beat_sends_lands_on_the_default_queue():
    app.loader.import_default_modules()
    assert set(settings.TASK_QUEUE_KINDS) <= set(app.tasks), set(settings.TASK_QUEUE_KINDS) - set(app.tasks)
    assert set(settings.TASK_QUEUE_KINDS.values()) == set(queues.KINDS)
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert settings.TASK_QUEUE_KINDS.get(entry["task"]) in {"beat", "reports"}, entry


def test_the_settings_declare_the_whole_family_as_quorum_queues():
    base = settings.CELERY_TASK_DEFAULT_QUEUE
    declared = settings.CELERY_TASK_QUEUES

    assert [queue.name for queue in declared] == [base, *(f"{base}.{kind}" for kind in queues.KINDS)]
    assert all(queue.queue_arguments == {"x-queue-type": "quorum"} and queue.durable for queue in declared)
    # A queue named nowhere (a test's family) is declared the same way when first used.
    assert app.conf.task_create_missing_queue_type == "quorum"
    assert app.conf.task_create_missing_queue_exchange_type == "topic"


def test_a_tests_own_queue_takes_every_kind_of_task_to_its_family():
    with PublishTo("moments-test-family"):
        assert route("rewards.tasks.fulfil_order").name == "moments-test-family.fulfilment"
        assert route("rewards.tasks.deliver_webhook").name == "moments-test-family.webhooks"
        assert route("tenants.tasks.send_staff_invitation").name == "moments-test-family"
        assert route("rewards.tasks.fulfil_order").queue_arguments == {"x-queue-type": "quorum"}
    assert route("rewards.tasks.fulfil_order").name == f"{settings.CELERY_TASK_DEFAULT_QUEUE}.fulfilment"


@pytest.mark.needs("rabbitmq")
def test_the_broker_declares_them_as_quorum_queues():
    """Declared on the real broker as a worker declares them (under a name of the test's own, so no
    other queue is touched), then asked again as classic queues: RabbitMQ refuses, naming their type."""
    base = f"moments-quorum-{uuid.uuid4().hex[:8]}"
    family = queues.declared_queues(base)
    with Connection(settings.CELERY_BROKER_URL) as connection:
        channel = connection.channel()
        try:
            for queue in family:
                queue.bind(channel).declare()
            for queue in family:
                name, messages, consumers = channel.queue_declare(queue.name, passive=True)
                assert (name, messages, consumers) == (queue.name, 0, 0)
                probe = connection.channel()
                with pytest.raises(PreconditionFailed) as refused:
                    probe.queue_declare(
                        queue.name, durable=True, auto_delete=False, arguments={"x-queue-type": "classic"}
                    )
                assert "x-queue-type" in str(refused.value) and "'quorum'" in str(refused.value), refused.value
        finally:
            channel = connection.channel()
            for queue in family:
                channel.queue_delete(queue.name)
                channel.exchange_delete(queue.exchange.name)


def procfile() -> dict[str, str]:
    lines = (ROOT / "platform" / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line and not line.startswith("#"))


def test_the_procfile_has_a_worker_for_every_queue_and_one_for_them_all():
    processes = procfile()
    by_kind = {name: command for name, command in processes.items() if name.startswith("worker_")}
    read = []
    for command in by_kind.values():
        words = shlex.split(command)
        assert words[:4] == ["celery", "-A", "config", "worker"], command
        read += words[words.index("-Q") + 1].replace("${CELERY_QUEUE:-moments}", "moments").split(",")
        assert re.fullmatch(r"[\w-]+@%h", words[words.index("-n") + 1]), command  # a node name per kind

    assert sorted(read) == sorted(queues.queue_names("moments"))  # every queue, each once
    assert "-Q" not in shlex.split(processes["worker"])  # the one worker of a small deployment reads them all
