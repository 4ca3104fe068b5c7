"""Secrets in URLs (claim tokens, email-confirmation and password-reset keys) never reach a log:
gunicorn's access and error logs, and Django's own request logging, show them as `****`.

The gunicorn test runs the real server with platform/gunicorn.conf.py on 127.0.0.1 (an ephemeral
port), sends a few requests and reads everything it printed.
"""

import json
import logging
import os
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.test import Client

from config.log_masking import mask_secrets
from tests.gunicorn import running_gunicorn
from tests.subprocesses import suite_database_url

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "Zm9yZ2VkLXRva2VuLXRoYXQtbXVzdC1uZXZlci1iZS1sb2dnZWQ"  # claim tokens are url-safe base64
KEY = "MQ:1tSecretKeyNeverLogged:abcdef"
RESET = "c8n-5f0e1b2c3d4e5f6a7b8c"
SECRETS = (TOKEN, KEY, RESET, "SecretKeyNeverLogged", "5f0e1b2c3d4e5f6a7b8c")

SECRET_URLS = {  # path and query -> how it is logged
    f"/claim/{TOKEN}": "/claim/****",
    f"/claim/{TOKEN}/GC-10-USD": "/claim/****/GC-10-USD",
    f"/claim/{TOKEN}/GC-10-USD/confirm": "/claim/****/GC-10-USD/confirm",
    f"/accounts/login/?next=/claim/{TOKEN}": "/accounts/login/?next=/claim/****",
    f"/accounts/signup/?next=%2Fclaim%2F{TOKEN}&x=1": "/accounts/signup/?next=%2Fclaim%2F****&x=1",
    f"/accounts/confirm-email/{KEY}/": "/accounts/confirm-email/****/",
    f"/accounts/password/reset/key/{RESET}/": "/accounts/password/reset/key/****/",
}
PLAIN_URLS = [  # nothing secret: logged as they are
    "/accounts/password/reset/key/done/",
    "/accounts/password/reset/done/",
    "/store/alpha-fitness",
    "/api/v1/users/u1/moments?limit=5",
]


@pytest.mark.parametrize(("url", "logged"), SECRET_URLS.items())
def test_a_secret_in_a_url_is_masked(url, logged):
    assert mask_secrets(f'127.0.0.1 "GET {url} HTTP/1.1" 404') == f'127.0.0.1 "GET {logged} HTTP/1.1" 404'


@pytest.mark.parametrize("url", PLAIN_URLS)
def test_a_url_without_a_secret_is_logged_as_it_is(url):
    assert mask_secrets(f"GET {url} HTTP/1.1") == f"GET {url} HTTP/1.1"


# --- Django's own logging -------------------------------------------------------------------------


class Collect(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


@pytest.mark.django_db
def test_djangos_not_found_log_line_masks_the_claim_token(caplog):
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = Client().get(f"/claim/{TOKEN}")

    assert response.status_code == 404
    lines = [record.getMessage() for record in caplog.records]
    assert "Not Found: /claim/****" in lines, lines
    assert not any(TOKEN in line for line in lines)


def test_runservers_request_lines_mask_the_claim_token():
    logger, collect = logging.getLogger("django.server"), Collect()
    logger.addHandler(collect)
    try:  # as django.core.servers.basehttp.WSGIRequestHandler.log_message logs a request
        logger.info('"%s" %s %s', f"GET /claim/{TOKEN} HTTP/1.1", "404", "179")
    finally:
        logger.removeHandler(collect)

    assert collect.lines == ['"GET /claim/**** HTTP/1.1" 404 179']


def test_runserver_leaves_out_probes_that_answered_2xx():
    logger, collect = logging.getLogger("django.server"), Collect()
    logger.addHandler(collect)
    try:
        for request_line, status in [
            ("GET /healthz HTTP/1.1", "200"),
            ("HEAD /readyz HTTP/1.1", "200"),
            ("GET /readyz HTTP/1.1", "503"),
            ("GET /healthzz HTTP/1.1", "200"),
        ]:
            logger.info('"%s" %s %s', request_line, status, "16")
    finally:
        logger.removeHandler(collect)

    assert collect.lines == ['"GET /readyz HTTP/1.1" 503 16', '"GET /healthzz HTTP/1.1" 200 16']


def test_every_console_handler_masks():
    root_handlers = logging.getLogger().handlers + logging.getLogger("django.server").handlers
    console = [handler for handler in root_handlers if type(handler) is logging.StreamHandler]
    assert console
    for handler in console:
        assert any(type(f).__name__ == "MaskSecrets" for f in handler.filters), handler


# --- A real gunicorn ------------------------------------------------------------------------------


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # the status of this request, not of where it leads


def fetch(base, url):
    try:
        with urllib.request.build_opener(NoRedirect).open(base + url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def post(base, url):
    try:
        request = urllib.request.Request(base + url, b"", method="POST")
        with urllib.request.build_opener(NoRedirect).open(request, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.needs("postgresql")
@pytest.mark.parametrize("log_format", ["console", "json"])
def test_gunicorn_logs_the_request_line_with_the_token_masked(transactional_db, tmp_path, log_format):
    """Both formats (LOG_FORMAT): the request line masked, the request's id at its end (or in its
    `request_id`), and no line for a probe that answered 200 — one for a probe that did not."""
    output = tmp_path / "gunicorn.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "DATABASE_URL": suite_database_url(),
        "WEB_CONCURRENCY": "1",
        "GUNICORN_THREADS": "2",
        "LOG_LEVEL": "info",  # as gunicorn spells it; Django's logging takes it too
        "LOG_FORMAT": log_format,
    }
    with running_gunicorn(env, output) as base:
        statuses = {url: fetch(base, url) for url in [*SECRET_URLS, *PLAIN_URLS]}
        probes = {path: fetch(base, path) for path in ("/healthz", "/readyz")}
        refused_probe = post(base, "/readyz")
    log = output.read_text()

    assert all(status < 500 for status in statuses.values()), statuses
    assert probes == {"/healthz": 200, "/readyz": 200} and refused_probe == 405, log[-3000:]
    for secret in SECRETS:
        assert secret not in log, [line for line in log.splitlines() if secret in line]
    assert "Not Found: /claim/****" in log  # Django's own 404 line, through the same process
    if log_format == "console":
        for url, logged in SECRET_URLS.items():
            assert re.search(rf'"GET {re.escape(logged)} HTTP/1.1" {statuses[url]} .* [0-9a-f]{{32}}\n', log), logged
        access = [line for line in log.splitlines() if '" HTTP/1.1" ' in line or 'HTTP/1.1" ' in line]
        assert not [line for line in access if '"GET /healthz' in line or '"GET /readyz' in line], access
        assert [line for line in access if '"POST /readyz HTTP/1.1" 405 ' in line]
        return
    records = [json.loads(line) for line in log.splitlines()]  # every line is one JSON object
    access = [record for record in records if record["logger"] == "gunicorn.access"]
    for url, logged in SECRET_URLS.items():
        [line] = [record for record in access if record["path"] == logged]
        assert (line["method"], line["status"], line["protocol"]) == ("GET", statuses[url], "HTTP/1.1")
        assert re.fullmatch(r"[0-9a-f]{32}", line["request_id"]) and line["duration_ms"] >= 0
    assert [(record["method"], record["path"]) for record in access if record["path"] in ("/healthz", "/readyz")] == [
        ("POST", "/readyz")
    ]
    assert any(record["logger"] == "gunicorn.error" and "Listening at" in record["message"] for record in records)
