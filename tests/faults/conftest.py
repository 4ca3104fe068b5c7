import pytest

from tests.faults.orders import FAULTS_LEASE_SECONDS
from tests.workers import PublishTo, Worker


@pytest.fixture
def figures(capsys):
    """Prints a fault test's figures on a line of their own, in any run (no -s needed), as
    tests/test_api_fuzz.py prints its own: `faults: <what>: sent=…, acknowledged=…, …`."""

    def show(line: str) -> None:
        with capsys.disabled():
            print(f"\nfaults: {line}")

    return show


@pytest.fixture
def production_worker(django_db_setup, transactional_db, tmp_path):
    """A real worker run as production runs it (platform/Procfile: prefork, -O fair, a process per
    core of this 2-core machine) on a queue of its own; tasks go to it. Killed and restarted at will."""
    worker = Worker(
        tmp_path, pool="prefork", concurrency=2, env={"FULFILMENT_LEASE_SECONDS": FAULTS_LEASE_SECONDS}
    ).start()
    try:
        with PublishTo(worker.queue):
            yield worker
    finally:
        worker.stop()
        worker.delete_queue()
