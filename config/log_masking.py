"""Secrets that travel in URLs never reach a log line.

A claim link (`/claim/<token>`), an email confirmation (`/accounts/confirm-email/<key>/`) and a
password reset (`/accounts/password/reset/key/<uid>-<key>/`, staff's and customers' alike) each
carry a one-time secret in their path; the sign-in page carries one in its query string
(`?next=/claim/<token>`, with `/` or `%2F`). Log lines show that segment as `****`.

`MaskSecrets` is a logging filter: gunicorn's access and error logs use it
(config/gunicorn_logging.py), and Django's console logging (settings.LOGGING), which prints the
path of a 404 ("Not Found: /claim/…"), runserver's request lines and CSRF refusals.

Imports nothing of Django: gunicorn loads it before the application.
"""

import logging
import re

MASK = "****"
_SEP = r"(?:/|%2[Ff])"  # a path separator, also percent-encoded inside a query string
_SEGMENT = r"""(?:(?!%2[Ff])[^/?&#\s"'])+"""  # one path segment, up to the next separator
_END = r"""(?:/|%2[Ff]|[?&#\s"']|$)"""

SECRET_PATHS = re.compile(
    rf"""(?x)
    (?P<prefix>
        {_SEP}claim{_SEP}
      | {_SEP}accounts{_SEP}confirm-email{_SEP}
      | {_SEP}accounts{_SEP}password{_SEP}reset{_SEP}key{_SEP}(?!done{_END})
    )
    {_SEGMENT}
    """
)


def mask_secrets(text: str) -> str:
    """`text` with the secret segment of every secret-bearing URL in it replaced by `****`."""
    if "claim" not in text and "reset" not in text and "confirm-email" not in text:
        return text  # the common case, without running the pattern
    return SECRET_PATHS.sub(lambda match: match["prefix"] + MASK, text)


class MaskSecrets(logging.Filter):
    """Rewrites a record's message with the secrets masked (its arguments are formatted in)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_secrets(message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True
