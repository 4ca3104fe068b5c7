"""The claim flow through the real views: earn by API, sign up, verify, claim, choose, ship, order."""

import re
import uuid
from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse
from rest_framework.test import APIClient

from rewards.catalog.selectors import platform_policy_changed
from rewards.models import BrandSpend, DigitalCode, Donation, LedgerEntry, Moment, Order, PlatformPolicy, Wallet
from rewards.orders.moves import order_move
from storefront.models import Address, BrandLink
from tenants.models import User
from tests.factories import ApiKeyFactory, CampaignFactory, CatalogItemFactory

pytestmark = pytest.mark.django_db

PASSWORD = "a long enough passphrase 42"


def earn(brand, campaign, user_id="app-user-1", mode="live"):
    """A moment earned through the public API; returns its claim path."""
    key = ApiKeyFactory(brand=brand, mode=mode)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key.secret}")
    body = api.post(
        "/api/v1/events",
        {"event_id": f"evt-{user_id}-{campaign.slug}", "user_id": user_id, "action": campaign.action},
        format="json",
    ).json()
    url = body["moments"][0]["claim_url"]
    return url[url.index("/claim/") :]


def sign_up_and_verify(client, email, next_path):
    """allauth's real sign-up, then the link from the email (POSTed, as the confirm page does)."""
    response = client.post(
        reverse("account_signup") + f"?next={next_path}",
        {"email": email, "password1": PASSWORD, "password2": PASSWORD, "next": next_path},
    )
    assert response.status_code == 302
    link = re.search(r"https?://[^\s]+/accounts/confirm-email/[^\s]+/", mail.outbox[-1].body).group(0)
    path = link[link.index("/accounts/") :]
    return client.post(path, follow=True)


@pytest.fixture
def credit_campaign(brand_a):
    item = CatalogItemFactory(sku="CREDIT-5", kind="credit", value=Decimal("5.00"), cost=Decimal("5.00"))
    return CampaignFactory(brand=brand_a, threshold=Decimal("1"), rewards=[item.sku], active=True)


def test_signed_out_the_claim_page_shows_the_brand_and_the_reward_and_asks_to_sign_in(brand_a, credit_campaign, client):
    path = earn(brand_a, credit_campaign)

    page = client.get(path).content.decode()

    assert "Alpha Fitness" in page and credit_campaign.name in page  # who, and why
    assert credit_campaign.rewards.get().name in page  # what
    assert f"--brand: {brand_a.primary_colour}" in page  # in the brand's colour
    assert reverse("account_signup") in page and reverse("account_login") in page


def test_sign_up_verify_and_come_straight_back_then_claim_credit(
    brand_a, credit_campaign, client, django_capture_on_commit_callbacks
):
    path = earn(brand_a, credit_campaign)
    client.get(path)

    landed = sign_up_and_verify(client, "minji@example.com", path)

    # back at the claim, which, with one reward, goes straight to the review
    assert landed.redirect_chain[-1][0].startswith(path)
    assert "Confirm your reward" in landed.content.decode()
    with django_capture_on_commit_callbacks(execute=True):  # the fulfilment task, queued on commit
        placed = client.post(reverse("storefront:claim-confirm", args=[path.split("/")[-1], "CREDIT-5"]))
    order = Order.objects.get()
    assert placed["Location"] == reverse("storefront:order", args=[order.pk])
    order_page = client.get(placed["Location"])
    assert order.status == "fulfilled"  # fulfilled in-process by the eager task
    assert Wallet.objects.get(user=order.user, brand=brand_a).balance == Decimal("5.00")
    moment = Moment.objects.get()
    assert (moment.status, moment.account) == ("fulfilled", order.user)
    assert BrandLink.objects.get().brand_user_id == "app-user-1"
    assert "5.00 of credit" in order_page.content.decode()


def test_the_link_works_once(brand_a, credit_campaign, client):
    path = earn(brand_a, credit_campaign)
    sign_up_and_verify(client, "minji@example.com", path)
    token = path.split("/")[-1]
    client.post(reverse("storefront:claim-confirm", args=[token, "CREDIT-5"]))

    again = client.post(reverse("storefront:claim-confirm", args=[token, "CREDIT-5"]))

    assert again.status_code in (302, 410)
    assert Order.objects.count() == 1


def test_a_second_account_presenting_the_same_brand_user_is_refused_with_an_explanation(brand_a, client):
    item = CatalogItemFactory(sku="CREDIT-5", kind="credit", value=Decimal("5.00"))
    first = CampaignFactory(
        brand=brand_a, slug="first", action="first_action", threshold=Decimal("1"), rewards=[item.sku], active=True
    )
    second = CampaignFactory(
        brand=brand_a, slug="second", action="second_action", threshold=Decimal("1"), rewards=[item.sku], active=True
    )
    first_path, second_path = earn(brand_a, first), earn(brand_a, second)
    sign_up_and_verify(client, "one@example.com", first_path)
    client.post(reverse("storefront:claim-confirm", args=[first_path.split("/")[-1], "CREDIT-5"]))
    client.logout()

    sign_up_and_verify(client, "two@example.com", second_path)
    page = client.get(second_path, follow=True)

    assert page.status_code == 403
    assert "already linked to another Moments account" in page.content.decode()
    refused = client.post(reverse("storefront:claim-confirm", args=[second_path.split("/")[-1], "CREDIT-5"]))
    assert refused.status_code == 409
    assert Order.objects.count() == 1


