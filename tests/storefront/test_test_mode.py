"""The test storefront end to end (DESIGN.md §4, §5): a test claim says so on every page, its
credit goes to a test wallet the store's test mode spends, its parcel is shipped by the simulation,
and it never links a brand user id to an account."""

from decimal import Decimal

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from rewards.models import Order, StockMovement, Wallet, WebhookDelivery
from rewards.moments.claims import claim_token
from rewards.orders.fulfilment import fulfil_order
from storefront import services
from storefront.models import BrandLink
from tests.factories import AddressFactory, CatalogItemFactory, StoreItemFactory
from tests.storefront.conftest import earn_moment, signed_in_client, verified

pytestmark = pytest.mark.django_db

BANNER = "Test mode: nothing is shipped or charged."


def claim_path(moment) -> str:
    return reverse("storefront:claim", args=[claim_token(moment.pk)])


def test_every_page_of_a_test_claim_says_test_mode_and_a_live_claim_does_not(brand_a):
    speaker = CatalogItemFactory(kind="physical", countries=["KR"])
    test_moment = earn_moment(brand_a, speaker, mode="test")
    live_moment = earn_moment(brand_a, speaker)
    user = verified()
    address = AddressFactory(user=user, country="KR")
    client = signed_in_client(user)
    signed_out = signed_in_client(verified())
    signed_out.logout()

    item_path = reverse("storefront:claim-item", args=[claim_token(test_moment.pk), speaker.sku])
    pages = [
        signed_out.get(claim_path(test_moment)),
        client.get(item_path),
        client.get(f"{item_path}?address={address.pk}"),
    ]
    confirmed = client.post(f"{item_path}/confirm", {"address": address.pk})
    order = Order.objects.get(moment=test_moment)
    pages += [client.get(confirmed["Location"]), client.get(claim_path(test_moment), follow=True)]
    live_page = client.get(reverse("storefront:claim-item", args=[claim_token(live_moment.pk), speaker.sku]))

    for page in pages:
        assert page.status_code == 200, page.status_code
        assert BANNER in page.content.decode()
    assert order.mode == "test"
    assert BANNER not in live_page.content.decode()


def test_a_test_parcel_is_shipped_by_the_simulation_and_the_order_page_timeline_and_webhook_say_so(brand_a, receiver):
    brand_a.webhook_url = receiver.url
    brand_a.save()
    speaker = CatalogItemFactory(kind="physical", countries=["KR"])
    moment = earn_moment(brand_a, speaker, mode="test")
    user = verified()
    order = services.claim_confirm(
        user=user, moment=moment, item=speaker, address=AddressFactory(user=user, country="KR")
    )

    fulfil_order(str(order.pk))  # in a test's transaction on_commit never fires: run it here

    order.refresh_from_db()
    assert order.status == "fulfilled" and order.carrier == "Moments Test Carrier"
    assert order.tracking_number.startswith("TEST")
    assert [(e.status, e.note) for e in order.events.all()] == [
        ("placed", ""),
        ("shipped", "test mode: shipped by the simulation, nothing was sent"),
        ("fulfilled", "test mode: delivered by the simulation"),
    ]
    assert not StockMovement.objects.filter(order=order).exists()  # no stock held for a test parcel
    page = signed_in_client(user).get(reverse("storefront:order", args=[order.pk])).content.decode()
    assert order.tracking_number in page and "data-simulated-shipment" in page and BANNER in page
    assert mail.outbox == []  # no email says a parcel is on its way: none is
    shipped = WebhookDelivery.objects.get(event_type="order.fulfilled", payload__data__status="shipped")
    assert shipped.payload["data"]["mode"] == "test"
    assert shipped.payload["data"]["simulated_carrier"] == "Moments Test Carrier"


def test_test_credit_goes_to_a_test_wallet_that_only_the_stores_test_mode_spends(brand_a):
    credit = CatalogItemFactory(kind="credit", value=Decimal("5.00"), cost=Decimal("5.00"))
    code = CatalogItemFactory(kind="digital_code", value=Decimal("4.00"))
    entry = StoreItemFactory(brand=brand_a, item=code, price=Decimal("4.00"))
    user = verified()
    order = services.claim_confirm(user=user, moment=earn_moment(brand_a, credit, mode="test"), item=credit)
    fulfil_order(str(order.pk))
    client = signed_in_client(user)
    store = reverse("storefront:store", args=[brand_a.slug])
    buy = reverse("storefront:store-buy", args=[brand_a.slug, entry.pk])

    live_store = client.get(store).content.decode()
    test_store = client.get(f"{store}?mode=test").content.decode()
    live_buy = client.post(buy)
    bought = client.post(f"{buy}?mode=test")
    my_rewards = client.get(reverse("storefront:rewards")).content.decode()

    assert Wallet.objects.get(user=user).mode == "test"
    assert '<strong id="balance">0.00</strong>' in live_store and BANNER not in live_store
    assert '<strong id="balance">5.00</strong>' in test_store and BANNER in test_store
    assert f"{buy}?mode=test" in test_store
    assert live_buy.status_code == 302 and not Order.objects.filter(store_item=entry, mode="live").exists()
    purchase = Order.objects.get(store_item=entry)
    assert bought.status_code == 302 and purchase.mode == "test" and purchase.credit_spent == Decimal("4.00")
    assert Wallet.objects.get(user=user, mode="test").balance == Decimal("1.00")
    fulfil_order(str(purchase.pk))
    purchase.refresh_from_db()
    assert purchase.status == "fulfilled" and purchase.digital_code.startswith("TEST-")  # no real code used
    assert 'data-wallet-mode="test"' in my_rewards and f"{store}?mode=test" in my_rewards


def test_a_test_claim_links_nothing_so_a_test_user_id_never_blocks_a_real_customer(brand_a):
    code = CatalogItemFactory(kind="digital_code")
    developer, customer = verified(), verified()
    test_moment = earn_moment(brand_a, code, user_id="player-1", mode="test")
    live_moment = earn_moment(brand_a, code, user_id="player-1")

    services.claim_confirm(user=developer, moment=test_moment, item=code)
    services.claim_confirm(user=customer, moment=live_moment, item=code)

    assert list(BrandLink.objects.values_list("user", "brand_user_id")) == [(customer.pk, "player-1")]


def test_the_sign_up_and_sign_in_pages_on_the_way_from_a_test_claim_say_test_mode(brand_a):
    code = CatalogItemFactory(kind="digital_code")
    visitor, other = Client(), Client()
    visitor.get(claim_path(earn_moment(brand_a, code, mode="test")))
    other.get(claim_path(earn_moment(brand_a, code)))

    pages = [visitor.get(reverse(name)) for name in ("account_signup", "account_login")]
    live_way = other.get(reverse("account_signup"))

    assert all(BANNER in page.content.decode() for page in pages)
    assert BANNER not in live_way.content.decode()
