"""The end user's account (issue 5, point 5), through the real views: "My rewards" across brands,
the address book (and its use at a claim), unlinking a brand, the JSON export, deleting the
account; and the verified-email gate before anything is redeemed."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from allauth.account.models import EmailAddress
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.timezone import localtime

from rewards.models import Donation, LedgerEntry, Moment, Order, Wallet, WalletEntry
from rewards.moments.claims import claim_token
from rewards.orders.moves import order_move
from storefront.models import Address, BrandLink
from tenants.models import User
from tests.factories import AddressFactory, CatalogItemFactory, CharityFactory, UserFactory
from tests.storefront.conftest import ADDRESS, PASSWORD, earn_moment, give_credit, placed_order, verified

pytestmark = pytest.mark.django_db


def text(response) -> str:
    return response.content.decode()


@pytest.fixture
def history(brand_a, brand_b):
    """An account that is a customer of two brands: a parcel on its way and a moment still to claim
    at A (plus a test-mode moment, which is the brand's business); credit and an expired moment at B."""
    user = verified(email="collector@example.com")
    speaker = CatalogItemFactory(sku="SPEAKER", name="Smart Speaker", kind="physical", value=Decimal("20.00"))
    parcel = placed_order(brand_a, speaker, user=user, user_id="alpha-7")
    order_move(order=parcel, to="shipped", note="left the warehouse", carrier="Korea Post", tracking_number="KP1KR")
    give_credit(user, brand_b, Decimal("5.00"))
    beta_user = BrandLink.objects.get(user=user, brand=brand_b).brand_user_id
    card = CatalogItemFactory(sku="CARD-10", name="Gift Card", kind="digital_code")
    to_claim = earn_moment(brand_a, card, user_id="alpha-7", name="Reach level 15")
    sandbox = earn_moment(brand_a, card, user_id="alpha-7", mode="test", name="Sandbox campaign")
    expired = earn_moment(brand_b, card, user_id=beta_user, name="Stream 10 hours")
    Moment.objects.filter(pk=expired.pk).update(status="expired")
    return {
        "user": user,
        "parcel": Order.objects.get(pk=parcel.pk),
        "credit": Order.objects.get(brand=brand_b),
        "to_claim": to_claim,
        "sandbox": sandbox,
        "expired": expired,
    }


# --- My rewards -------------------------------------------------------------------------------


def test_my_rewards_lists_every_order_and_moment_across_brands_with_status_and_tracking(history, client):
    client.force_login(history["user"])

    page = text(client.get(reverse("storefront:rewards")))

    parcel, credit = history["parcel"], history["credit"]
    orders = page[page.index('id="orders-title"') : page.index('id="moments-title"')]
    moments = page[page.index('id="moments-title"') :]
    for order, brand, status in [(parcel, "Alpha Fitness", "Shipped"), (credit, "Beta News", "Fulfilled")]:
        card = orders[orders.index(reverse("storefront:order", args=[order.pk])) :]
        card = card[: card.index("</li>")]
        assert order.item.name in card and brand in card and f"status-{order.status}" in card and status in card
    assert "Korea Post KP1KR" in orders
    assert orders.index(credit.item.name) < orders.index("Smart Speaker")  # newest first
    to_claim = page[page.index('id="to-claim-title"') : page.index('id="orders-title"')]
    claim_by = date_format(localtime(history["to_claim"].expires_at), "DATE_FORMAT")
    assert "Reach level 15" in to_claim and f"Claim by {claim_by}" in to_claim and "Claim it" in to_claim  # at A
    assert "Reach level 15" not in moments
    assert "Stream 10 hours" in moments and "Expired" in moments  # at B
    assert "Sandbox campaign" not in page  # a test-mode moment is not a customer's reward
    assert "5.00" in page[page.index('id="wallets-title"') :]


def test_my_rewards_names_where_each_order_came_from(history, client):
    client.force_login(history["user"])

    page = text(client.get(reverse("storefront:rewards")))

    parcel = history["parcel"]
    card = page[page.index(reverse("storefront:order", args=[parcel.pk])) :]
    card = card[: card.index("</li>")]
    earned = date_format(localtime(parcel.moment.earned_at), "DATE_FORMAT")
    assert f"For “{parcel.moment.campaign.name}”, earned {earned}" in card
    credit = page[page.index(reverse("storefront:order", args=[history["credit"].pk])) :]
    assert "For “" in credit[: credit.index("</li>")]  # the credit came from a claimed moment too


def test_my_rewards_totals_the_donations_per_brand_and_charity_and_lists_claims_newest_first(history, brand_b, client):
    user = history["user"]
    beta_user = BrandLink.objects.get(user=user, brand=brand_b).brand_user_id
    ocean = CatalogItemFactory(
        kind="donation", value=Decimal("1.00"), cost=Decimal("1.00"), charity=CharityFactory(name="Ocean Fund")
    )
    for _ in range(3):  # given at once, no claim: each a moment with its donation
        earn_moment(brand_b, ocean, user_id=beta_user, name="Stream an hour")
    card = CatalogItemFactory(kind="digital_code")
    older = earn_moment(brand_b, card, user_id=beta_user, name="Older challenge")
    newer = earn_moment(brand_b, card, user_id=beta_user, name="Newer challenge")
    Moment.objects.filter(pk=older.pk).update(earned_at=newer.earned_at - timedelta(days=2))
    client.force_login(user)

    page = text(client.get(reverse("storefront:rewards")))

    donations = page[page.index('id="donations-title"') : page.index('id="moments-title"')]
    assert "You gave 3.00 USD to Ocean Fund" in donations and "3 gifts through Beta News" in donations
    assert "Stream an hour" not in page  # the gifts are the total, not three lines
    to_claim = page[page.index('id="to-claim-title"') : page.index('id="orders-title"')]
    assert to_claim.index("Newer challenge") < to_claim.index("Reach level 15") < to_claim.index("Older challenge")
    assert Donation.objects.filter(moment__user_id=beta_user).count() == 3


def test_each_order_on_my_rewards_carries_its_timeline_without_a_query_per_order(
    history, client, django_assert_max_num_queries
):
    client.force_login(history["user"])
    for extra in range(3):  # more orders must not mean more queries
        give_credit(history["user"], history["parcel"].brand, Decimal("1.00") + extra)

    with django_assert_max_num_queries(9):  # the donations' totals are one query, whatever their number
        page = text(client.get(reverse("storefront:rewards")))

    orders = page[page.index('id="orders-title"') : page.index('id="moments-title"')]
    assert orders.count("<summary>Timeline</summary>") == Order.objects.filter(user=history["user"]).count() == 5
    assert "left the warehouse" in orders and "status-shipped" in orders


def test_a_moment_still_to_claim_can_be_claimed_from_my_rewards_and_an_expired_one_cannot(history, client):
    client.force_login(history["user"])

    page = text(client.get(reverse("storefront:rewards")))

    assert page.count(">Claim it</a>") == 1
    claim_path = reverse("storefront:claim", args=[claim_token(history["to_claim"].pk)])
    assert f'href="{claim_path}"' in page
    assert claim_token(history["expired"].pk) not in page
    assert client.get(claim_path, follow=True).status_code == 200  # on to the reward it offers


def test_an_orders_page_shows_its_timeline_carrier_and_tracking_number(history, client):
    client.force_login(history["user"])

    page = text(client.get(reverse("storefront:order", args=[history["parcel"].pk])))

    timeline = page[page.index('<ol class="timeline">') :]
    assert timeline.index("Placed") < timeline.index("Shipped") < timeline.index("left the warehouse")
    assert timeline.count("<time datetime=") == 2
    assert "Korea Post" in page and "KP1KR" in page and "Alpha Fitness" in page


# --- The address book -------------------------------------------------------------------------


def test_addresses_are_added_edited_and_removed_from_the_account_page(client):
    user = verified(email="mover@example.com")
    client.force_login(user)

    form = text(client.get(reverse("storefront:address-new")))
    added = client.post(reverse("storefront:address-new"), ADDRESS)
    address = Address.objects.get(user=user)
    edited = client.post(reverse("storefront:address-edit", args=[address.pk]), {**ADDRESS, "city": "Busan"})
    account = text(client.get(reverse("storefront:account")))
    removed = client.post(reverse("storefront:address-delete", args=[address.pk]), follow=True)

    assert '<option value="KR">South Korea</option>' in form  # django-countries' list
    assert added["Location"] == edited["Location"] == reverse("storefront:account")
    assert "Kim Min-ji, 12 Teheran-ro, Busan, South Korea" in account
    assert reverse("storefront:address-edit", args=[address.pk]) in account
    assert "Address removed." in text(removed) and not Address.objects.filter(user=user).exists()


@pytest.mark.parametrize(
    "change, error",
    [
        ({"country": "XX"}, "Select a valid choice"),
        ({"country": ""}, "This field is required"),
        ({"city": ""}, "This field is required"),
        ({"line1": "12 Teheran-ro\r\nBcc: someone"}, "Use plain text"),
    ],
)
def test_an_invalid_address_is_refused_and_nothing_is_saved(client, change, error):
    user = verified(email="typo@example.com")
    address = AddressFactory(user=user, city="Seoul")
    client.force_login(user)

    new = client.post(reverse("storefront:address-new"), {**ADDRESS, **change})
    edit = client.post(reverse("storefront:address-edit", args=[address.pk]), {**ADDRESS, "city": "Busan", **change})

    assert (new.status_code, edit.status_code) == (400, 400)
    assert error in text(new) and error in text(edit)
    assert list(Address.objects.filter(user=user).values_list("city", flat=True)) == ["Seoul"]


def test_the_saved_address_book_is_offered_at_a_claim_and_the_order_keeps_its_own_copy(brand_a, client):
    user = verified(email="homebody@example.com")
    client.force_login(user)
    client.post(reverse("storefront:address-new"), {**ADDRESS, "line1": "7 Saved Street"})
    saved = Address.objects.get(user=user)
    speaker = CatalogItemFactory(sku="SPEAKER", kind="physical")
    token = claim_token(earn_moment(brand_a, speaker).pk)

    step = text(client.get(reverse("storefront:claim-item", args=[token, "SPEAKER"])))
    client.post(reverse("storefront:claim-confirm", args=[token, "SPEAKER"]), {"address": str(saved.pk)})
    client.post(reverse("storefront:address-edit", args=[saved.pk]), {**ADDRESS, "line1": "8 New Street"})
    client.post(reverse("storefront:address-delete", args=[saved.pk]))

    assert f'value="{saved.pk}"' in step and "7 Saved Street" in step
    order = Order.objects.get()
    assert order.shipping_address["line1"] == "7 Saved Street"  # later edits do not move the parcel
    assert "7 Saved Street" in text(client.get(reverse("storefront:order", args=[order.pk])))


# --- Unlinking a brand ------------------------------------------------------------------------


def test_unlinking_a_brand_keeps_what_was_claimed_and_frees_the_brand_user(history, brand_a, client):
    user = history["user"]
    link = BrandLink.objects.get(user=user, brand=brand_a)
    client.force_login(user)

    unlinked = client.post(reverse("storefront:unlink", args=[link.pk]), follow=True)

    assert "Alpha Fitness is no longer linked to your account." in text(unlinked)
    assert not BrandLink.objects.filter(user=user, brand=brand_a).exists()
    assert BrandLink.objects.filter(user=user).count() == 1  # brand B stays linked
    account = text(client.get(reverse("storefront:account")))
    assert "Alpha Fitness" not in account[account.index('id="links-title"') :]
    rewards = text(client.get(reverse("storefront:rewards")))
    assert "Smart Speaker" in rewards and "KP1KR" in rewards  # the claimed parcel stays the account's
    assert client.get(reverse("storefront:order", args=[history["parcel"].pk])).status_code == 200
    assert "Reach level 15" not in rewards  # the brand user's unclaimed moments are not its any more
    # The brand user's next reward can be claimed by another account, which links it.
    other = verified(email="new-owner@example.com")
    client.force_login(other)
    token = claim_token(history["to_claim"].pk)
    claimed = client.post(reverse("storefront:claim-confirm", args=[token, "CARD-10"]))
    assert claimed.status_code == 302
    assert BrandLink.objects.get(brand=brand_a).user == other


# --- Export -----------------------------------------------------------------------------------


def test_the_export_is_a_json_attachment_of_everything_about_the_account_and_nothing_else(history, brand_a, client):
    user = history["user"]
    AddressFactory(user=user, line1="5 Export Road", country="TH")
    stranger = verified(email="stranger@example.com")
    placed_order(brand_a, CatalogItemFactory(name="Stranger Thing", kind="physical"), user=stranger)
    give_credit(stranger, brand_a, Decimal("77.00"))
    client.force_login(user)

    response = client.get(reverse("storefront:export"))

    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="moments-account.json"'
    data = json.loads(response.content)
    assert data["account"]["email"] == "collector@example.com"
    assert {a["line1"] for a in data["addresses"]} == {"12 Teheran-ro", "5 Export Road"}
    assert {(link["brand"], link["brand_user_id"]) for link in data["linked_brands"]} == {
        ("Alpha Fitness", "alpha-7"),
        ("Beta News", BrandLink.objects.get(user=user, brand__slug="beta-news").brand_user_id),
    }
    moments = {m["id"]: m for m in data["moments"]}
    assert set(moments) == {
        str(history["parcel"].moment_id),
        str(history["credit"].moment_id),
        str(history["to_claim"].pk),
        str(history["expired"].pk),
    }
    assert moments[str(history["to_claim"].pk)]["campaign"] == "Reach level 15"
    assert moments[str(history["expired"].pk)]["status"] == "expired"
    orders = {o["id"]: o for o in data["orders"]}
    assert set(orders) == {str(history["parcel"].pk), str(history["credit"].pk)}
    parcel = orders[str(history["parcel"].pk)]
    assert (parcel["status"], parcel["carrier"], parcel["tracking_number"]) == ("shipped", "Korea Post", "KP1KR")
    assert [step["status"] for step in parcel["timeline"]] == ["placed", "shipped"]
    assert parcel["shipping_address"]["city"] == "Seoul"
    [wallet] = data["wallets"]
    assert (wallet["brand"], wallet["balance"]) == ("Beta News", "5.00")
    assert [(e["kind"], e["amount"]) for e in wallet["entries"]] == [("reward", "5.00")]
    body = response.content.decode()
    assert "stranger" not in body and "Stranger Thing" not in body and "77.00" not in body


def test_signed_out_the_account_pages_ask_to_sign_in(client):
    for name in ["rewards", "account", "export", "delete-account", "address-new"]:
        response = client.get(reverse(f"storefront:{name}"))
        assert response.status_code == 302 and response["Location"].startswith(reverse("account_login")), name


# --- Deleting the account ---------------------------------------------------------------------


def test_deleting_the_account_needs_the_word_delete(history, client):
    client.force_login(history["user"])

    refused = client.post(reverse("storefront:delete-account"), {"confirm": "delete"})

    assert refused.status_code == 400 and "Type DELETE, in capitals" in text(refused)
    assert User.objects.filter(pk=history["user"].pk).exists()
    assert client.get(reverse("storefront:rewards")).status_code == 200


def test_deleting_the_account_erases_it_keeps_the_brands_orders_anonymous_and_it_can_no_longer_sign_in(
    history, brand_a, client
):
    user = history["user"]
    parcel, credit = history["parcel"], history["credit"]
    ledger = list(LedgerEntry.objects.order_by("pk").values_list("pk", "amount"))
    client.force_login(user)

    deleted = client.post(reverse("storefront:delete-account"), {"confirm": "DELETE"}, follow=True)

    assert "Your account has been deleted." in text(deleted)
    assert client.get(reverse("storefront:rewards")).status_code == 302  # signed out
    assert not User.objects.filter(pk=user.pk).exists()
    for model in (EmailAddress, Address, BrandLink, Wallet):
        assert not model.objects.filter(user_id=user.pk).exists(), model
    assert not WalletEntry.objects.exists()
    # The brands keep their orders and their ledger, without the person: no account, no address.
    kept = {order.pk: order for order in Order.objects.all()}
    assert set(kept) == {parcel.pk, credit.pk}
    assert all(order.user_id is None and order.shipping_address is None for order in kept.values())
    assert kept[parcel.pk].tracking_number == "KP1KR"
    assert Moment.objects.get(pk=parcel.moment_id).account_id is None
    assert list(LedgerEntry.objects.order_by("pk").values_list("pk", "amount")) == ledger
    # Gone for good: the password no longer signs in, and a new account with the email starts empty.
    refused = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    assert refused.status_code == 200 and "_auth_user_id" not in client.session
    again = verified(email=user.email)
    client.force_login(again)
    assert "Smart Speaker" not in text(client.get(reverse("storefront:rewards")))
    assert client.get(reverse("storefront:order", args=[parcel.pk])).status_code == 404
    # and the brand user it was linked to can be linked by someone else's claim
    token = claim_token(history["to_claim"].pk)
    assert client.post(reverse("storefront:claim-confirm", args=[token, "CARD-10"])).status_code == 302


# --- The verified-email gate ------------------------------------------------------------------


def test_an_account_whose_email_is_not_verified_cannot_redeem(brand_a, client):
    user = UserFactory(email="unverified@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=False, primary=True)
    card = CatalogItemFactory(sku="CARD-10", kind="digital_code")
    moment = earn_moment(brand_a, card)
    client.force_login(user)  # e.g. a session from before the email was changed

    refused = client.post(reverse("storefront:claim-confirm", args=[claim_token(moment.pk), "CARD-10"]))

    assert refused.status_code == 409 and "Please verify your email address first." in text(refused)
    assert not Order.objects.exists() and not BrandLink.objects.exists()
    assert Moment.objects.get(pk=moment.pk).status == "earned"
    EmailAddress.objects.filter(user=user).update(verified=True)  # once verified, the same claim goes through
    assert client.post(reverse("storefront:claim-confirm", args=[claim_token(moment.pk), "CARD-10"])).status_code == 302
    assert Order.objects.filter(user=user).count() == 1
