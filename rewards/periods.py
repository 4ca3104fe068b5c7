"""Spend periods: money is counted by calendar month, in UTC."""

import calendar
from datetime import UTC, date, datetime, time, timedelta


def month_of(moment: datetime) -> date:
    """The spend period of a UTC time: the first day of its month."""
    return moment.date().replace(day=1)


def month_bounds(period: date) -> tuple[datetime, datetime]:
    """[first instant, first instant of the next month) of a spend period, in UTC."""
    start = datetime.combine(period, time.min, tzinfo=UTC)
    return start, start + timedelta(days=calendar.monthrange(period.year, period.month)[1])


def parse_month(text: str | None, now: datetime) -> date:
    """The month a `?month=YYYY-MM` asks for: never after this month; this month when absent or bad."""
    this_month = month_of(now)
    try:
        year, month = (int(part) for part in (text or "").split("-"))
        asked = date(year, month, 1)
    except ValueError:
        return this_month
    return min(asked, this_month)


def months_before(period: date, count: int) -> list[date]:
    """`period` and the `count - 1` months before it, newest first (a month picker)."""
    months, year, month = [], period.year, period.month
    for _ in range(count):
        months.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months
