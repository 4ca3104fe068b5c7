"""The Celery application. Its settings are the CELERY_* names in config/settings.py."""

import logging
import logging.config
import os

from celery import Celery
from celery.signals import setup_logging, worker_ready
from django.conf import settings

from config import metrics  # counts task retries and failures (Celery's signals)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Every task publishes on commit when delayed inside a transaction (config/tasks.py).
app = Celery("moments", task_cls="config.tasks:TransactionAwareTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def _log_as_django_does(loglevel=None, **kwargs):
    """Workers and beat log through settings.LOGGING (JSON or console, secrets masked, each line
    with its request and task: config/logs.py) instead of Celery's own handlers; `--loglevel`
    still sets the level."""
    logging.config.dictConfig(settings.LOGGING)
    if loglevel:
        logging.getLogger().setLevel(loglevel)


@worker_ready.connect
def serve_metrics(**kwargs):
    """A worker host without a web process serves its metrics itself (WORKER_METRICS_PORT)."""
    if settings.WORKER_METRICS_PORT:
        metrics.serve_directory(settings.WORKER_METRICS_PORT)
