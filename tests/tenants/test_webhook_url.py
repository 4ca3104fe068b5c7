"""Security review, issue 10, point 3 (SSRF), when the brand is saved: a webhook URL must be https to
a public address. The setting WEBHOOK_ALLOW_LOOPBACK_HTTP (tests, demos) allows loopback and only
loopback. Nothing here resolves a name or connects anywhere: the check at save is about the URL."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from tenants.models import Brand

pytestmark = pytest.mark.django_db

PRIVATE = [
    "https://10.0.0.1/hooks",
    "https://192.168.1.20/hooks",
    "https://169.254.169.254/latest/meta-data/",  # cloud metadata
    "https://[fd00:ec2::254]/latest/meta-data/",  # cloud metadata, IPv6
    "https://[::ffff:10.0.0.1]/hooks",  # IPv4-mapped IPv6
    "https://[::ffff:169.254.169.254]/hooks",
    "https://100.64.0.1/hooks",  # shared address space (CGNAT)
    "https://0.0.0.0/hooks",
    "https://224.0.0.1/hooks",
    "https://[fe80::1]/hooks",
    "http://10.0.0.1/hooks",
    "http://hooks.alpha.example/",  # plain http to anything but loopback
    "http://93.184.215.14/hooks",
]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hooks",
        "https://127.0.0.1/hooks",
        "https://127.1.2.3/hooks",
        "https://localhost/hooks",
        "https://[::1]/hooks",
        "https://[::ffff:127.0.0.1]/hooks",
        "http://hooks.alpha.example/",
    ],
)
def test_with_loopback_off_the_console_refuses_a_loopback_or_plain_http_url(url, brand_a, owner_a, client, settings):
    settings.WEBHOOK_ALLOW_LOOPBACK_HTTP = False
    client.force_login(owner_a)

    response = client.post(
        reverse("admin:tenants_brand_change", args=[brand_a.pk]),
        {"name": brand_a.name, "primary_colour": brand_a.primary_colour, "webhook_url": url},
    )

    assert response.status_code == 200  # the form again, with the error
    page = response.content.decode()
    assert "Use an https:// URL." in page or "not on the public internet" in page
    brand_a.refresh_from_db()
    assert brand_a.webhook_url == ""


@pytest.mark.parametrize("url", PRIVATE)
def test_private_and_metadata_addresses_are_refused_even_with_loopback_on(url, brand_a, settings):
    settings.WEBHOOK_ALLOW_LOOPBACK_HTTP = True
    brand_a.webhook_url = url

    with pytest.raises(ValidationError) as refused:
        brand_a.full_clean()

    assert set(refused.value.message_dict) == {"webhook_url"}


def test_a_public_https_url_is_accepted_and_loopback_only_with_the_setting(brand_a, settings):
    settings.WEBHOOK_ALLOW_LOOPBACK_HTTP = False
    for url in ("https://hooks.alpha.example/moments", "https://93.184.215.14:8443/hooks"):
        brand_a.webhook_url = url
        brand_a.full_clean()

    settings.WEBHOOK_ALLOW_LOOPBACK_HTTP = True
    for url in ("http://127.0.0.1:8000/hooks", "http://localhost:8000/hooks", "https://[::1]:8443/hooks"):
        brand_a.webhook_url = url
        brand_a.full_clean()

    assert Brand.objects.get(pk=brand_a.pk).webhook_url == ""  # full_clean saves nothing
