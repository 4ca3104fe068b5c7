"""The storefront in a real browser: the end user's whole story, from a moment a brand's backend
earned through the public API to the order page, for each kind of reward; the reward store; the
Korean storefront; a phone's screen; a browser without JavaScript.

Chromium talks to pytest-django's live server (same process: the locmem outbox holds the emails it
sends, Celery runs eager). The moment is earned over real HTTP with a brand's API key, the claim URL
is the one the API answered, and the account is made with allauth's real sign-up form and verified
with the link read from the email. Screenshots land in test-artifacts/screenshots/storefront-*.png.
"""

import re
from decimal import Decimal

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.utils import translation
from django.utils.translation import gettext
from playwright.sync_api import expect

from rewards.models import DigitalCode, Moment, Order, Wallet
from storefront import services as storefront_services
from storefront.models import Address
from tests.browser.brand_backend import call_api
from tests.factories import (
    ApiKeyFactory,
    BrandFactory,
    CampaignFactory,
    CatalogItemFactory,
    StoreItemFactory,
    UserFactory,
)

pytestmark = [pytest.mark.needs("chromium"), pytest.mark.django_db(transaction=True)]

PASSWORD = "a long enough passphrase 42"
FACTORY_PASSWORD = "correct horse battery staple"
BRAND_COLOUR = "#0b7a4b"  # a brand's own colour, not the storefront's default blue
BRAND_RGB = "rgb(11, 122, 75)"
PHONE = {"width": 390, "height": 844}


# --- Helpers ----------------------------------------------------------------------------------


def earn(live_server, campaign, user_id):
    """The brand's backend reports the action; the moment it earns comes back with its claim URL."""
    key = ApiKeyFactory(brand=campaign.brand, mode="live")
    status, body = call_api(
        live_server, key.secret, "events", {"event_id": f"evt-{user_id}", "user_id": user_id, "action": campaign.action}
    )
    assert status == 201, body
    [moment] = body["moments"]
    assert (moment["campaign"], moment["user_id"], moment["status"]) == (campaign.slug, user_id, "earned")
    assert moment["claim_url"].startswith(f"{live_server.url}/claim/")
    return key, moment


def brand_with_campaign(*rewards, slug="fitpulse", name="FitPulse"):
    brand = BrandFactory(slug=slug, name=name, primary_colour=BRAND_COLOUR)
    campaign = CampaignFactory(
        brand=brand,
        slug="thirty-workouts",
        name="30 workouts done",
        threshold=Decimal("1"),
        rewards=[item.sku for item in rewards],
        active=True,
    )
    return brand, campaign


def field(page, label):
    """A form field by its label's exact text (Django's forms end labels with a colon)."""
    return page.get_by_label(re.compile(rf"^{re.escape(label)}:?$"))


def no_horizontal_scroll(page):
    """The page is laid out for the phone's width (the viewport meta tag) and nothing sticks out."""
    content, viewport = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert viewport == PHONE["width"], f"{page.url}: laid out {viewport}px wide, not for the phone's screen"
    assert content <= viewport, f"{page.url}: content {content}px wide in a {viewport}px viewport"


def expect_brand_colour(page):
    expect(page.locator(".card.branded")).to_have_css("border-top-color", BRAND_RGB)
    expect(page.locator(".brand-mark")).to_have_css("background-color", BRAND_RGB)


def sign_up_and_verify(page, email, claim_url, shot):
    """From the signed-out claim page: allauth's sign-up, the link from the email, back at the claim."""
    page.get_by_role("link", name="Create an account").click()
    expect(page.get_by_role("heading", name="Create an account")).to_be_visible()
    expect(page.get_by_text("you will come straight back to it")).to_be_visible()
    field(page, "Email").fill(email)
    field(page, "Password").fill(PASSWORD)
    field(page, "Password (again)").fill(PASSWORD)
    shot("sign-up")
    sent_before = len(mail.outbox)
    page.get_by_role("button", name="Create account").click()

    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    shot("verification-sent")
    [email_message] = mail.outbox[sent_before:]
    assert email_message.to == [email]
    link = re.search(r"https?://\S+/accounts/confirm-email/\S+/", email_message.body).group(0)
    page.goto(link)
    confirm_card = page.locator(".card")  # in the storefront's look, not allauth's bare page
    expect(confirm_card.get_by_role("heading", name="Confirm Email Address")).to_be_visible()
    expect(confirm_card.get_by_text(email).first).to_be_visible()
    shot("confirm-email")
    confirm_card.get_by_role("button", name="Confirm").click()

    # Signed in by the confirmation, and straight back at the reward.
    expect(page).to_have_url(re.compile(re.escape(claim_url)))
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    assert EmailAddress.objects.get(email=email).verified


