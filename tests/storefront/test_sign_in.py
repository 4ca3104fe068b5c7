"""End users' accounts (django-allauth): verification before anything else, password reset, rate limits,
and allauth's pages in the storefront's look."""

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"  # the factories' password
NEW_PASSWORD = "a brand new passphrase 77"


@pytest.fixture
def customer():
    user = UserFactory(email="somchai@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def sign_in(client, email, password):
    return client.post(reverse("account_login"), {"login": email, "password": password})


def signed_in(client):
    return client.get(reverse("storefront:rewards")).status_code == 200


def test_an_unverified_account_cannot_sign_in_until_the_email_is_confirmed(client):
    client.post(reverse("account_signup"), {"email": "new@example.com", "password1": PASSWORD, "password2": PASSWORD})
    client.logout()

    attempt = sign_in(client, "new@example.com", PASSWORD)

    assert attempt.status_code == 302 and "confirm-email" in attempt["Location"]
    assert not signed_in(client)
    assert "confirm-email" in mail.outbox[-1].body


def test_a_forgotten_password_is_reset_through_the_emailed_link(client, customer):
    asked = client.post(reverse("account_reset_password"), {"email": customer.email})
    assert asked.status_code == 302
    link = re.search(r"https?://\S+/accounts/password/reset/key/\S+/", mail.outbox[-1].body).group(0)

    form = client.get(link[link.index("/accounts/") :], follow=True)  # allauth moves the key out of the URL
    assert form.status_code == 200 and "password1" in form.content.decode()
    changed = client.post(form.redirect_chain[-1][0], {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert changed.status_code == 302

    client.logout()
    assert sign_in(client, customer.email, PASSWORD).status_code == 200  # the old one is refused
    assert not signed_in(client)
    assert sign_in(client, customer.email, NEW_PASSWORD).status_code == 302
    assert signed_in(client)


def test_repeated_wrong_passwords_lock_the_account_for_a_while(client, customer):
    for _ in range(5):
        assert sign_in(client, customer.email, "wrong guess").status_code == 200

    locked = sign_in(client, customer.email, PASSWORD)

    assert locked.status_code == 429 and locked["Retry-After"] == "300"
    assert "Too many failed login attempts" in locked.content.decode()
    assert not signed_in(client)


def test_password_reset_requests_are_rate_limited(client, customer):
    for _ in range(5):
        client.post(reverse("account_reset_password"), {"email": customer.email})
    sent = len(mail.outbox)

    refused = client.post(reverse("account_reset_password"), {"email": customer.email})

    assert refused.status_code == 429
    assert len(mail.outbox) == sent


@pytest.mark.parametrize("name", ["account_login", "account_signup", "account_reset_password"])
def test_account_pages_wear_the_storefront_and_label_their_fields(client, name):
    page = client.get(reverse(name)).content.decode()

    assert "storefront/site.css" in page
    assert 'name="language"' in page  # the language switcher of the storefront's header
    for field in re.findall(r'<input[^>]+type="(?:email|password|text)"[^>]*>', page):
        field_id = re.search(r'id="([^"]+)"', field).group(1)
        assert f'for="{field_id}"' in page, field


@pytest.mark.parametrize("language", ["en", "ko", "th"])
def test_the_sign_in_page_has_one_forgot_password_link_and_sentence_case_labels(client, language):
    page = client.get(reverse("account_login"), HTTP_ACCEPT_LANGUAGE=language).content.decode()

    assert page.count(f'href="{reverse("account_reset_password")}"') == 1
    labels = re.findall(r"<label[^>]*>([^<]+)</label>", page)
    assert labels, page
    for label in labels:
        words = label.strip().rstrip(":").split()
        # Sentence case: no word after the first starts with a capital (Latin labels; Korean and Thai have none).
        assert not any(word[:1].isupper() for word in words[1:]), label
    assert f'<html lang="{language}">' in page and "storefront/site.css" in page
