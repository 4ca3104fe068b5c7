"""Gunicorn's logger for Moments: its access log prints the request line (`%(r)s`), and its error
log the URI of a request that failed; both pass through `MaskSecrets`, so a claim token or an
email or password-reset key is logged as `****`.

platform/gunicorn.conf.py names it by dotted path (`logger_class`); it lives here because
`platform/` is not a Python package (DESIGN.md §2).
"""

from gunicorn import glogging

from config.log_masking import MaskSecrets


class Logger(glogging.Logger):
    def setup(self, cfg):
        super().setup(cfg)  # also run again on a reopen (USR1): add the filter once
        for log in (self.access_log, self.error_log):
            if not any(isinstance(existing, MaskSecrets) for existing in log.filters):
                log.addFilter(MaskSecrets())
