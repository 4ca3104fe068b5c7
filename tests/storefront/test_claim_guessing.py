"""Claim links cannot be guessed (256-bit tokens), and guessing is bounded anyway (issue 16, point 2):
a client whose claim links missed CLAIM_MISSES_PER_CLIENT times in the window gets a 429 on every
claim page, a real link included, until the window ends; other clients are not affected; each miss
is logged with the client's address, never the token."""

import logging
import time

import pytest
from django.urls import reverse

from rewards.moments.claims import claim_token
from tests.factories import BrandFactory, CatalogItemFactory
from tests.storefront.conftest import earn_moment

pytestmark = pytest.mark.django_db


@pytest.fixture
def real_link():
    moment = earn_moment(BrandFactory(), CatalogItemFactory(kind="credit"))
    return reverse("storefront:claim", args=[claim_token(moment.pk)])


def guess(client, n, address="203.0.113.7"):
    return client.get(reverse("storefront:claim", args=[f"guessed-token-{n:04d}"]), REMOTE_ADDR=address)


def test_a_client_that_keeps_guessing_is_refused_even_a_real_link(client, settings, real_link, caplog):
    settings.CLAIM_MISSES_PER_CLIENT = 5
    caplog.set_level(logging.WARNING)
    assert client.get(real_link, REMOTE_ADDR="203.0.113.7").status_code == 200

    misses = [guess(client, n).status_code for n in range(5)]
    refused = client.get(real_link, REMOTE_ADDR="203.0.113.7")
    another_guess = guess(client, 99)

    assert misses == [404] * 5
    assert refused.status_code == 429 and refused["Retry-After"] == str(settings.CLAIM_MISSES_WINDOW_SECONDS)
    assert "Too many tries" in refused.content.decode()
    assert another_guess.status_code == 429
    # another client is not held by this one's guesses
    assert client.get(real_link, REMOTE_ADDR="198.51.100.1").status_code == 200
    logged = [record.getMessage() for record in caplog.records]
    assert sum(line.startswith("claim link not found: client=203.0.113.7") for line in logged) == 5
    assert "too many requests: view=storefront:claim client=203.0.113.7" in logged
    assert "guessed-token" not in caplog.text and real_link.rsplit("/", 1)[-1] not in caplog.text


def test_the_refusal_ends_with_the_window(client, settings, real_link):
    settings.CLAIM_MISSES_PER_CLIENT = 2
    settings.CLAIM_MISSES_WINDOW_SECONDS = 1
    guess(client, 1), guess(client, 2)
    assert client.get(real_link, REMOTE_ADDR="203.0.113.7").status_code == 429

    time.sleep(1.2)

    assert client.get(real_link, REMOTE_ADDR="203.0.113.7").status_code == 200
