"""Log lines of Moments: one JSON object a line in production, a readable line in development, each
carrying the request id of the request (or of the request that enqueued the task) it was logged in.

- The request id: `RequestIdMiddleware` (config/middleware.py) takes a well-formed incoming
  `X-Request-ID` or makes one, returns it in the response's `X-Request-ID` and sets it here for
  the request's log lines; a task enqueued during the request carries it in its message's headers
  and sets it again around its run in the worker (config/tasks.py), so its log lines carry it too.
- `RequestContext` (a logging filter on the handler) puts `request_id`, and in a task `task_id` and
  `task`, on every record; `JsonFormatter` (python-json-logger) and `ConsoleFormatter` print them.
- Both formatters pass their finished line through `mask_secrets` (config/log_masking.py): a
  claim token, an email-confirmation or a password-reset key is `****` wherever it shows, in the
  message, an extra field or a traceback.

`LOG_FORMAT` (`json` or `console`; `json` unless `DEBUG`) picks the formatter, for Django's and
Celery's logging (settings.LOGGING) and gunicorn's (config/gunicorn_logging.py).

Imports nothing of Django: gunicorn loads it before the application.
"""

import logging
import re
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime

from pythonjsonlogger.json import JsonFormatter as BaseJsonFormatter

from config.log_masking import mask_secrets

LOG_FORMATS = ("json", "console")
# The probes of config/health.py: load balancers and orchestrators call them every few seconds, so
# an answer of theirs that says all is well is not an access line (a failing one is).
PROBE_PATHS = frozenset({"/healthz", "/readyz"})
REQUEST_ID_HEADER = "X-Request-ID"
# An incoming id is kept if it is 1 to 128 of these (UUIDs, ULIDs, a proxy's "Root=1-…" trace ids);
# anything else — too long, a space, a quote, a newline that would forge a log line — is replaced.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:=+@-]{1,128}")
# The task message header that carries it (config/tasks.py).
TASK_HEADER = "request_id"

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
task_var: ContextVar[tuple[str, str] | None] = ContextVar("task", default=None)  # (id, name)


def log_format(value: str, *, debug: bool) -> str:
    """The format LOG_FORMAT names (`json` or `console`, any case); unset: console with DEBUG,
    JSON without."""
    chosen = (value or ("console" if debug else "json")).strip().lower()
    if chosen not in LOG_FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, not {value!r}")
    return chosen


def new_request_id() -> str:
    return uuid.uuid4().hex


def accept_request_id(incoming: str | None) -> str:
    """The incoming id when it is well formed (bounded, safe characters), else a new one."""
    if incoming and _REQUEST_ID.fullmatch(incoming):
        return incoming
    return new_request_id()


def current_request_id() -> str | None:
    return request_id_var.get()


class RequestContext(logging.Filter):
    """Puts the request id (and in a task, its id and name) on every record the handler prints.
    A record that already has a request id (gunicorn's access line, written after the request)
    keeps it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id_var.get()
        task = task_var.get()
        if task is not None and getattr(record, "task_id", None) is None:
            record.task_id, record.task = task
        return True


class QuietProbes(logging.Filter):
    """Drops runserver's request line (`"GET /healthz HTTP/1.1" 200 16`) for a probe that answered
    2xx, as config/gunicorn_logging.py does for gunicorn's access log."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        if len(args) >= 2 and isinstance(args[0], str):
            _, _, rest = args[0].partition(" ")
            path = rest.partition(" ")[0].partition("?")[0]
            if path in PROBE_PATHS and str(args[1]).startswith("2"):
                return False
        return True


class JsonFormatter(BaseJsonFormatter):
    """One JSON object a line: `time` (UTC, ISO 8601), `level`, `logger`, `message`, then
    `request_id`, `task_id` and `task` when there are, any `extra` fields, and `exc_info`.

    Left out: a record's `request` (Django's request or socket object: its repr shows the path
    unmasked, and it says nothing the message does not) and Celery's `data` (a copy of what its
    message already says)."""

    DROPPED = frozenset({"request", "data", "color_message"})

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("json_ensure_ascii", False)
        super().__init__(*args, **kwargs)

    def add_fields(self, log_data, record, message_dict):
        log_data["time"] = datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds")
        log_data["level"] = record.levelname
        log_data["logger"] = record.name
        log_data["message"] = record.message
        for name in ("request_id", "task_id", "task"):
            log_data[name] = getattr(record, name, None)
        super().add_fields(log_data, record, message_dict)
        for name in self.DROPPED:
            log_data.pop(name, None)
        for name in ("request_id", "task_id", "task"):  # outside a request or a task: absent, not null
            if log_data.get(name) is None:
                log_data.pop(name, None)
        log_data.pop("taskName", None)  # asyncio's, always null here

    def format(self, record: logging.LogRecord) -> str:
        return mask_secrets(super().format(record))


class ConsoleFormatter(logging.Formatter):
    """`2026-12-01 22:14:03,123 INFO rewards.webhooks.services message [request_id=… task=…]`."""

    def __init__(self, fmt="%(asctime)s %(levelname)s %(name)s %(message)s", *args, **kwargs):
        super().__init__(fmt, *args, **kwargs)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = [
            f"{name}={value}"
            for name, value in (
                ("request_id", getattr(record, "request_id", None)),
                ("task", getattr(record, "task", None)),
            )
            if value is not None
        ]
        if context:
            head, newline, rest = line.partition("\n")  # after the message, before a traceback
            line = f"{head} [{' '.join(context)}]{newline}{rest}"
        return mask_secrets(line)
