"""Real Celery worker processes for tests: on the real broker, on the test database.

Each worker consumes a family of queues of its own (its `queue` and that name's queue of each kind
of work, config/queues.py), so no other run's tasks reach it. Its output goes to a
log file (shown when it fails to start), its emails to files in `mail_dir`.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from config.queues import queue_names

ROOT = Path(__file__).resolve().parent.parent


class Worker:
    def __init__(self, workdir: Path, queue: str | None = None, env: dict | None = None):
        self.queue = queue or f"moments-test-{uuid.uuid4().hex[:8]}"
        self.extra_env = env or {}  # e.g. PROMETHEUS_MULTIPROC_DIR
        self.mail_dir = workdir / "mail"
        self.mail_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "worker.log"
        self.process: subprocess.Popen | None = None

    def _env(self) -> dict:
        database = settings.DATABASES["default"]
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "SECRET_KEY": settings.SECRET_KEY,
            "ALLOWED_HOSTS": "testserver",
            "DATABASE_URL": (
                f"postgres://{database['USER']}:{database.get('PASSWORD') or ''}@{database['HOST']}:"
                f"{database.get('PORT') or 5432}/{database['NAME']}"
            ),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
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
            "--concurrency", "1", "--pool", "solo", "--without-gossip", "--without-mingle", "--without-heartbeat",
            "--loglevel", "INFO",
        ]  # fmt: skip
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(command, cwd=ROOT, env=self._env(), stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready." in self.log_path.read_text(errors="replace")[offset:]:
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        self.process.kill()
        pytest.fail("the Celery worker did not start:\n" + self.log_path.read_text(errors="replace")[-3000:])

    def kill(self) -> None:
        """SIGKILL: no warm shutdown, no ack; the broker gives its task to the next worker."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def purge(self) -> None:
        """Drop what earlier tests left waiting on this worker's queue: a test's tasks never queue
        behind another test's backlog (a flood of beat tasks once starved a later test's task)."""
        from config.celery import app

        with app.connection_for_write() as conn:
            for name in queue_names(self.queue):
                conn.default_channel.queue_purge(name)

    def delete_queue(self) -> None:
        """The queues go with their worker: no run leaves queues without a consumer on the broker."""
        from config.celery import app

        with app.connection_for_write() as conn:
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
    its queue of that family: config/queues.py) instead of run eagerly."""

    def __init__(self, queue: str):
        from config.celery import app

        self.conf = app.conf
        self.queue = queue

    def __enter__(self):
        self.saved = self.conf.task_always_eager, self.conf.task_default_queue
        self.conf.task_always_eager, self.conf.task_default_queue = False, self.queue
        return self

    def __exit__(self, *exc):
        self.conf.task_always_eager, self.conf.task_default_queue = self.saved
