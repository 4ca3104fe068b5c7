"""The Celery application. Its settings are the CELERY_* names in config/settings.py."""

import os

from celery import Celery

from config import metrics  # noqa: F401  # counts task retries and failures (Celery's signals)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Every task publishes on commit when delayed inside a transaction (config/tasks.py).
app = Celery("moments", task_cls="config.tasks:TransactionAwareTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
