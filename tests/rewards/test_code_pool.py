"""The operator's code pools: CSV import, secrecy in the console, allocation once per order."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from rewards.models import DigitalCode
from tests.factories import CatalogItemFactory

pytestmark = pytest.mark.django_db


def csv_file(text, name="codes.csv"):
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def test_the_operator_imports_a_csv_skipping_the_header_repeats_and_codes_already_there(operator, client):
    card = CatalogItemFactory(sku="CARD-10", kind="digital_code")
    DigitalCode.objects.create(item=card, code="ALREADY-1")
    client.force_login(operator)

    response = client.post(
        reverse("admin:rewards_digitalcode_import"),
        {"item": str(card.pk), "file": csv_file("code\nNEW-1\nNEW-2\nNEW-1\nALREADY-1\n\n")},
        follow=True,
    )

    assert "Imported 2 codes; 2 already in the pool were skipped." in response.content.decode()
    assert sorted(DigitalCode.objects.values_list("code", flat=True)) == ["ALREADY-1", "NEW-1", "NEW-2"]


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\xff\xfe\x00binary", "not UTF-8"),
        (b"code\n\n", "no codes"),
        (("X" * 201 + "\n").encode(), "not a code"),
        (b"bad\x07code\n", "not a code"),
    ],
)
def test_a_bad_file_is_refused_with_a_message_and_nothing_imported(operator, client, content, message):
    card = CatalogItemFactory(kind="digital_code")
    client.force_login(operator)

    response = client.post(
        reverse("admin:rewards_digitalcode_import"),
        {"item": str(card.pk), "file": SimpleUploadedFile("c.csv", content)},
    )

    assert response.status_code == 200 and message in response.content.decode()
    assert not DigitalCode.objects.exists()


def test_codes_are_never_shown_in_the_console(operator, client):
    card = CatalogItemFactory(kind="digital_code")
    code = DigitalCode.objects.create(item=card, code="SECRET-CODE-123")
    client.force_login(operator)

    listing = client.get(reverse("admin:rewards_digitalcode_changelist")).content.decode()
    detail = client.get(reverse("admin:rewards_digitalcode_change", args=[code.pk])).content.decode()

    assert "SECRET-CODE-123" not in listing and "SECRET-CODE-123" not in detail


def test_brand_staff_cannot_import_or_list_codes(owner_a, client):
    client.force_login(owner_a)

    assert client.get(reverse("admin:rewards_digitalcode_changelist")).status_code == 403
    assert client.get(reverse("admin:rewards_digitalcode_import")).status_code == 403