def test_a_choice_among_rewards_then_an_address_then_the_parcel(brand_a, client, django_capture_on_commit_callbacks):
    speaker = CatalogItemFactory(sku="SPEAKER", kind="physical", value=Decimal("20.00"), countries=["KR", "TH"])
    card = CatalogItemFactory(sku="CARD-10", kind="digital_code")
    campaign = CampaignFactory(brand=brand_a, threshold=Decimal("1"), rewards=[speaker.sku, card.sku], active=True)
    path = earn(brand_a, campaign)
    sign_up_and_verify(client, "ship@example.com", path)
    token = path.split("/")[-1]

    choices = client.get(path).content.decode()
    assert "Choose your reward" in choices and speaker.name in choices and card.name in choices
    address_page = client.get(reverse("storefront:claim-item", args=[token, "SPEAKER"]))
    assert "Where should we send it?" in address_page.content.decode()
    saved = client.post(
        reverse("storefront:claim-item", args=[token, "SPEAKER"]),
        {"full_name": "Kim Min-ji", "line1": "12 Teheran-ro", "city": "Seoul", "postal_code": "06234", "country": "KR"},
    )
    review = client.get(saved["Location"])
    assert "Confirm your reward" in review.content.decode()
    address_id = saved["Location"].split("address=")[1]
    client.post(reverse("storefront:claim-confirm", args=[token, "SPEAKER"]), {"address": address_id})

    order = Order.objects.get()
    assert order.status == "placed" and order.shipping_address["city"] == "Seoul"
    speaker.refresh_from_db()
    assert speaker.stock == 99  # reserved when the order was placed
    with django_capture_on_commit_callbacks(execute=True):
        order_move(order=order, to="shipped", carrier="Korea Post", tracking_number="KP123456789KR")
    shipped = mail.outbox[-1]
    assert "on its way" in shipped.subject and "KP123456789KR" in shipped.body
    tracking_page = client.get(reverse("storefront:order", args=[order.pk])).content.decode()
    assert "Korea Post" in tracking_page and "KP123456789KR" in tracking_page
    fee = LedgerEntry.objects.get(kind="shipping_fee")
    assert fee.amount == PlatformPolicy.objects.get().shipping_fee == order.shipping_fee
    assert BrandSpend.objects.get().spent == campaign.cpa  # the fee is billed, outside the CPA caps


@pytest.mark.parametrize(
    "exclude, reason",
    [
        ("item", "Speaker cannot be delivered to this country."),
        ("campaign", "Rewards cannot be sent to this country."),
        ("platform", "Rewards cannot be sent to this country."),
    ],
)
def test_a_country_that_cannot_be_served_is_refused_where_the_address_is_entered(brand_a, client, exclude, reason):
    speaker = CatalogItemFactory(
        sku="SPEAKER", name="Speaker", kind="physical", countries=["KR"] if exclude == "item" else []
    )
    campaign = CampaignFactory(
        brand=brand_a,
        threshold=Decimal("1"),
        rewards=[speaker.sku],
        active=True,
        excluded_countries=["TH"] if exclude == "campaign" else [],
    )
    if exclude == "platform":
        policy = PlatformPolicy.objects.get()
        policy.excluded_countries = ["TH"]
        policy.save()
        platform_policy_changed()  # as the operator's admin does on save
    path = earn(brand_a, campaign)
    sign_up_and_verify(client, "far@example.com", path)
    token = path.split("/")[-1]
    step = reverse("storefront:claim-item", args=[token, "SPEAKER"])

    refused = client.post(step, {"full_name": "Somchai", "line1": "1 Sukhumvit", "city": "Bangkok", "country": "TH"})
    forced = client.post(reverse("storefront:claim-confirm", args=[token, "SPEAKER"]), {"address": str(uuid.uuid4())})

    page = refused.content.decode()
    assert refused.status_code == 400 and reason in page and "Where should we send it?" in page
    assert not Address.objects.exists()  # nothing saved for a country it cannot go to
    assert forced.status_code == 404 and not Order.objects.exists()


