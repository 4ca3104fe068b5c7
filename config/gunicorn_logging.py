"""Gunicorn's logger for Moments: its access log prints the request line (`%(r)s`), and its error
log the URI of a request that failed; both pass through `MaskSecrets`, so a claim token or an
email or password-reset key is logged as `****`.

With LOG_FORMAT=json (the default unless DEBUG: config/logs.py) both print one JSON object a line,
like Django's and Celery's logs; an access line's fields are `remote_addr`, `method`, `path`,
`protocol`, `status`, `bytes`, `duration_ms`, `user_agent` and the response's `request_id`. With
LOG_FORMAT=console it is gunicorn's own line (platform/gunicorn.conf.py's `access_log_format`).
Either way a probe (/healthz, /readyz) that answered 2xx is not logged: load balancers ask every
few seconds; a probe that failed is.

platform/gunicorn.conf.py names it by dotted path (`logger_class`); it lives here because
`platform/` is not a Python package (DESIGN.md §2).
"""

import os
import traceback

from environ import Env
from gunicorn import glogging

from config.log_masking import MaskSecrets
from config.logs import PROBE_PATHS, REQUEST_ID_HEADER, JsonFormatter, log_format


def _status_code(resp) -> int:
    status = resp.status
    return int(status.split(None, 1)[0]) if isinstance(status, str) else int(status)


class Logger(glogging.Logger):
    def setup(self, cfg):
        super().setup(cfg)  # also run again on a reload (HUP): add the filter once
        self.log_format = log_format(os.environ.get("LOG_FORMAT", ""), debug=Env().bool("DEBUG", default=False))
        for log in (self.access_log, self.error_log):
            if not any(isinstance(existing, MaskSecrets) for existing in log.filters):
                log.addFilter(MaskSecrets())
            if self.log_format == "json":
                for handler in log.handlers:
                    handler.setFormatter(JsonFormatter())

    def access(self, resp, req, environ, request_time):
        status = _status_code(resp)
        if environ.get("PATH_INFO") in PROBE_PATHS and 200 <= status < 300:
            return
        if self.log_format != "json":
            return super().access(resp, req, environ, request_time)
        if not self.access_log_enabled:
            return
        headers = {name.lower(): value for name, value in resp.headers}
        method, uri, protocol = environ["REQUEST_METHOD"], environ["RAW_URI"], environ["SERVER_PROTOCOL"]
        fields = {
            "remote_addr": environ.get("REMOTE_ADDR"),
            "method": method,
            "path": uri,
            "protocol": protocol,
            "status": status,
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 1),
            "user_agent": environ.get("HTTP_USER_AGENT"),
            "request_id": headers.get(REQUEST_ID_HEADER.lower()),
        }
        try:
            self.access_log.info("%s %s %s %s", method, uri, protocol, status, extra=fields)
        except Exception:  # as gunicorn's own access(): a log line never fails a request
            self.error(traceback.format_exc())
