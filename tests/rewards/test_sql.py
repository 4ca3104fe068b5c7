"""rewards/sql.py: the hot path's statements write and return exactly what the ORM would, for a
few rows (VALUES) and for many (one JSON document on PostgreSQL), on SQLite and PostgreSQL."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from uuid6 import uuid7

from rewards import sql
from rewards.models import BrandSpend, Event
from tests.factories import BrandFactory

pytestmark = pytest.mark.django_db

AWKWARD_TEXT = ['quote \' and "double"', "back\\slash", "한국어 ไทย", "emoji 🎉", "{not: json}", ""]


def event_rows(brand, count: int) -> list[dict]:
    return [
        {
            "id": uuid7(),
            "brand": brand.pk,
            "event_id": f"e-{number:03}-{AWKWARD_TEXT[number % len(AWKWARD_TEXT)]}",
            "mode": "live",
            "body_hash": "0" * 64,
            "user_id": AWKWARD_TEXT[number % len(AWKWARD_TEXT)] or "u",
            "action": "run",
            "quantity": Decimal("0.001") * (number + 1),
            "occurred_at": datetime(2026, 12, 1, 10, 0, number % 60, 123456, tzinfo=UTC),
            "received_at": datetime(2026, 12, 1, 10, 1, 0, 999999, tzinfo=UTC),
            "country": "KR" if number % 2 else "",
            "properties": {"text": AWKWARD_TEXT[number % len(AWKWARD_TEXT)], "n": number, "nested": [1.5, None]},
        }
        for number in range(count)
    ]


@pytest.mark.parametrize("count", [1, sql.FEW_ROWS + 40])
def test_insert_on_conflict_stores_every_value_exactly_and_returns_what_it_inserted(count):
    brand = BrandFactory()
    rows = event_rows(brand, count)

    inserted = sql.insert_on_conflict(
        Event, rows[: count // 2 + 1], conflict=["brand", "event_id"], update=None, returning=["event_id"]
    )
    again = sql.insert_on_conflict(Event, rows, conflict=["brand", "event_id"], update=None, returning=["event_id"])

    assert [event_id for (event_id,) in inserted] == [row["event_id"] for row in rows[: count // 2 + 1]]
    assert [event_id for (event_id,) in again] == [row["event_id"] for row in rows[count // 2 + 1 :]]
    stored = {event.event_id: event for event in Event.objects.filter(brand=brand)}
    assert len(stored) == count
    for row in rows:
        event = stored[row["event_id"]]
        assert event.pk == row["id"]
        assert (event.user_id, event.country, event.properties) == (row["user_id"], row["country"], row["properties"])
        assert event.quantity == row["quantity"]
        assert (event.occurred_at, event.received_at) == (row["occurred_at"], row["received_at"])


@pytest.mark.parametrize("count", [1, sql.FEW_ROWS + 5])
def test_insert_on_conflict_updates_on_conflict_with_dates_and_decimals(count):
    brands = [BrandFactory() for _ in range(count)]
    month = date(2026, 12, 1)
    rows = [{"brand": brand.pk, "mode": "live", "period": month, "spent": Decimal("1.10")} for brand in brands]
    sql.insert_on_conflict(BrandSpend, rows, conflict=["brand", "mode", "period"], update=None, returning=["brand"])

    returned = sql.insert_on_conflict(
        BrandSpend,
        rows,
        conflict=["brand", "mode", "period"],
        update="spent = {table}.spent + excluded.spent",
        returning=["brand", "spent"],
    )

    assert sorted(Decimal(str(spent)) for _, spent in returned) == [Decimal("2.20")] * count
    assert {spend.period for spend in BrandSpend.objects.filter(brand__in=brands)} == {month}


@pytest.mark.parametrize("count", [1, sql.FEW_ROWS + 5])
def test_update_each_sets_each_rows_own_values(count):
    brand = BrandFactory()
    rows = event_rows(brand, count)
    sql.insert_on_conflict(Event, rows, conflict=["brand", "event_id"], update=None, returning=["event_id"])
    events = list(Event.objects.filter(brand=brand))
    for number, event in enumerate(events):
        event.response = None if number == 1 else {"event_id": event.event_id, "text": AWKWARD_TEXT[number % 6]}

    sql.update_each(Event, events, ["response"])

    stored = {event.pk: event.response for event in Event.objects.filter(brand=brand)}
    assert stored == {event.pk: event.response for event in events}


@pytest.mark.needs("postgresql")
def test_a_naive_time_in_a_json_document_is_refused_rather_than_guessed():
    brand = BrandFactory()
    rows = event_rows(brand, sql.FEW_ROWS + 1)
    rows[-1]["received_at"] = datetime(2026, 12, 1, 10, 0)

    with pytest.raises((ValueError, TypeError)):
        sql.insert_on_conflict(Event, rows, conflict=["brand", "event_id"], update=None, returning=["event_id"])