def test_a_saved_address_the_item_cannot_reach_is_shown_with_the_reason_and_not_offered(brand_a, client):
    speaker = CatalogItemFactory(sku="SPEAKER", name="Speaker", kind="physical", countries=["KR"])
    campaign = CampaignFactory(brand=brand_a, threshold=Decimal("1"), rewards=[speaker.sku], active=True)
    path = earn(brand_a, campaign)
    sign_up_and_verify(client, "two-homes@example.com", path)
    user = User.objects.get(email="two-homes@example.com")
    bangkok = Address.objects.create(user=user, full_name="Somchai", line1="1 Sukhumvit", city="Bangkok", country="TH")
    seoul = Address.objects.create(
        user=user,
        full_name="Kim Min-ji",
        line1="12 Teheran-ro",
        city="Seoul",
        region="Gangnam-gu",
        postal_code="06234",
        country="KR",
    )
    token = path.split("/")[-1]

    page = client.get(reverse("storefront:claim-item", args=[token, "SPEAKER"])).content.decode()
    review = client.get(reverse("storefront:claim-item", args=[token, "SPEAKER"]) + f"?address={seoul.pk}")
    forced = client.get(reverse("storefront:claim-item", args=[token, "SPEAKER"]) + f"?address={bangkok.pk}")

    assert f'value="{bangkok.pk}" disabled aria-describedby="refusal-{bangkok.pk}"' in page
    assert "Speaker cannot be delivered to this country." in page
    assert f'value="{seoul.pk}" checked' in page
    # The review shows the whole address, as the parcel's label will carry it.
    assert "Kim Min-ji, 12 Teheran-ro, Seoul, Gangnam-gu 06234, South Korea" in review.content.decode()
    forced_page = forced.content.decode()
    assert "cannot be delivered to this country" in forced_page and "Confirm</button>" not in forced_page


def test_no_fee_for_free_shipping_members_or_items_worth_enough(brand_a, client):
    cheap = CatalogItemFactory(sku="CHEAP", kind="physical", value=Decimal("10.00"))
    campaign = CampaignFactory(brand=brand_a, threshold=Decimal("1"), rewards=[cheap.sku], active=True)
    path = earn(brand_a, campaign)
    sign_up_and_verify(client, "prime@example.com", path)
    User.objects.filter(email="prime@example.com").update(free_shipping_member=True)
    token = path.split("/")[-1]
    saved = client.post(
        reverse("storefront:claim-item", args=[token, "CHEAP"]),
        {"full_name": "Kim", "line1": "1 Road", "city": "Seoul", "country": "KR"},
    )
    client.post(
        reverse("storefront:claim-confirm", args=[token, "CHEAP"]), {"address": saved["Location"].split("address=")[1]}
    )

    assert Order.objects.get().shipping_fee == Decimal("0.00")
    assert not LedgerEntry.objects.filter(kind="shipping_fee").exists()


def test_a_digital_code_is_revealed_on_the_order_page_once_fulfilled(
    brand_a, client, django_capture_on_commit_callbacks
):
    card = CatalogItemFactory(sku="CARD-10", kind="digital_code")
    DigitalCode.objects.create(item=card, code="GIFT-AAAA-BBBB")
    campaign = CampaignFactory(brand=brand_a, threshold=Decimal("1"), rewards=[card.sku], active=True)
    path = earn(brand_a, campaign)
    sign_up_and_verify(client, "code@example.com", path)

    with django_capture_on_commit_callbacks(execute=True):
        placed = client.post(reverse("storefront:claim-confirm", args=[path.split("/")[-1], "CARD-10"]))
    page = client.get(placed["Location"])

    assert "GIFT-AAAA-BBBB" in page.content.decode()
    assert DigitalCode.objects.get().order == Order.objects.get()
    ready = mail.outbox[-1]
    assert ready.to == ["code@example.com"] and "is ready" in ready.subject
    assert placed["Location"] in ready.body and "GIFT-AAAA-BBBB" not in ready.body  # a link, never the code


def test_a_chosen_donation_gets_a_receipt(brand_a, client, django_capture_on_commit_callbacks):
    gift = CatalogItemFactory(sku="DONATE-1", kind="donation", value=Decimal("1.00"))
    credit = CatalogItemFactory(sku="CREDIT-1", kind="credit", value=Decimal("1.00"))
    campaign = CampaignFactory(brand=brand_a, threshold=Decimal("1"), rewards=[gift.sku, credit.sku], active=True)
    path = earn(brand_a, campaign)
    sign_up_and_verify(client, "give@example.com", path)

    with django_capture_on_commit_callbacks(execute=True):
        placed = client.post(reverse("storefront:claim-confirm", args=[path.split("/")[-1], "DONATE-1"]))
    page = client.get(placed["Location"]).content.decode()

    assert "Donation receipt" in page and gift.charity.name in page and "1.00 USD" in page
    assert "Your donation is on its way to the charity." in page and "Your reward is on its way" not in page
    assert Donation.objects.get().amount == Decimal("1.00")


@pytest.mark.parametrize("state", ["expired", "cancelled"])
def test_expired_and_cancelled_links_get_a_clear_page(brand_a, credit_campaign, client, state):
    path = earn(brand_a, credit_campaign)
    moment = Moment.objects.get()
    if state == "expired":
        Moment.objects.filter(pk=moment.pk).update(expires_at=moment.earned_at)
    else:
        Moment.objects.filter(pk=moment.pk).update(status="cancelled")

    response = client.get(path)

    assert response.status_code == 410
    assert "This link no longer works" in response.content.decode()


def test_a_forged_or_altered_token_is_a_404(brand_a, credit_campaign, client):
    path = earn(brand_a, credit_campaign)
    altered = path[:-1] + ("A" if path[-1] != "A" else "B")

    assert client.get(altered).status_code == 404
    assert client.get("/claim/not-even-close").status_code == 404
