"""Fault (b): RabbitMQ restarted with orders in flight (issue 16, point 5).

A private RabbitMQ node (tests/faults/servers.py) is the broker of a real worker, run as
production runs it (prefork, -O fair, two processes), and of the claims' fulfilment tasks.
Customers confirm 60 claims — credit, a pool code, a donation and a code from an outside
fulfilment service that takes half a second an order, so that orders are still queued and being
fulfilled — then the node is stopped (its process exits: every connection drops, an ack in flight
is lost) and 20 more customers confirm theirs while it is down: their orders are committed, but
their tasks cannot be published. The node starts again on the same data: the durable queue
keeps the persistent messages it held, unacknowledged ones are delivered again, and the worker
reconnects by itself.

The beat's sweep picks up what was never enqueued: here a beat every 2 s runs `sweep_orders` on
the worker, as the real beat would (every 2 minutes) once those orders are 5 minutes old — the
test ages the placed orders by `STALE_AFTER` before each tick instead of waiting 5 minutes. A
sweep also enqueues orders whose task is merely still queued: fulfilment is idempotent, and the
test counts every effect.

Every order must end fulfilled, each effect applied once, within the time limit.
"""

import time

import pytest
from django.db.models import F

from config.tasks import broker_outage
from rewards.models import Order
from rewards.orders.fulfilment import STALE_AFTER
from rewards.tasks import sweep_orders
from tests.faults.orders import FAULTS_LEASE_SECONDS, KINDS, FulfilmentService, OrderScene, assert_exactly_once, doubled
from tests.faults.servers import PrivateRabbitMQ
from tests.workers import PublishTo, Worker

pytestmark = [pytest.mark.faults, pytest.mark.needs("postgresql", "rabbitmq-server")]

IN_FLIGHT = 60  # claimed before the restart
DURING_OUTAGE = 20  # claimed while the broker is down
ORDERS = IN_FLIGHT + DURING_OUTAGE
SERVICE_DELAY = 0.5  # seconds the outside service takes per order
BEAT_EVERY = 2.0
TIME_LIMIT = 90.0  # seconds for every order to be fulfilled once the broker is back


def test_rabbitmq_restarted_with_orders_in_flight_fulfils_each_order_exactly_once(
    django_db_setup, transactional_db, tmp_path, figures
):
    started = time.monotonic()
    service = FulfilmentService(delay=SERVICE_DELAY)
    scene = OrderScene(service, per_kind=ORDERS // len(KINDS))
    ticks, outage = 0, 0.0
    with PrivateRabbitMQ() as broker:
        broker.start()
        worker = Worker(
            tmp_path,
            broker_url=broker.url,
            pool="prefork",
            concurrency=2,
            env={"FULFILMENT_LEASE_SECONDS": FAULTS_LEASE_SECONDS},
        )
        try:
            worker.start()
            with PublishTo(worker.queue, broker_url=broker.url):
                for index in range(IN_FLIGHT):
                    scene.claim(index)
                in_flight = IN_FLIGHT - scene.fulfilled()
                stopped = time.monotonic()
                broker.stop()
                for index in range(IN_FLIGHT, ORDERS):
                    scene.claim(index)
                broker.start()
                outage = time.monotonic() - stopped

                deadline = time.monotonic() + TIME_LIMIT
                while scene.fulfilled() < ORDERS and time.monotonic() < deadline:
                    placed = scene.our_orders().filter(status=Order.Status.PLACED)
                    placed.update(created_at=F("created_at") - STALE_AFTER)  # as if 5 minutes had passed
                    sweep_orders.delay()
                    ticks += 1
                    time.sleep(BEAT_EVERY)
        finally:
            worker.stop()
            service.close()
            broker_outage.reset()  # this process's memory of the outage: later tests publish at once

    effects = scene.effects()
    log = worker.log_path.read_text(errors="replace")
    figures(
        f"rabbitmq restart (down {outage:.1f} s) with {in_flight} orders in flight and {DURING_OUTAGE} placed "
        f"while down: sent={len(scene.claims)}, acknowledged={len(scene.orders)}, stored={len(effects['orders'])}, "
        f"fulfilled={effects['statuses']['fulfilled']}, doubled={doubled(effects)}; beat sweeps={ticks}, "
        f"worker reconnects={log.count('Connected to amqp') - 1}, "
        f"service calls={effects['service_calls']} for {effects['service_keys']} orders; "
        f"{time.monotonic() - started:.1f} s"
    )

    assert in_flight > 0, "every order was fulfilled before the restart: it proved nothing"
    assert not scene.refused, scene.refused
    assert_exactly_once(effects, ORDERS)
