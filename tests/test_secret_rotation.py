"""Rotating secrets without downtime (platform/DEPLOY.md, "Rotating secrets"): SECRET_KEY through
SECRET_KEY_FALLBACKS, and a brand's API keys by overlap. The webhook signing secret's overlap (both
secrets sign for a day) is tested in tests/rewards/test_webhooks.py and test_webhook_attempts.py."""

from pathlib import Path

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.core import signing
from django.test import Client, override_settings

from tenants import services
from tests.factories import ApiKeyFactory
from tests.subprocesses import printed_by_production_settings

ROOT = Path(__file__).resolve().parent.parent
OLD, NEW = "the-old-secret-key-" + "o" * 40, "the-new-secret-key-" + "n" * 40


def test_secret_key_fallbacks_come_from_the_environment():
    def fallbacks(**extra):
        return printed_by_production_settings(
            "s.SECRET_KEY_FALLBACKS", {"DEBUG": "true", **extra}, drop={"SECRET_KEY_FALLBACKS"}
        )

    assert fallbacks() == "[]"
    assert fallbacks(SECRET_KEY=NEW, SECRET_KEY_FALLBACKS=f"{OLD},older") == f"['{OLD}', 'older']"


@pytest.mark.django_db
def test_after_a_rotation_sessions_and_signed_links_made_under_the_old_key_stay_valid_while_it_is_a_fallback(
    operator,
):
    active, idle = Client(), Client()  # two browsers signed in before the rotation
    with override_settings(SECRET_KEY=OLD, SECRET_KEY_FALLBACKS=[]):
        for browser in (active, idle):
            browser.force_login(operator)  # the session's auth hash is an HMAC under the key
        signed = signing.dumps({"email": operator.email})  # as allauth's and Django's signed links
        reset_token = default_token_generator.make_token(operator)  # a password-reset link
        assert active.get("/admin/").status_code == 200

    with override_settings(SECRET_KEY=NEW, SECRET_KEY_FALLBACKS=[OLD]):
        assert active.get("/admin/").status_code == 200  # still signed in (its session re-signed)
        assert signing.loads(signed) == {"email": operator.email}
        assert default_token_generator.check_token(operator, reset_token)

    with override_settings(SECRET_KEY=NEW, SECRET_KEY_FALLBACKS=[]):  # the old key dropped
        assert active.get("/admin/").status_code == 200  # it came by during the overlap
        assert idle.get("/admin/").status_code == 302  # it did not: signed out, to the sign-in page
        with pytest.raises(signing.BadSignature):
            signing.loads(signed)
        assert not default_token_generator.check_token(operator, reset_token)


@pytest.mark.django_db
def test_an_api_key_is_rotated_by_overlap_then_the_old_one_stops_at_once(
    brand_a, client, django_capture_on_commit_callbacks
):
    old = ApiKeyFactory(brand=brand_a, mode="live")
    new = ApiKeyFactory(brand=brand_a, mode="live")  # issued while the old one still serves

    def me(key):
        return client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {key.secret}").status_code

    assert (me(old), me(new)) == (200, 200)  # both work: the brand's backends move to the new one
    with django_capture_on_commit_callbacks(execute=True):
        services.api_key_revoke(api_key=old, actor=None)
    assert (me(old), me(new)) == (401, 200)  # the cached copy was overwritten on commit