def sign_in(page, user, next_path):
    page.goto(f"/accounts/login/?next={next_path}")
    field(page, "Email").fill(user.email)
    field(page, "Password").fill(FACTORY_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def verified_user(email):
    user = UserFactory(email=email)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    return user


# --- The whole story, for each kind of reward -------------------------------------------------


# The reward each story claims, and the other rewards its campaign offers next to it (a choice).
STORIES = {
    "credit": [],  # one reward: no choice step, straight to the review
    "digital_code": ["credit"],
    "physical": ["digital_code"],
    "donation": ["credit", "physical"],
}


@pytest.mark.parametrize("kind", list(STORIES))
def test_a_moment_earned_through_the_api_is_claimed_in_the_browser(kind, items, page, live_server, screenshot):
    chosen = items[kind]
    offered = [chosen] + [items[other] for other in STORIES[kind]]
    brand, campaign = brand_with_campaign(*offered)
    key, moment = earn(live_server, campaign, user_id=f"fp-{kind}")
    claim_url = moment["claim_url"]
    email = f"{kind.replace('_', '-')}@example.com"

    def shot(name):
        screenshot(page, f"storefront-{kind.replace('_', '-')}-{name}")

    # Signed out: who rewards you, for what, and what; then sign up to claim it.
    page.goto(claim_url)
    expect(page.get_by_role("heading", name="You have earned a reward")).to_be_visible()
    expect(page.locator(".brand-name")).to_have_text("FitPulse")
    expect(page.get_by_text("You earned this reward in “30 workouts done”.")).to_be_visible()
    for item in offered:
        expect(page.get_by_text(item.name, exact=True)).to_be_visible()
    expect_brand_colour(page)
    expect(page.get_by_role("link", name="Sign in")).to_have_count(2)  # the header's and the claim's
    shot("claim-signed-out")

    sign_up_and_verify(page, email, claim_url, shot)

    if len(offered) > 1:  # the choice
        expect(page.get_by_role("heading", name="Choose your reward")).to_be_visible()
        for item in offered:
            expect(page.get_by_role("link", name=f"Choose {item.name}")).to_be_visible()
        shot("choice")
        page.get_by_role("link", name=f"Choose {chosen.name}").click()

    if kind == "physical":  # where to send it
        expect(page.get_by_role("heading", name="Where should we send it?")).to_be_visible()
        field(page, "Full name").fill("Kim Min-ji")
        field(page, "Address").fill("12 Teheran-ro")
        field(page, "Address, line 2").fill("Apt 1203")
        field(page, "City").fill("Seoul")
        field(page, "Postal code").fill("06234")
        field(page, "Country").select_option("KR")
        field(page, "Phone").fill("+82 2 555 0100")
        shot("address")
        page.get_by_role("button", name="Save and continue").click()

    # The review, then confirm.
    expect(page.get_by_role("heading", name="Confirm your reward")).to_be_visible()
    review = page.locator(".summary")
    expect(review).to_contain_text(chosen.name)
    expected_on_review = {
        "credit": "your FitPulse reward store wallet",
        "digital_code": "Your code appears on the order page",
        "physical": "Kim Min-ji, 12 Teheran-ro, Apt 1203, Seoul, 06234, South Korea",
        "donation": "Blue Ocean Trust",
    }[kind]
    expect(review).to_contain_text(expected_on_review)
    expect_brand_colour(page)
    shot("review")
    page.get_by_role("button", name="Confirm").click()

    # The order page, in the state its kind reaches at once.
    expect(page).to_have_url(re.compile(r"/me/orders/[0-9a-f-]{36}$"))
    thanks = (
        "Thank you! Your donation is on its way to the charity." if kind == "donation" else "Your reward is on its way."
    )
    expect(page.get_by_role("status")).to_contain_text(thanks)
    expect(page.get_by_role("heading", name=chosen.name, level=1)).to_be_visible()
    expect_brand_colour(page)
    order = Order.objects.get()
    assert (order.user.email, order.item, order.brand) == (email, chosen, brand)
    status = page.locator(".card.branded > p > .status")
    if kind == "credit":
        expect(status).to_have_text("Fulfilled")
        expect(page.get_by_text("5.00 of credit is in your FitPulse wallet.")).to_be_visible()
        assert Wallet.objects.get(user=order.user, brand=brand).balance == Decimal("5.00")
        expect(page.get_by_role("link", name="Visit the reward store")).to_be_visible()
    elif kind == "digital_code":
        expect(status).to_have_text("Fulfilled")
        expect(page.locator("#digital-code")).to_have_text("GIFT-7Q2M-XK4P")
        assert DigitalCode.objects.get().order == order
    elif kind == "physical":
        expect(status).to_have_text("Placed")
        summary = page.locator(".summary")
        expect(summary).to_contain_text("Kim Min-ji, 12 Teheran-ro, Apt 1203, Seoul 06234, South Korea")
        expect(summary).to_contain_text("not shipped yet")
        assert order.shipping_address["country"] == "KR"
        assert Address.objects.get(user=order.user).city == "Seoul"  # kept in the address book
    else:
        expect(status).to_have_text("Fulfilled")
        receipt = page.get_by_role("region", name="Donation receipt")
        expect(receipt).to_contain_text("Blue Ocean Trust")
        expect(receipt).to_contain_text("1.00 USD")
        expect(receipt).to_contain_text("FitPulse")
    expect(page.locator(".timeline li").first).to_contain_text("Placed")
    shot("order")

    # The brand's backend sees the moment taken; the account's rewards list the order.
    assert call_api(live_server, key.secret, f"moments/{moment['id']}")[1]["status"] == (
        "claimed" if kind == "physical" else "fulfilled"
    )
    page.get_by_role("link", name="My rewards").click()
    expect(page.get_by_role("region", name="Orders")).to_contain_text(chosen.name)

    # The link worked once: opened again, it leads to the order, never to a second claim.
    page.goto(claim_url)
    expect(page).to_have_url(re.compile(rf"/me/orders/{order.pk}$"))
    assert Order.objects.count() == 1


# --- The reward store (the telco scenario) ----------------------------------------------------


def test_credit_earned_in_a_challenge_buys_an_item_in_the_reward_store(page, live_server, screenshot):
    brand = BrandFactory(slug="telcoplus", name="TelcoPlus", primary_colour=BRAND_COLOUR)
    challenge_credit = CatalogItemFactory(
        sku="TELCO-CREDIT-10", name="10 credit", kind="credit", value=Decimal("10.00"), cost=Decimal("10.00")
    )
    campaign = CampaignFactory(
        brand=brand,
        slug="predict-the-winner",
        name="Predict the match winner",
        action="match_predicted",
        threshold=Decimal("1"),
        rewards=[challenge_credit.sku],
        active=True,
    )
    scarf = StoreItemFactory(
        brand=brand,
        item=CatalogItemFactory(sku="SCARF", name="Team scarf", kind="physical", value=Decimal("12.00")),
        price=Decimal("6.00"),
    )
    jersey = StoreItemFactory(
        brand=brand,
        item=CatalogItemFactory(sku="JERSEY", name="Team jersey", kind="physical", value=Decimal("60.00")),
        price=Decimal("25.00"),
    )
    user = verified_user("fan@example.com")
    Address.objects.create(user=user, full_name="Somchai Jaidee", line1="1 Sukhumvit Rd", city="Bangkok", country="TH")
    _key, moment = earn(live_server, campaign, user_id="telco-fan-1")
    storefront_services.claim_confirm(  # the challenge's credit, claimed as the story above does it
        user=user, moment=Moment.objects.get(pk=moment["id"]), item=challenge_credit
    )
    assert Wallet.objects.get(user=user, brand=brand).balance == Decimal("10.00")

    sign_in(page, user, "/store/telcoplus")
    expect(page.get_by_role("heading", name="TelcoPlus reward store")).to_be_visible()
    expect(page.locator("#balance")).to_have_text("10.00")
    expect(page.get_by_role("heading", name="Team scarf")).to_be_visible()
    expect(page.get_by_role("heading", name="Team jersey")).to_be_visible()
    # Too dear: said before anything is submitted, with what is missing, and no way to buy it.
    jersey_card = page.get_by_role("listitem").filter(has_text="Team jersey")
    expect(jersey_card).to_contain_text("You need 15.00 more credit.")
    expect(jersey_card.get_by_role("link", name="Get it")).to_have_count(0)
    expect(jersey_card.locator('[aria-disabled="true"]')).to_have_text("Get it")
    screenshot(page, "storefront-store")
    page.goto(f"/store/telcoplus/{jersey.pk}")  # its page, reached by hand: the button is disabled
    expect(page.get_by_role("button", name="Spend 25.00 credit")).to_be_disabled()
    expect(page.locator("#shortfall")).to_have_text("You need 15.00 more credit.")
    screenshot(page, "storefront-store-too-dear")
    assert not Order.objects.filter(store_item=jersey).exists()

    page.get_by_role("link", name="Back to the store").click()
    page.get_by_role("listitem").filter(has_text="Team scarf").get_by_role("link", name="Get it").click()
    expect(page.get_by_role("heading", name="Team scarf")).to_be_visible()
    expect(
        page.get_by_role("group", name="Ship to").get_by_label("Somchai Jaidee, 1 Sukhumvit Rd, Bangkok")
    ).to_be_checked()
    screenshot(page, "storefront-store-checkout")
    page.get_by_role("button", name="Spend 6.00 credit").click()

    expect(page).to_have_url(re.compile(r"/me/orders/[0-9a-f-]{36}$"))
    expect(page.get_by_role("status")).to_contain_text("Thank you! Your order is placed.")
    expect(page.get_by_role("heading", name="Team scarf", level=1)).to_be_visible()
    expect(page.locator(".summary")).to_contain_text("Somchai Jaidee, 1 Sukhumvit Rd, Bangkok, Thailand")
    screenshot(page, "storefront-store-order")
    order = Order.objects.get(store_item=scarf)
    assert (order.user, order.credit_spent, order.status) == (user, Decimal("6.00"), "placed")

    page.goto("/store/telcoplus")
    expect(page.locator("#balance")).to_have_text("4.00")
    expect(page.get_by_role("list", name="What you bought here")).to_contain_text("Team scarf · 6.00 credit")
    screenshot(page, "storefront-store-after")
    assert Wallet.objects.get(user=user, brand=brand).balance == Decimal("4.00")
    page.get_by_role("link", name="My rewards").click()
    expect(page.get_by_role("region", name="Orders")).to_contain_text("Team scarf")
    expect(page.get_by_role("region", name="Orders")).to_contain_text("Bought with credit in the reward store")
    expect(page.get_by_role("region", name="Orders")).to_contain_text("For “Predict the match winner”, earned")
    expect(page.get_by_role("region", name="Credit")).to_contain_text("TelcoPlus 4.00 credit")
    screenshot(page, "storefront-my-rewards")


def test_a_country_the_reward_cannot_reach_is_refused_where_the_address_is_entered(page, live_server, screenshot):
    speaker = CatalogItemFactory(sku="SPEAKER-KR", name="Smart speaker", kind="physical", countries=["KR"])
    _brand, campaign = brand_with_campaign(speaker)
    user = verified_user("two-homes@example.com")
    Address.objects.create(user=user, full_name="Somchai Jaidee", line1="1 Sukhumvit Rd", city="Bangkok", country="TH")
    Address.objects.create(
        user=user,
        full_name="Kim Min-ji",
        line1="12 Teheran-ro",
        city="Seoul",
        region="Gangnam-gu",
        postal_code="06234",
        country="KR",
    )
    _key, moment = earn(live_server, campaign, user_id="fit-9")
    claim_path = moment["claim_url"].removeprefix(live_server.url)

    sign_in(page, user, f"{claim_path}/SPEAKER-KR")
    bangkok = page.get_by_label("Somchai Jaidee, 1 Sukhumvit Rd, Bangkok, Thailand")
    expect(bangkok).to_be_disabled()
    expect(page.locator(".refusal")).to_have_text("Smart speaker cannot be delivered to this country.")
    expect(page.get_by_label("Kim Min-ji, 12 Teheran-ro, Seoul, Gangnam-gu 06234, South Korea")).to_be_checked()
    screenshot(page, "storefront-address-refused-saved")

    field(page, "Full name").fill("Somchai Jaidee")
    field(page, "Address").fill("99 Silom Rd")
    field(page, "City").fill("Bangkok")
    field(page, "Country").select_option("TH")
    page.get_by_role("button", name="Save and continue").click()
    expect(page.get_by_text("Smart speaker cannot be delivered to this country.")).to_have_count(2)
    screenshot(page, "storefront-address-refused-new")

    page.get_by_role("button", name="Send it here").click()
    expect(page.get_by_role("heading", name="Confirm your reward")).to_be_visible()
    expect(page.locator(".summary")).to_contain_text("Kim Min-ji, 12 Teheran-ro, Seoul, Gangnam-gu 06234, South Korea")
    screenshot(page, "storefront-address-review-whole")


# --- Korean, and the language switcher --------------------------------------------------------


def in_language(code, text):
    with translation.override(code):
        return gettext(text)


def test_a_korean_browser_gets_the_korean_storefront_and_can_switch_language(items, new_page, live_server, screenshot):
    _brand, campaign = brand_with_campaign(items["credit"], items["physical"])
    _key, moment = earn(live_server, campaign, user_id="kr-user-1")
    korean = {
        text: in_language("ko", text)
        for text in ["You have earned a reward", "Create an account", "Sign in", "Language", "Change"]
    }
    for english, translated in korean.items():
        assert translated != english, f"no Korean for {english!r} in locale/ko"

    page = new_page(locale="ko-KR")
    page.goto(moment["claim_url"])
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    expect(page.get_by_role("heading", name=korean["You have earned a reward"])).to_be_visible()
    expect(page.get_by_role("link", name=korean["Create an account"])).to_be_visible()
    expect(page.get_by_role("navigation").get_by_role("link", name=korean["Sign in"])).to_be_visible()
    expect(page.get_by_role("heading", name="You have earned a reward")).to_have_count(0)
    screenshot(page, "storefront-korean-claim")

    page.get_by_role("link", name=korean["Create an account"]).click()
    expect(page.get_by_role("heading", name=korean["Create an account"])).to_be_visible()
    screenshot(page, "storefront-korean-sign-up")

    # The switcher: English, on the same page, then it sticks.
    page.get_by_label(korean["Language"]).select_option("en")
    page.get_by_role("button", name=korean["Change"]).click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", name="Create an account")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/accounts/signup/"))
    page.goto(moment["claim_url"])
    expect(page.get_by_role("heading", name="You have earned a reward")).to_be_visible()

    # And Thai, the seed's other language.
    thai = in_language("th", "You have earned a reward")
    assert thai != "You have earned a reward", "no Thai for the claim page's heading in locale/th"
    page.get_by_label("Language").select_option("th")
    page.get_by_role("button", name="Change").click()
    expect(page.locator("html")).to_have_attribute("lang", "th")
    expect(page.get_by_role("heading", name=thai)).to_be_visible()
    screenshot(page, "storefront-thai-claim")


