"""Accessibility (issue 14, point 10): every storefront page passes axe-core (WCAG 2.1 A and AA
rules, vendored under tests/browser/vendor) with no serious or critical violation, in English,
Korean and Thai — signed out and signed in, through a claim, the store, the account and an error."""

from decimal import Decimal

import pytest
from allauth.account.models import EmailAddress

from rewards.models import Moment
from storefront import services as storefront_services
from storefront.models import Address
from tests.browser.test_storefront import FACTORY_PASSWORD, brand_with_campaign, earn
from tests.factories import StoreItemFactory, UserFactory

pytestmark = [pytest.mark.needs("chromium"), pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("language", ["en", "ko", "th"])
def test_every_storefront_page_passes_axe_in_each_language(
    items,
    page,
    live_server,
    accessibility_violations,
    language,
):
    brand, campaign = brand_with_campaign(items["physical"], items["digital_code"], items["credit"])
    store_item = StoreItemFactory(brand=brand, item=items["physical"], price=Decimal("3.00"))
    user = UserFactory(email=f"a11y-{language}@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    address = Address.objects.create(user=user, full_name="Kim Min-ji", line1="1 Road", city="Seoul", country="KR")
    _key, unclaimed = earn(live_server, campaign, user_id=f"a11y-{language}-1")
    claim = unclaimed["claim_url"].removeprefix(live_server.url)
    _key, claimed = earn(live_server, campaign, user_id=f"a11y-{language}-2")
    order = storefront_services.claim_confirm(
        user=user, moment=Moment.objects.get(pk=claimed["id"]), item=items["physical"], address=address
    )
    page.context.add_cookies([{"name": "django_language", "value": language, "url": live_server.url}])

    signed_out = ["/", claim, "/accounts/login/", "/accounts/signup/", "/accounts/password/reset/", "/nowhere"]
    signed_in = [
        claim,
        f"{claim}/SPEAKER",
        f"{claim}/SPEAKER?address={address.pk}",
        f"{claim}/CARD-10",
        f"/me/orders/{order.pk}",
        "/me/",
        "/me/account",
        f"/store/{brand.slug}",
        f"/store/{brand.slug}/{store_item.pk}",
    ]
    found = {}
    for path in signed_out:
        page.goto(path)
        found[path] = accessibility_violations(page)
    page.goto("/accounts/login/")
    page.locator('input[name="login"]').fill(user.email)
    page.locator('input[name="password"]').fill(FACTORY_PASSWORD)
    page.locator('form[action="/accounts/login/"] button[type="submit"]').click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    for path in signed_in:
        page.goto(path)
        assert page.locator("html").get_attribute("lang") == language
        found[f"{path} (signed in)"] = accessibility_violations(page)

    assert {path: violations for path, violations in found.items() if violations} == {}


def test_the_check_reports_a_violation_when_there_is_one(page, accessibility_violations):
    page.set_content('<html lang="en"><body><main><img src="data:,"><input type="text"></main></body></html>')

    found = accessibility_violations(page)

    assert any(line.startswith("image-alt (critical)") for line in found), found
    assert any(line.startswith("label (critical)") for line in found), found
