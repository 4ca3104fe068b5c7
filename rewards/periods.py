"""Spend periods: money is counted by calendar month, in UTC."""

from datetime import date, datetime


def month_of(moment: datetime) -> date:
    """The spend period of a UTC time: the first day of its month."""
    return moment.date().replace(day=1)
