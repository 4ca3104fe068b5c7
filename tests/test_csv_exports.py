"""CSV files the platform hands out never carry a spreadsheet formula (OWASP "CSV Injection"):
every one is written by config.spreadsheets, which escapes a cell starting with =, +, -, @, a tab
or a line break with a leading '."""

import csv
import io
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from config.spreadsheets import FORMULA_STARTS, cell
from tests.factories import AddressFactory, BrandFactory, CatalogItemFactory, OrderFactory

ROOT = Path(__file__).resolve().parents[1]
WRITER = ROOT / "config" / "spreadsheets.py"
# csv.writer / csv.DictWriter, `from csv import writer`, or `import csv as x` then x.writer.
CSV_WRITER = re.compile(r"\b\w+\.(?:writer|DictWriter)\s*\(|from\s+csv\s+import\s+[^\n]*\b(?:writer|DictWriter)\b")
FORMULA = '=HYPERLINK("http://x","y")'
ITEM_NAMES = ["@SUM(1+1)", "+1+1", "-1+1", "\t=1+1", "\r=1+1", "=1+1"]


def source_files():
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).parts
        if parts[0] in {".venv", "tests", "var", "node_modules"} or "migrations" in parts:
            continue
        yield path


def test_no_module_but_the_one_writer_writes_csv():
    assert WRITER.exists()
    writers = [
        str(path.relative_to(ROOT))
        for path in source_files()
        if path != WRITER and "csv" in (text := path.read_text()) and CSV_WRITER.search(text)
    ]

    assert writers == [], f"write CSV through config.spreadsheets, not csv.writer: {writers}"


def test_the_check_sees_a_csv_writer():
    assert CSV_WRITER.search("import csv\nw = csv.writer(response)")
    assert CSV_WRITER.search("from csv import DictWriter")
    assert not CSV_WRITER.search("rows = csv.reader(io.StringIO(text))")


@pytest.mark.parametrize("text", [FORMULA, *ITEM_NAMES, "-5.00", "\n=1"])
def test_text_that_a_spreadsheet_would_evaluate_is_escaped(text):
    assert cell(text) == "'" + text


@pytest.mark.parametrize("value", ["Seoul", "12 Teheran-ro", "", "'quoted", "a=b"])
def test_other_text_is_left_alone(value):
    assert cell(value) == value


def test_numbers_stay_numbers_even_negative_money():
    assert [cell(value) for value in (Decimal("-5.00"), -3, 2.5, None)] == [Decimal("-5.00"), -3, 2.5, ""]


@pytest.mark.django_db
def test_the_pick_list_escapes_a_brand_name_item_names_and_addresses(operator, client):
    brand = BrandFactory(slug="hostile", name=FORMULA)
    address = AddressFactory(full_name="=HYPERLINK(1)", line1="-1+1", city="@A1")
    parcels = [
        OrderFactory(
            brand=brand,
            item=CatalogItemFactory(kind="physical", name=name),
            shipping_address=address.snapshot(),
        )
        for name in ITEM_NAMES
    ]
    client.force_login(operator)

    response = client.post(
        reverse("admin:rewards_order_changelist"),
        {"action": "export_pick_list", ACTION_CHECKBOX_NAME: [str(parcel.pk) for parcel in parcels]},
    )

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(response.getvalue().decode(), newline="")))
    assert len(rows) == len(ITEM_NAMES)
    assert {row["brand"] for row in rows} == {"'" + FORMULA}
    assert sorted(row["item"] for row in rows) == sorted("'" + name for name in ITEM_NAMES)
    assert {(row["full_name"], row["line1"], row["city"]) for row in rows} == {("'=HYPERLINK(1)", "'-1+1", "'@A1")}
    for row in rows:
        for column, value in row.items():
            assert not value.startswith(FORMULA_STARTS), (column, value)
