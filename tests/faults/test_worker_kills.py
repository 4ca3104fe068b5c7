"""Fault (c): the worker SIGKILLed every 2 seconds during a burst of 200 orders (issue 16, point 5).

200 customers confirm their claims one after another — credit, a pool code, a donation and a code
from an outside fulfilment service (an HTTP server on 127.0.0.1 that applies an order once per
Idempotency-Key, as a real one does), 50 of each — and each commit publishes its fulfilment task
to a real worker on the real broker (tests/workers.py), run as production runs it (prefork, -O
fair, two processes). Meanwhile a killer thread SIGKILLs the worker — its main process and its
pool processes at once, as when its host dies — two seconds into each of its lives and starts
another: no warm shutdown, no ack, a transaction cut wherever it stood. Tasks are acknowledged
late and rejected when their worker is lost (config/settings.py), so the broker hands each
unfinished one to the next worker; a worker killed during the outside call leaves the order's
lease to run out (FULFILMENT_LEASE_SECONDS, 5 s here) before another calls again, with the same key.

Every order must end fulfilled, each effect applied once (DESIGN.md §6, "Exactly once"), within
the time limit; no sweep is needed: nothing is lost when a worker dies.
"""

import re
import threading
import time

import pytest

from tests.faults.orders import KINDS, FulfilmentService, OrderScene, assert_exactly_once, doubled

pytestmark = [pytest.mark.faults, pytest.mark.needs("postgresql", "rabbitmq")]

ORDERS = 200
KILL_EVERY = 2.0  # seconds of each worker's life
TIME_LIMIT = 150.0  # seconds for every order to be fulfilled, from the first claim


class Killer(threading.Thread):
    """SIGKILLs the worker KILL_EVERY seconds after each start and starts another, until stopped."""

    def __init__(self, worker):
        super().__init__(daemon=True)
        self.worker = worker
        self.kills = 0
        self.stopping = threading.Event()
        self.error: BaseException | None = None

    def run(self):
        try:
            while not self.stopping.wait(KILL_EVERY):
                self.worker.kill()
                self.kills += 1
                self.worker.start()
        except BaseException as error:  # noqa: BLE001 — a failed restart is the test's to report
            self.error = error

    def stop(self):
        self.stopping.set()
        self.join(timeout=90)


def test_a_worker_killed_every_two_seconds_fulfils_a_burst_of_orders_exactly_once(production_worker, figures):
    started = time.monotonic()
    service = FulfilmentService(delay=0.02)
    killer = Killer(production_worker)
    try:
        scene = OrderScene(service, per_kind=ORDERS // len(KINDS))
        set_up = time.monotonic()
        killer.start()
        for index in range(ORDERS):
            scene.claim(index)
        deadline = time.monotonic() + TIME_LIMIT
        while scene.fulfilled() < ORDERS and time.monotonic() < deadline and killer.is_alive():
            time.sleep(0.5)
        took = time.monotonic() - set_up
    finally:
        killer.stop()
        service.close()

    effects = scene.effects()
    log = production_worker.log_path.read_text(errors="replace")
    deliveries = len(re.findall(r"Task rewards\.tasks\.fulfil_order\[[^\]]+\] received", log))
    figures(
        f"worker SIGKILLed every {KILL_EVERY:.0f} s during a burst of {ORDERS} orders: sent={len(scene.claims)}, "
        f"acknowledged={len(scene.orders)}, stored={len(effects['orders'])}, "
        f"fulfilled={effects['statuses']['fulfilled']}, doubled={doubled(effects)}; kills={killer.kills}, "
        f"task deliveries={deliveries} (redelivered or retried: {deliveries - ORDERS}), "
        f"service calls={effects['service_calls']} for {effects['service_keys']} orders; "
        f"fulfilled {took:.1f} s after the first claim, {time.monotonic() - started:.1f} s in all"
    )

    assert killer.error is None, killer.error
    assert not scene.refused, scene.refused
    assert killer.kills >= 3 and deliveries > ORDERS, "the kills met no task: they proved nothing"
    assert_exactly_once(effects, ORDERS)