# --- A phone, without JavaScript --------------------------------------------------------------


def test_on_a_phone_without_javascript_a_claim_fits_the_screen_and_completes(items, new_page, live_server, screenshot):
    _brand, campaign = brand_with_campaign(items["physical"], items["digital_code"])
    _key, moment = earn(live_server, campaign, user_id="phone-user-1")
    user = verified_user("phone@example.com")
    page = new_page(viewport=PHONE, is_mobile=True, has_touch=True, java_script_enabled=False)
    claim_path = moment["claim_url"].removeprefix(live_server.url)

    page.goto(claim_path)
    expect(page.get_by_role("heading", name="You have earned a reward")).to_be_visible()
    no_horizontal_scroll(page)
    screenshot(page, "storefront-mobile-claim")

    page.get_by_role("link", name="Sign in").last.click()  # the claim's own, not the header's
    field(page, "Email").fill(user.email)
    field(page, "Password").fill(FACTORY_PASSWORD)
    no_horizontal_scroll(page)
    screenshot(page, "storefront-mobile-sign-in")
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(re.compile(re.escape(claim_path) + "$"))
    expect(page.get_by_role("heading", name="Choose your reward")).to_be_visible()
    no_horizontal_scroll(page)
    screenshot(page, "storefront-mobile-choice")
    page.get_by_role("link", name="Choose Smart speaker").click()

    expect(page.get_by_role("heading", name="Where should we send it?")).to_be_visible()
    field(page, "Full name").fill("Nattaporn Srisuk")
    field(page, "Address").fill("99/1 Thanon Rama IV, Khlong Toei")
    field(page, "City").fill("Bangkok")
    field(page, "Country").select_option("TH")
    no_horizontal_scroll(page)
    screenshot(page, "storefront-mobile-address")
    page.get_by_role("button", name="Save and continue").click()

    expect(page.get_by_role("heading", name="Confirm your reward")).to_be_visible()
    no_horizontal_scroll(page)
    page.get_by_role("button", name="Confirm").click()

    expect(page).to_have_url(re.compile(r"/me/orders/[0-9a-f-]{36}$"))
    expect(page.get_by_role("heading", name="Smart speaker", level=1)).to_be_visible()
    expect(page.locator(".summary")).to_contain_text(
        "Nattaporn Srisuk, 99/1 Thanon Rama IV, Khlong Toei, Bangkok, Thailand"
    )
    no_horizontal_scroll(page)
    screenshot(page, "storefront-mobile-order")
    order = Order.objects.get()
    assert (order.user, order.item.sku, order.shipping_address["country"]) == (user, "SPEAKER", "TH")


