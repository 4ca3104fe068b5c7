"""The platform's one CSV writer: every CSV it hands out goes through here (a test checks that no
other module calls `csv.writer`), because the people who open them use spreadsheets.

A cell whose text starts with `=`, `+`, `-`, `@`, a tab, a carriage return or a line feed could be
read as a formula (`=HYPERLINK(…)` in a brand's name, an address typed by an end user), so it is
written with a leading `'`, which spreadsheets show as text (OWASP, "CSV Injection"). Python
numbers (int, Decimal, float) are written as they are: they come from number columns, cannot
carry a formula, and a negative amount stays a number the operator can add up. The same amount
as a *string* ("-5.00") is escaped like any other text, since text can come from anyone.

(defusedcsv, the maintained library for this, leaves cells starting with a tab or CR as they are
and rewrites `|` inside escaped cells; hence this small writer.)
"""

import csv
from datetime import UTC, datetime
from decimal import Decimal

from django.http import StreamingHttpResponse
from django_scopes import get_scope, scope

from config.db_router import replica_reads, replica_reads_asked

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
# Rows an export fetches at a time (`queryset.iterator(chunk_size=…)`): memory stays flat.
ROWS_PER_FETCH = 2000


def cell(value) -> str | int | float | Decimal:
    """The value as a CSV cell that no spreadsheet will evaluate; a time as ISO-8601 in UTC."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class SafeWriter:
    """csv.writer with every cell passed through `cell`."""

    def __init__(self, file, **fmtparams):
        self._writer = csv.writer(file, **fmtparams)

    def writerow(self, row):
        return self._writer.writerow([cell(value) for value in row])

    def writerows(self, rows):
        for row in rows:
            self.writerow(row)


class _Lines:
    """A file whose `write` hands back what it was given: each row becomes one chunk of the stream."""

    def write(self, text):
        return text


def csv_response(filename: str, header, rows) -> StreamingHttpResponse:
    """An attachment `filename` holding `header` then `rows`, every cell made safe, streamed row by
    row (a million rows in flat memory: give `rows` as a generator over `queryset.iterator()`).

    The rows are read while the response is sent, after the view has returned: they are read in the
    brand scope the view ran in (tenants/scoping.py), and from the database it read (the replica, if
    it asked for it: config/db_router.py), both captured here."""
    writer = SafeWriter(_Lines())
    view_scope = dict(get_scope())
    from_replica = replica_reads_asked()

    def lines():
        with scope(**view_scope), replica_reads(from_replica):
            yield writer.writerow(header)
            for row in rows:
                yield writer.writerow(row)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
