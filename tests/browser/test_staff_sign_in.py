"""A brand owner's first sign-in with a second factor required, in a real browser (issue 16, point
1): the console sends them to set up an authenticator app, they scan (here: read) the secret, type a
code computed from it, keep their recovery codes, reach the console; next time the code is asked
for after the password. Every page works under the CSP (the `page` fixture fails on a violation)."""

import re
import time

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in_to_console
from tests.factories import MembershipFactory
from tests.tenants.test_staff_sign_in import totp

pytestmark = [pytest.mark.needs("chromium"), pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"


@pytest.fixture
def owner(settings):
    settings.STAFF_MFA_REQUIRED = True
    settings.MFA_TOTP_TOLERANCE = 1  # the second sign-in types the next period's code (a code works once)
    return MembershipFactory(role="owner", brand__name="FitLife").user


def test_an_owner_sets_up_an_authenticator_app_then_signs_in_with_it(page, screenshot, owner):
    sign_in_to_console(page, owner, PASSWORD)

    # allauth asks for the password again before an authenticator is added
    expect(page).to_have_url(re.compile(r"/accounts/reauthenticate/"))
    page.locator("#id_password").fill(PASSWORD)
    page.locator("main").get_by_role("button", name=re.compile("Confirm")).click()
    expect(page).to_have_url(re.compile(r"/accounts/2fa/totp/activate/"))
    expect(page.get_by_role("img", name=re.compile(r"^[A-Z2-7]{16,}$"))).to_be_visible()  # the QR code
    screenshot(page, "staff-mfa-activate")
    secret = page.locator("#authenticator_secret").input_value()
    page.locator("#id_code").fill(totp(secret))
    page.locator("main").get_by_role("button", name="Activate").click()

    expect(page).to_have_url(re.compile(r"/accounts/2fa/recovery-codes/"))
    expect(page.locator("main")).to_contain_text(re.compile(r"\d{8}"))
    screenshot(page, "staff-mfa-recovery-codes")
    page.get_by_role("link", name="Console").click()
    expect(page).to_have_url(re.compile(r"/admin/$"))
    expect(page.get_by_role("link", name="Two-factor authentication")).to_be_visible()
    screenshot(page, "staff-mfa-console")

    page.locator("#logout-form button").click()
    sign_in_to_console(page, owner, PASSWORD)
    expect(page).to_have_url(re.compile(r"/accounts/2fa/authenticate/"))
    screenshot(page, "staff-mfa-authenticate")
    page.locator("#id_code").fill(totp(secret, at=time.time() + 30))
    page.locator("main").get_by_role("button", name=re.compile("sign in", re.IGNORECASE)).click()
    expect(page).to_have_url(re.compile(r"/admin/$"))


def test_a_locked_account_is_told_so_with_a_429(page, screenshot, owner):
    for n in range(5):
        sign_in_to_console(page, owner, f"wrong {n}")
    response_codes = []
    page.on("response", lambda response: response_codes.append(response.status))

    sign_in_to_console(page, owner, PASSWORD)

    expect(page.locator("main")).to_contain_text("Too many failed login attempts")
    assert 429 in response_codes
    screenshot(page, "staff-sign-in-locked")
