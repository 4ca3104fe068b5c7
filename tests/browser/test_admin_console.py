"""The brand console in a real browser: log in, see your brand, issue and revoke a key, switch brands,
send a test event to the brand's webhook endpoint.

Chromium talks to pytest-django's live server, so the data is committed (transactional tests) and
every step goes through the real login form, CSRF, sessions, redirects and templates. Screenshots
of the key pages land in test-artifacts/screenshots/ for a human to look at.
"""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.brand_backend import call_api
from tests.browser.conftest import sign_in_to_console
from tests.factories import ApiKeyFactory, BrandFactory, MembershipFactory, UserFactory
from tests.httpserver import Recorder

pytestmark = [pytest.mark.needs("chromium"), pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"
LIVE_KEY = re.compile(r"^mk_live_[A-Za-z0-9]{40}$")
ANY_KEY = re.compile(r"mk_(live|test)_[A-Za-z0-9]{40}")


def log_in(page, user):
    sign_in_to_console(page, user, PASSWORD)
    expect(page).to_have_url(re.compile(r"/admin/$"))


def badge(page):
    return page.locator("#site-name .brand-badge")


def open_api_keys(page):
    page.locator("#content-main").get_by_role("link", name="API keys", exact=True).click()
    expect(page).to_have_url(re.compile(r"/admin/tenants/apikey/$"))


def test_an_owner_issues_a_live_key_uses_it_and_revokes_it(page, live_server, screenshot):
    own = BrandFactory(slug="alpha-fitness", name="Alpha Fitness")
    other = BrandFactory(slug="beta-news", name="Beta News")
    other_key = ApiKeyFactory(brand=other, name="Beta backend")
    owner = MembershipFactory(brand=own, role="owner").user

    log_in(page, owner)
    expect(badge(page)).to_have_text("Alpha Fitness · owner")
    expect(page.get_by_role("heading", name="Alpha Fitness console")).to_be_visible()
    screenshot(page, "owner-console")

    open_api_keys(page)
    page.get_by_role("link", name="Add API key").click()
    page.get_by_label("Name").fill("Android app backend")
    page.get_by_label("Mode").select_option("live")
    screenshot(page, "api-key-add")
    page.get_by_role("button", name="Create key").click()

    shown = page.locator("#new-api-key")
    expect(shown).to_have_text(LIVE_KEY)
    expect(page.get_by_text("Copy this key now. It will not be shown again.")).to_be_visible()
    expect(page.get_by_text("New live key for Alpha Fitness")).to_be_visible()
    secret = shown.text_content()
    screenshot(page, "api-key-created")

    status, body = call_api(live_server, secret, "me")
    assert status == 200, body
    assert {"brand": body["brand"], "mode": body["mode"]} == {"brand": own.slug, "mode": "live"}
    key_prefix = body["key_prefix"]
    assert secret.startswith(key_prefix)

    page.get_by_role("link", name="I have stored it").click()
    expect(page).to_have_url(re.compile(r"/admin/tenants/apikey/$"))
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Android app backend")
    html = page.content()
    assert secret not in html and not ANY_KEY.search(html)
    assert other_key.prefix not in html and "Beta backend" not in html
    screenshot(page, "api-key-list-owner")

    rows.first.get_by_role("link").first.click()
    expect(page).to_have_url(re.compile(r"/admin/tenants/apikey/[0-9a-f-]+/change/$"))
    assert secret not in page.content()
    page.get_by_role("link", name="Revoke").click()
    expect(page.get_by_text("This cannot be undone.")).to_be_visible()
    expect(page.locator("#content-main li")).to_contain_text(key_prefix)
    screenshot(page, "api-key-revoke-confirm")
    page.get_by_role("button", name="Yes, revoke").click()

    expect(page).to_have_url(re.compile(r"/admin/tenants/apikey/[0-9a-f-]+/change/$"))
    expect(page.locator(".messagelist")).to_contain_text("Revoked 1 key(s).")
    expect(page.locator(".field-status .readonly")).to_have_text("revoked")
    expect(page.get_by_role("link", name="Revoke")).to_have_count(0)
    screenshot(page, "api-key-revoked")

    status, body = call_api(live_server, secret, "me")
    assert status == 401, body
    assert body["error"]["code"] == "api_key_revoked"
    # The other brand's key is untouched.
    assert call_api(live_server, other_key.secret, "me")[0] == 200

    page.goto("/admin/tenants/apikey/")
    html = page.content()
    assert secret not in html and not ANY_KEY.search(html)
    assert other_key.prefix not in html
    assert key_prefix in html


def test_staff_of_two_brands_switch_and_the_console_follows(page, screenshot):
    alpha = BrandFactory(slug="alpha-fitness", name="Alpha Fitness")
    beta = BrandFactory(slug="beta-news", name="Beta News")
    alpha_key = ApiKeyFactory(brand=alpha, name="Alpha backend")
    beta_key = ApiKeyFactory(brand=beta, name="Beta backend")
    user = UserFactory(is_staff=True)
    MembershipFactory(brand=alpha, user=user, role="analyst")
    MembershipFactory(brand=beta, user=user, role="manager")

    log_in(page, user)
    expect(badge(page)).to_have_text("Alpha Fitness · analyst")
    switcher = page.locator("#brand-switch")
    expect(switcher).to_have_value(str(alpha.pk))
    expect(switcher.locator("option")).to_have_text(["Alpha Fitness", "Beta News"])

    open_api_keys(page)
    expect(page.locator("#result_list")).to_contain_text(alpha_key.prefix)
    expect(page.locator("#result_list")).not_to_contain_text(beta_key.prefix)
    expect(page.get_by_role("link", name="Add API key")).to_have_count(0)
    screenshot(page, "api-key-list-analyst")

    switcher.select_option(label="Beta News")
    page.get_by_role("button", name="Switch").click()
    expect(page).to_have_url(re.compile(r"/admin/$"))
    expect(page.locator(".messagelist")).to_contain_text("Now working in Beta News.")
    expect(badge(page)).to_have_text("Beta News · manager")
    expect(page.locator("#brand-switch")).to_have_value(str(beta.pk))
    screenshot(page, "switched-to-beta")

    open_api_keys(page)
    expect(page.locator("#result_list")).to_contain_text(beta_key.prefix)
    expect(page.locator("#result_list")).not_to_contain_text(alpha_key.prefix)
    expect(page.get_by_role("link", name="Add API key")).to_be_visible()
    screenshot(page, "api-key-list-manager")

    # And back: the analyst's read-only view of Alpha again.
    page.locator("#brand-switch").select_option(label="Alpha Fitness")
    page.get_by_role("button", name="Switch").click()
    expect(badge(page)).to_have_text("Alpha Fitness · analyst")
    open_api_keys(page)
    expect(page.locator("#result_list")).to_contain_text(alpha_key.prefix)
    expect(page.locator("#result_list")).not_to_contain_text(beta_key.prefix)
    expect(page.get_by_role("link", name="Add API key")).to_have_count(0)


def test_the_operator_sees_every_brand_and_filters_keys_by_brand(page, screenshot):
    alpha = BrandFactory(slug="alpha-fitness", name="Alpha Fitness")
    beta = BrandFactory(slug="beta-news", name="Beta News")
    alpha_key = ApiKeyFactory(brand=alpha, name="Alpha backend")
    beta_key = ApiKeyFactory(brand=beta, name="Beta backend")
    operator = UserFactory(is_staff=True, is_superuser=True)

    log_in(page, operator)
    expect(badge(page)).to_have_text("Operator")
    expect(page.locator("#brand-switch")).to_have_count(0)
    expect(page.get_by_role("heading", name="Operator console")).to_be_visible()
    screenshot(page, "operator-console")

    page.locator("#content-main").get_by_role("link", name="Brands", exact=True).click()
    results = page.locator("#result_list")
    expect(results).to_contain_text("Alpha Fitness")
    expect(results).to_contain_text("Beta News")
    screenshot(page, "operator-brand-list")

    page.goto("/admin/tenants/apikey/")
    filters = page.locator("#changelist-filter")
    expect(filters).to_contain_text("By brand")
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
    screenshot(page, "operator-api-key-list")

    filters.locator("details[data-filter-title='brand']").get_by_role("link", name="Beta News").click()
    expect(page).to_have_url(re.compile(rf"brand__id__exact={beta.pk}"))
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    expect(page.locator("#result_list")).to_contain_text(beta_key.prefix)
    expect(page.locator("#result_list")).not_to_contain_text(alpha_key.prefix)


def test_an_owner_sends_a_test_event_and_reads_what_went_out_and_what_came_back(page, live_server, screenshot):
    receiver = Recorder(lambda request: (202, {"received": "thanks"}))
    try:
        brand = BrandFactory(slug="alpha-fitness", name="Alpha Fitness", webhook_url=receiver.url)
        owner = MembershipFactory(brand=brand, role="owner").user

        log_in(page, owner)
        page.goto("/admin/rewards/webhookdelivery/")
        page.get_by_role("link", name="Send a test event").click()
        page.get_by_label("Event type").select_option("order.fulfilled")
        screenshot(page, "webhook-test-form")
        page.get_by_role("button", name="Send").click()

        expect(page).to_have_url(re.compile(r"/admin/rewards/webhookdelivery/[0-9a-f-]+/change/$"))
        expect(page.get_by_text("Test event sent")).to_be_visible()
        [request] = receiver.requests
        event_id = request["headers"]["webhook-id"]
        attempt = page.locator("pre.webhook-attempt")
        expect(attempt.first).to_contain_text(f"POST {receiver.url}")
        expect(attempt.first).to_contain_text(f"webhook-id: {event_id}")
        expect(attempt.first).to_contain_text('"sample":true')
        expect(attempt.nth(1)).to_have_text('{"received": "thanks"}')
        expect(page.locator(".field-last_status_code .readonly")).to_have_text("202")
        screenshot(page, "webhook-test-delivery")
    finally:
        receiver.close()
