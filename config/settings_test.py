"""Settings for the test suite: the production settings with test-only secrets and fast hashing.

DATABASE_URL, CELERY_BROKER_URL and REDIS_URL still come from the environment, so the same suite
runs on the embedded defaults locally and on PostgreSQL, RabbitMQ and Redis in CI.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("SECURE_COOKIES", "false")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")  # the test client and live server speak http
os.environ.setdefault("ALLOW_PROCESS_LOCAL_CACHE", "true")  # one test process; CI sets REDIS_URL anyway
os.environ.setdefault("CELERY_TASKS_IN_PROCESS", "true")  # no broker locally; CI sets CELERY_BROKER_URL
# Console tests sign staff in with force_login, which no second factor follows; the tests of the
# requirement itself turn it on (tests/tenants/test_staff_sign_in.py).
os.environ.setdefault("STAFF_MFA_REQUIRED", "false")
# Brands' webhook receivers in tests listen on 127.0.0.1 (tests/httpserver.py); real workers inherit this.
os.environ.setdefault("WEBHOOK_ALLOW_LOOPBACK_HTTP", "true")
# An order a killed worker was calling an outside service for comes back to the next one after
# this (2 minutes in production); real workers inherit it.
os.environ.setdefault("FULFILMENT_LEASE_SECONDS", "20")
# One database: the tests of the replica router (tests/test_replica_router.py) add their replica alias
# themselves, so that no other test reads through one it did not ask for.
os.environ.pop("DATABASE_REPLICA_URL", None)

from config.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
WHITENOISE_USE_FINDERS = True  # browser tests load the admin's CSS without collectstatic
# Tests read templates and static tags without a collectstatic manifest.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
# Tasks run in-process, except in the tests that start a real worker on the real broker (they
# turn this off for their duration): a task published with no worker listening would never run.
CELERY_TASK_ALWAYS_EAGER = True
