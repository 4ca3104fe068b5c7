"""One command runs web, worker and beat together: `honcho -f platform/Procfile start web worker beat`
(README, "Run every process at once"), on PostgreSQL and RabbitMQ.

The three run with the production settings on the test's database and a family of queues of their
own (CELERY_QUEUE, config/queues.py), so no other run's workers take their tasks. An event through
the API earns a donation (given at once) and store credit; the credit is claimed and its order
fulfilled by the worker (the fulfilment queue); the brand's endpoint, a server of the test's on
127.0.0.1, refuses the first webhook, which the beat sends again (the beat's queue, then the webhooks
queue). Then the three stop, and no process of theirs is left.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from allauth.account.models import EmailAddress
from django.conf import settings

from config.celery import app
from config.queues import queue_names
from rewards.models import Donation, Moment, Order, WebhookDelivery
from storefront import services
from tests.factories import ApiKeyFactory, BrandFactory, CampaignFactory, CatalogItemFactory, UserFactory
from tests.httpserver import Recorder
from tests.subprocesses import suite_database_url
from tests.workers import PublishTo

ROOT = Path(__file__).resolve().parent.parent
# How the test knows the web process is up: a path and the status it answers when it is.
READINESS = ("/readyz", 200)  # database, broker and cache reachable, migrations applied

pytestmark = pytest.mark.needs("postgresql", "rabbitmq")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def status_of(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def post_json(url: str, key: str, body: bytes) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_for(condition, what: str, output: Path, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}; the processes said:\n{output.read_text(errors='replace')[-6000:]}")


def process_groups_alive(groups: set[int]) -> list[str]:
    """Every live process (a zombie holds nothing and is not counted) whose process group or session
    is one of `groups`, as "pid command"."""
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # gone meanwhile
        # pid (comm) state ppid pgrp session …: comm may hold spaces, so split after its ")".
        state, _ppid, pgrp, session = stat[stat.rindex(")") + 2 :].split()[:4]
        if state != "Z" and (int(pgrp) in groups or int(session) in groups):
            alive.append(f"{entry.name} {command}")
    return alive


@pytest.fixture
def queue_family():
    base = f"moments-run-all-{uuid.uuid4().hex[:8]}"
    yield base
    with app.connection_for_write() as conn:
        for name in queue_names(base):
            conn.default_channel.queue_delete(name)


def test_one_command_runs_web_worker_and_beat_from_event_to_fulfilled_order_and_delivered_webhooks(
    transactional_db, tmp_path, queue_family
):
    # The brand's endpoint refuses the first webhook to arrive: the beat must send it again.
    answers = [(500, {"error": "not yet"})]
    receiver = Recorder(lambda request: answers.pop(0) if answers else (200, {}))
    brand = BrandFactory(webhook_url=receiver.url)
    key = ApiKeyFactory(brand=brand, mode="live").secret
    donation = CatalogItemFactory(kind="donation", value=Decimal("1.00"))
    credit = CatalogItemFactory(kind="credit", value=Decimal("5.00"))
    for reward in (donation, credit):
        CampaignFactory(brand=brand, action="hours_streamed", threshold=Decimal("1"), rewards=[reward.sku], active=True)

    port, output = free_port(), tmp_path / "honcho.log"
    (tmp_path / "empty.env").write_text("")
    env = {
        **{name: value for name, value in os.environ.items() if not name.startswith(("DJANGO_", "PYTEST_"))},
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",  # the Procfile's commands
        "DJANGO_SETTINGS_MODULE": "config.settings",  # production settings: DEBUG off
        "SECRET_KEY": settings.SECRET_KEY,
        "CLAIM_TOKEN_SECRET": settings.CLAIM_TOKEN_SECRET,
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": suite_database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_QUEUE": queue_family,
        "EMAIL_URL": f"filemail:///{tmp_path / 'mail'}",
        "WEBHOOK_ALLOW_LOOPBACK_HTTP": "true",
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_HSTS_SECONDS": "0",
        "WEB_CONCURRENCY": "1",
        "GUNICORN_THREADS": "2",
        "CELERY_CONCURRENCY": "1",
        "BEAT_SCHEDULE_FILE": str(tmp_path / "celerybeat-schedule"),
        **({"REDIS_URL": settings.REDIS_URL} if settings.REDIS_URL else {"ALLOW_PROCESS_LOCAL_CACHE": "true"}),
    }
    command = [
        sys.executable, "-m", "honcho", "-f", "platform/Procfile", "-e", str(tmp_path / "empty.env"),
        "--no-colour", "start", "-p", str(port), "web", "worker", "beat",
    ]  # fmt: skip
    with output.open("wb") as sink:
        honcho = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    groups = {honcho.pid}  # honcho's own group; each process it starts leads a session of its own
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: "celery@" in output.read_text() and " ready." in output.read_text(), "the worker", output)
        wait_for(lambda: "beat: Starting" in output.read_text(), "the beat", output)
        path, ready = READINESS
        wait_for(lambda: status_of(base + path) == ready, f"{path} to answer {ready}", output)
        groups |= {int(pid) for pid in re.findall(r"started \(pid=(\d+)\)", output.read_text())}
        assert len(groups) == 4, output.read_text()[-3000:]

        status, body = post_json(
            f"{base}/api/v1/events",
            key,
            b'{"event_id": "run-all-1", "user_id": "viewer-1", "action": "hours_streamed", "quantity": 1}',
        )
        assert status == 201, body

        given = Moment.objects.get(campaign__rewards__sku=donation.sku, user_id="viewer-1")
        assert given.status == "fulfilled"  # a donation is given at once, in the request
        assert Donation.objects.get(moment=given).amount == Decimal("1.00")

        # The credit is claimed (in this process, as the storefront would); its order goes to the worker.
        user = UserFactory()
        EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
        earned = Moment.objects.get(campaign__rewards__sku=credit.sku, user_id="viewer-1")
        with PublishTo(queue_family):
            order = services.claim_confirm(user=user, moment=earned, item=credit)
        wait_for(lambda: Order.objects.get(pk=order.pk).status == "fulfilled", "the order's fulfilment", output)

        def deliveries():
            return list(WebhookDelivery.objects.filter(brand=brand))

        wait_for(
            lambda: (
                {d.event_type for d in deliveries()} == {"moment.earned", "moment.claimed", "order.fulfilled"}
                and all(d.status == "delivered" for d in deliveries())
            ),
            "every webhook to be delivered",
            output,
        )
        assert sorted(d.attempts for d in deliveries())[-1] == 2  # the refused one, sent again by the beat
        assert len(receiver.requests) == len(deliveries()) + 1
    finally:
        honcho.send_signal(signal.SIGTERM)  # as Ctrl-C or a supervisor's stop: honcho stops the three
        try:
            honcho.wait(timeout=60)
        finally:
            left = process_groups_alive(groups)
            for group in groups:  # never leave a process behind, even when the test fails
                try:
                    os.killpg(group, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            receiver.close()

    log = output.read_text(errors="replace")
    assert left == [], left
    assert "SIGKILL" not in log, log[-3000:]  # each stopped on SIGTERM, within honcho's grace
    for name in ("web.1", "worker.1", "beat.1"):
        assert re.search(rf"{re.escape(name)} stopped \(rc=", log), (name, log[-3000:])