@pytest.mark.parametrize("language", ["en", "ko", "th"])
def test_a_forged_claim_link_shows_the_storefronts_404_with_a_way_back(new_page, live_server, screenshot, language):
    page = new_page(locale=language, viewport={"width": 390, "height": 844})

    response = page.goto("/claim/forged-token-that-matches-nothing")

    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text(in_language(language, "This page does not exist"))
    expect(page.get_by_role("link", name=in_language(language, "Go to the home page"))).to_be_visible()
    no_horizontal_scroll(page)
    screenshot(page, f"storefront-404-{language}")
    page.get_by_role("link", name=in_language(language, "Go to the home page")).click()
    expect(page).to_have_url(f"{live_server.url}/")


@pytest.mark.parametrize("language", ["en", "ko", "th"])
def test_on_a_phone_the_header_holds_one_line_and_korean_wraps_between_words(
    items, new_page, live_server, screenshot, language
):
    user = verified_user(f"phone-{language}@example.com")
    page = new_page(viewport={"width": 390, "height": 844})
    sign_in(page, user, "/me/")  # signed in: the longest header (my rewards, account, sign out)
    page.context.add_cookies([{"name": "django_language", "value": language, "url": live_server.url}])
    page.goto("/me/")
    expect(page.locator("html")).to_have_attribute("lang", language)

    header = page.locator(".site-header").bounding_box()
    tops = page.locator(".site-header .site-name, .site-header .nav li").evaluate_all(
        "items => items.map(item => Math.round(item.getBoundingClientRect().top))"
    )
    assert max(tops) - min(tops) <= 8 and header["height"] <= 72, (tops, header)
    no_horizontal_scroll(page)
    word_break = page.locator("main").evaluate("main => getComputedStyle(main).wordBreak")
    assert word_break == ("keep-all" if language == "ko" else "normal")
    expect(page.get_by_label(in_language(language, "Language"))).to_be_visible()  # now in the footer
    screenshot(page, f"storefront-phone-header-{language}")
