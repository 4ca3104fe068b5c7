"""Production settings and the headers every answer carries (issue 16, point 3): Django's deploy
checks pass with the environment production sets anyway, every page has a Content-Security-Policy
(no inline script without the response's nonce), and what shows a code, an address, a key or a
claim URL is never cached."""

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from rewards.models import Order
from rewards.moments.claims import claim_token
from storefront import services
from tests.factories import AddressFactory, ApiKeyFactory, CatalogItemFactory, DigitalCodeFactory
from tests.storefront.conftest import earn_moment, signed_in_client, verified

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = {  # what any production deployment sets; nothing about security
    "SECRET_KEY": "a-long-random-production-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
    "ALLOWED_HOSTS": "moments.example",
    "REDIS_URL": "redis://127.0.0.1:6379/15",
    "CELERY_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672//",
    "DATABASE_URL": "sqlite:////tmp/moments-deploy-check.sqlite3",
    "EMAIL_URL": "smtp+tls://moments:password@smtp.example.com:587",
}


def deploy_check(**extra) -> subprocess.CompletedProcess:
    keep = {name: value for name, value in os.environ.items() if name in ("PATH", "HOME", "LANG")}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**keep, "DJANGO_SETTINGS_MODULE": "config.settings", **PRODUCTION, **extra},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_production_settings_pass_every_deploy_check_with_the_environment_alone():
    passed = deploy_check()
    opted_out = deploy_check(SECURE_HSTS_PRELOAD="false", SECURE_SSL_REDIRECT="false")

    assert passed.returncode == 0, passed.stdout + passed.stderr
    # each is a setting of its own, read from the environment (and the check sees it)
    assert opted_out.returncode != 0
    assert "security.W021" in opted_out.stderr and "security.W008" in opted_out.stderr


def test_the_deploy_check_refuses_emails_printed_to_the_console():
    """Without EMAIL_URL the console backend prints every email, reset links and codes included,
    into the process's output beside its logs."""
    printed = deploy_check(EMAIL_URL="consolemail://")

    assert printed.returncode != 0 and "moments.W001" in printed.stderr


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/accounts/login/", "/accounts/password/reset/", "/api/v1/docs/"])
def test_every_page_has_a_content_security_policy_without_inline_scripts(client, path):
    response = client.get(path)

    policy = response["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert response.status_code == 200
    assert directives["script-src"].split()[0] == "'self'" and "'unsafe-inline'" not in directives["script-src"]
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"


@pytest.mark.django_db
def test_the_one_inline_script_carries_the_responses_nonce(client, owner_a):
    client.force_login(owner_a)
    page = client.post(reverse("admin:tenants_apikey_add"), {"mode": "live", "name": "CI"}, follow=True)

    nonce = page["Content-Security-Policy"].split("'nonce-", 1)[1].split("'", 1)[0]
    assert f'<script nonce="{nonce}">' in page.content.decode()


@pytest.mark.django_db
def test_pages_that_show_a_code_an_address_or_a_claim_url_are_never_cached(brand_a):
    code = CatalogItemFactory(kind="digital_code", value=Decimal("10.00"))
    DigitalCodeFactory(item=code)
    user = verified()
    AddressFactory(user=user)
    order = services.claim_confirm(user=user, moment=earn_moment(brand_a, code), item=code)
    Order.objects.filter(pk=order.pk).update(status="fulfilled", digital_code="GIFT-1234")
    client = signed_in_client(user)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {ApiKeyFactory(brand=brand_a, mode='live').secret}")

    answers = [
        client.get(reverse("storefront:order", args=[order.pk])),
        client.get(reverse("storefront:account")),
        client.get(reverse("storefront:rewards")),
        client.get(reverse("storefront:claim", args=[claim_token(earn_moment(brand_a, code).pk)])),
        api.get(f"/api/v1/users/{order.moment.user_id}/moments"),
    ]

    for answer in answers:
        assert "no-store" in answer["Cache-Control"], answer.request["PATH_INFO"]
    assert "no-store" not in client.get("/").get("Cache-Control", "")  # the public home page may be cached
