"""Account and order emails (issue 14, point 6), in English, Korean and Thai: they name the
platform, never the host; every link stands on a line of its own (no language glues words to
it); each has a plain-text and an HTML part; and each link, opened, works."""

import re
from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext

from rewards.orders.moves import order_move
from tenants.models import User
from tests.factories import CatalogItemFactory
from tests.storefront.conftest import PASSWORD, placed_order, verified

pytestmark = pytest.mark.django_db

LANGUAGES = ["en", "ko", "th"]
HOST = "testserver"


def in_language(language, text):
    with translation.override(language):
        return gettext(text)


def the_link(message) -> str:
    """The one link of a plain-text email, which must stand alone on its line; and the HTML part
    must carry it too."""
    lines = [line for line in message.body.splitlines() if "://" in line]
    assert len(lines) == 1, message.body
    [line] = lines
    assert re.fullmatch(r"https?://\S+", line), f"words glued to the link: {line!r}"
    [(html, kind)] = message.alternatives
    assert kind == "text/html" and f'href="{line}"' in html and "<html lang=" in html
    return line


def assert_names_moments(message, language):
    outside_links = "\n".join(line for line in message.body.splitlines() if "://" not in line)
    assert message.subject.startswith("Moments: ")
    assert HOST not in message.subject and HOST not in outside_links
    assert in_language(language, "Hello from Moments!") in message.body
    assert in_language(language, "Hello from Moments!") in message.alternatives[0][0]


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_sign_up_email_confirms_the_address_in_each_language(client, language):
    mail.outbox.clear()
    client.post(
        reverse("account_signup"),
        {"email": f"new-{language}@example.com", "password1": PASSWORD, "password2": PASSWORD},
        HTTP_ACCEPT_LANGUAGE=language,
    )

    [message] = mail.outbox
    assert message.subject == "Moments: " + in_language(language, "Confirm your email address")
    assert_names_moments(message, language)
    link = the_link(message)
    path = link[link.index("/accounts/") :]
    assert client.get(path, HTTP_ACCEPT_LANGUAGE=language).status_code == 200
    client.post(path, HTTP_ACCEPT_LANGUAGE=language)
    assert User.objects.get(email=f"new-{language}@example.com").emailaddress_set.get().verified


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_password_reset_email_opens_the_new_password_form_in_each_language(client, language):
    user = verified(email=f"forgetful-{language}@example.com")
    mail.outbox.clear()

    client.post(reverse("account_reset_password"), {"email": user.email}, HTTP_ACCEPT_LANGUAGE=language)

    [message] = mail.outbox
    assert message.subject == "Moments: " + in_language(language, "Reset your password")
    assert_names_moments(message, language)
    link = the_link(message)
    opened = client.get(link[link.index("/accounts/") :], follow=True, HTTP_ACCEPT_LANGUAGE=language)
    assert opened.status_code == 200 and 'name="password1"' in opened.content.decode()


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_order_email_links_to_the_order_in_each_language(
    brand_a, client, language, django_capture_on_commit_callbacks
):
    user = verified(email=f"parcel-{language}@example.com")
    User.objects.filter(pk=user.pk).update(language=language)
    item = CatalogItemFactory(kind="physical", name="Steel bottle", value=Decimal("20.00"))
    order = placed_order(brand_a, item, user=User.objects.get(pk=user.pk))
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):  # the email task, queued on commit
        order_move(order=order, to="shipped", carrier="Korea Post", tracking_number="KP1KR")

    [message] = mail.outbox
    assert_names_moments(message, language)
    assert "KP1KR" in message.body and "KP1KR" in message.alternatives[0][0]
    link = the_link(message)
    client.force_login(user)
    page = client.get(link[link.index("/me/") :])
    assert page.status_code == 200 and "Steel bottle" in page.content.decode()
