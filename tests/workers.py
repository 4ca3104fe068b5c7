"""Real Celery worker processes for tests: on the real broker, on the test database.

Each worker consumes a family of queues of its own (its `queue` and that name's queue of each kind
of work, config/queues.py), so no other run's tasks reach it. Its output goes to a
log file (shown when it fails to start), its emails to files in `mail_dir`.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from kombu import pools
from kombu.utils.collections import eqhash

from config.queues import queue_names
from tests.subprocesses import suite_database_url

ROOT = Path(__file__).resolve().parent.parent


# The pools a test worker runs: one process doing one task at a time (the default), or the
# production command's (platform/Procfile: prefork, -O fair) with `concurrency` processes. Under a
# backlog of hundreds of tasks the solo pool of Celery 5.7 sits idle up to 10 s between tasks
# (seen in the fault tests); prefork does not.
POOLS = {
    "solo": lambda concurrency: ["--concurrency", "1", "--pool", "solo"],
    "prefork": lambda concurrency: ["--concurrency", str(concurrency), "--pool", "prefork", "-O", "fair"],
}


class Worker:
    """`broker_url`: another broker than the suite's (a private one, tests/faults/servers.py);
    `env`: settings of this worker's own; `pool`: one of POOLS."""

    def __init__(
        self,
        workdir: Path,
        queue: str | None = None,
        broker_url: str | None = None,
        env: dict | None = None,
        pool: str = "solo",
        concurrency: int = 1,
    ):
        self.queue = queue or f"moments-test-{uuid.uuid4().hex[:8]}"
        self.broker_url = broker_url or settings.CELERY_BROKER_URL
        self.extra_env = env or {}
        self.pool_options = POOLS[pool](concurrency)
        self.mail_dir = workdir / "mail"
        self.mail_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "worker.log"
        self.process: subprocess.Popen | None = None

    def _env(self) -> dict:
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "SECRET_KEY": settings.SECRET_KEY,
            "ALLOWED_HOSTS": "testserver",
            "DATABASE_URL": suite_database_url(),
            "CELERY_BROKER_URL": self.broker_url,
            "CELERY_QUEUE": self.queue,  # its queues, and where what it enqueues itself goes
            "REDIS_URL": settings.REDIS_URL,
            "ALLOW_PROCESS_LOCAL_CACHE": "true",
            "EMAIL_URL": f"filemail:///{self.mail_dir}",
            "SITE_URL": settings.SITE_URL,
            "CLAIM_TOKEN_SECRET": settings.CLAIM_TOKEN_SECRET,
            **self.extra_env,
        }

    def start(self, timeout: float = 60.0) -> "Worker":
        self.starts = getattr(self, "starts", 0) + 1
        name = f"{self.queue}-{self.starts}@%h"  # a node name of its own: nodes' control queues are exclusive
        command = [
            sys.executable, "-m", "celery", "-A", "config", "worker", "-n", name,  # every queue of its family
            *self.pool_options, "--without-gossip", "--without-mingle", "--without-heartbeat",
            "--loglevel", "INFO",
        ]  # fmt: skip
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(  # a session of its own: kill() takes its pool processes too
            command, cwd=ROOT, env=self._env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready." in self.log_path.read_text(errors="replace")[offset:]:
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        self.kill()
        pytest.fail("the Celery worker did not start:\n" + self.log_path.read_text(errors="replace")[-3000:])

    def kill(self) -> None:
        """SIGKILL to the worker and its pool processes at once, as when its host dies: no warm
        shutdown, no ack; the broker gives its tasks to the next worker."""
        if self.process.returncode is None:  # not reaped yet, so its id still names its group
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def purge(self) -> None:
        """Drop what earlier tests left waiting on this worker's queue: a test's tasks never queue
        behind another test's backlog (a flood of beat tasks once starved a later test's task)."""
        from config.celery import app

        with app.connection_for_write(self.broker_url) as conn:
            for name in queue_names(self.queue):
                conn.default_channel.queue_purge(name)

    def delete_queue(self) -> None:
        """The queues go with their worker: no run leaves queues without a consumer on the broker."""
        from config.celery import app

        with app.connection_for_write(self.broker_url) as conn:
            for name in queue_names(self.queue):
                conn.default_channel.queue_delete(name)

    def mails(self) -> list[str]:
        return [path.read_text() for path in sorted(self.mail_dir.iterdir())]

    @staticmethod
    def wait_for(condition, timeout: float = 30.0, what: str = "the worker") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.1)
        pytest.fail(f"timed out waiting for {what}")


class PublishTo:
    """While in effect, tasks are published to this queue's family on the broker (each kind of task to
    its queue of that family: config/queues.py) instead of run eagerly; to another broker than the
    suite's when `broker_url` is given."""

    def __init__(self, queue: str, broker_url: str | None = None):
        from config.celery import app

        self.app = app
        self.conf = app.conf
        self.queue = queue
        self.broker_url = broker_url

    def __enter__(self):
        self.saved = self.conf.task_always_eager, self.conf.task_default_queue
        self.conf.task_always_eager, self.conf.task_default_queue = False, self.queue
        if self.broker_url:
            # The write and read URLs are filled from broker_url when the app is configured: all three.
            self.saved_urls = self.conf.broker_url, self.conf.broker_write_url, self.conf.broker_read_url
            self.conf.broker_url = self.conf.broker_write_url = self.conf.broker_read_url = self.broker_url
            self._forget_pools()  # the suite broker's stay open in kombu's registry, for later
        return self

    def __exit__(self, *exc):
        if self.broker_url:
            self._close_pools()
            self.conf.broker_url, self.conf.broker_write_url, self.conf.broker_read_url = self.saved_urls
        self.conf.task_always_eager, self.conf.task_default_queue = self.saved

    def _forget_pools(self):
        """The app keeps the connection and producer pools of the broker it first published to
        (kombu registers them by broker); dropped, the next publish takes those of `broker_url`."""
        self.app._pool = None
        self.app.amqp._producer_pool = None

    def _close_pools(self):
        """The private broker's pools closed and unregistered: none outlives its broker."""
        connection = self.app.connection_for_write()
        for group in (pools.producers, pools.connections):  # dicts keyed by the broker's eqhash
            pool = dict.pop(group, eqhash(connection), None)
            if pool is not None:
                pool.force_close_all()
        connection.release()
        self._forget_pools()
