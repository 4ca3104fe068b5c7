"""The wallet and the brand's reward store (issue 5, point 4; the telco scenario of DESIGN.md §7),
through the real views: credit earned by claiming, spent at checkout, kept as a ledger whose sum is
the balance; refusals change nothing; and concurrent checkouts on PostgreSQL never overspend.

Proof that the concurrency test can fail (DESIGN.md §6: "each has a test that can fail"), tried on
PostgreSQL and then undone, storefront/services.py restored byte for byte (same sha256):

1. store_checkout's conditional UPDATE (`filter(pk=..., balance__gte=price).update(balance=F("balance")
   - price)`) made a read-check-write: `wallet.balance < price` checked in Python, then an unconditional
   `update(balance=F("balance") - price)`. Both parametrisations went red: the losers hit the
   `wallet_never_negative` check constraint and answered 500 (`['500', 'bought']` for 2 sessions,
   several 500s for 8).
2. The same with a lost update, `update(balance=wallet.balance - price)`: every session "bought"
   (`['bought', 'bought']` against one affordable), balance no longer the sum of the ledger.
"""

from decimal import Decimal

import pytest
from django.core import mail
from django.db.models import Sum
from django.urls import reverse

from rewards.models import CatalogItem, DigitalCode, LedgerEntry, Order, Wallet, WalletEntry
from tenants.models import Brand
from tests.factories import AddressFactory, StoreItemFactory
from tests.storefront.conftest import at_once, give_credit, signed_in_client, verified

pytestmark = pytest.mark.django_db


def text(response) -> str:
    return response.content.decode()


def wallet_of(user, brand):
    return Wallet.objects.filter(user=user, brand=brand).first()


def ledger_sum(wallet) -> Decimal:
    return WalletEntry.objects.filter(wallet=wallet).aggregate(total=Sum("amount"))["total"] or Decimal("0.00")


def snapshot(user, brand):
    """Everything a checkout moves: the wallet and its entries, orders, stock, the brand's ledger."""
    wallet = wallet_of(user, brand)
    return (
        wallet.balance if wallet else None,
        list(WalletEntry.objects.filter(wallet=wallet).values_list("kind", "amount")) if wallet else [],
        Order.objects.filter(store_item__isnull=False).count(),
        list(CatalogItem.objects.order_by("sku").values_list("sku", "stock")),
        LedgerEntry.objects.count(),
    )


def buy(client, store_item, **data):
    return client.post(reverse("storefront:store-buy", args=[store_item.brand.slug, store_item.pk]), data)


@pytest.fixture
def customer(brand_a):
    user = verified(email="telco-fan@example.com")
    give_credit(user, brand_a, Decimal("50.00"))
    return user


def test_the_store_lists_only_the_brands_active_items_priced_in_credit(brand_a, brand_b, customer, client):
    StoreItemFactory(brand=brand_a, item__name="Alpha Cap", price=Decimal("15.00"))
    StoreItemFactory(brand=brand_a, item__name="Alpha Retired", active=False)
    StoreItemFactory(brand=brand_a, item__name="Alpha Discontinued", item__active=False)
    StoreItemFactory(brand=brand_b, item__name="Beta Mug")
    client.force_login(customer)

    page = text(client.get(reverse("storefront:store", args=[brand_a.slug])))

    assert "Alpha Cap" in page and "15.00 credit" in page
    assert "Alpha Retired" not in page and "Alpha Discontinued" not in page and "Beta Mug" not in page
    assert '<strong id="balance">50.00</strong>' in page  # this brand's credit
    assert f"--brand: {brand_a.primary_colour}" in page


def test_a_suspended_brands_store_and_an_inactive_item_are_not_found(brand_a, customer, client):
    retired = StoreItemFactory(brand=brand_a, active=False)
    client.force_login(customer)
    before = snapshot(customer, brand_a)

    retired_page = client.get(reverse("storefront:store-buy", args=[brand_a.slug, retired.pk]))
    retired_buy = buy(client, retired)
    Brand.objects.filter(pk=brand_a.pk).update(status=Brand.Status.SUSPENDED)
    suspended = client.get(reverse("storefront:store", args=[brand_a.slug]))

    assert (retired_page.status_code, retired_buy.status_code, suspended.status_code) == (404, 404, 404)
    assert snapshot(customer, brand_a) == before


def test_checkout_spends_credit_places_the_order_and_writes_the_ledger(
    brand_a, customer, client, django_capture_on_commit_callbacks
):
    card = StoreItemFactory(brand=brand_a, item__kind="digital_code", item__name="Data Pack", price=Decimal("20.00"))
    DigitalCode.objects.create(item=card.item, code="DATA-1234-5678")
    client.force_login(customer)

    with django_capture_on_commit_callbacks(execute=True):  # the fulfilment task, queued on commit
        bought = buy(client, card)

    order = Order.objects.get(store_item=card)
    assert bought.status_code == 302 and bought["Location"] == reverse("storefront:order", args=[order.pk])
    assert (order.user, order.brand, order.item, order.credit_spent) == (customer, brand_a, card.item, Decimal("20.00"))
    wallet = wallet_of(customer, brand_a)
    assert wallet.balance == Decimal("30.00") == ledger_sum(wallet)
    assert list(WalletEntry.objects.filter(wallet=wallet, kind="purchase").values_list("amount", "order")) == [
        (Decimal("-20.00"), order.pk)
    ]
    page = client.get(bought["Location"], follow=True)
    assert "Thank you! Your order is placed." in text(page) and "DATA-1234-5678" in text(page)
    store = text(client.get(reverse("storefront:store", args=[brand_a.slug])))
    assert '<strong id="balance">30.00</strong>' in store


def test_a_parcel_from_the_store_goes_to_a_saved_address_and_takes_one_from_stock(brand_a, customer, client):
    cap = StoreItemFactory(brand=brand_a, item__kind="physical", item__value=Decimal("12.00"), item__stock=3)
    address = AddressFactory(user=customer, city="Chiang Mai", country="TH")
    client.force_login(customer)

    form = text(client.get(reverse("storefront:store-buy", args=[brand_a.slug, cap.pk])))
    bought = buy(client, cap, address=str(address.pk))

    assert "Chiang Mai" in form and bought.status_code == 302
    order = Order.objects.get(store_item=cap)
    assert order.shipping_address["city"] == "Chiang Mai"
    assert CatalogItem.objects.get(pk=cap.item_id).stock == 2
    # The brand pays the parcel's shipping, as for a claimed reward; the customer pays credit only.
    fee = LedgerEntry.objects.get(kind="shipping_fee", order=order)
    assert fee.brand_id == brand_a.pk and fee.amount == order.shipping_fee > 0
    assert wallet_of(customer, brand_a).balance == Decimal("50.00") - cap.price


@pytest.mark.parametrize(
    "situation, message",
    [
        ("not enough credit", "Not enough credit for this item."),
        ("no address", "Choose where to send it."),
        ("out of stock", "is out of stock"),
        ("a country it does not reach", "cannot be delivered to this country"),
    ],
)
def test_a_refused_checkout_says_why_and_changes_nothing(brand_a, customer, client, situation, message):
    parcel = StoreItemFactory(
        brand=brand_a,
        item__kind="physical",
        item__stock=0 if situation == "out of stock" else 5,
        item__countries=["KR"],
        price=Decimal("80.00") if situation == "not enough credit" else Decimal("20.00"),
    )
    address = AddressFactory(user=customer, country="TH" if situation == "a country it does not reach" else "KR")
    client.force_login(customer)
    before = snapshot(customer, brand_a)

    refused = buy(client, parcel, **({} if situation == "no address" else {"address": str(address.pk)}))

    assert refused.status_code == 302
    assert refused["Location"] == reverse("storefront:store-buy", args=[brand_a.slug, parcel.pk])
    assert message in text(client.get(refused["Location"]))
    assert snapshot(customer, brand_a) == before


def test_an_account_with_no_wallet_at_the_brand_sees_zero_and_cannot_buy(brand_a, brand_b, client):
    user = verified(email="new-here@example.com")
    give_credit(user, brand_b, Decimal("100.00"))  # credit elsewhere does not count here
    mug = StoreItemFactory(brand=brand_a, item__kind="digital_code", price=Decimal("5.00"))
    client.force_login(user)
    before = snapshot(user, brand_a)

    store = text(client.get(reverse("storefront:store", args=[brand_a.slug])))
    refused = buy(client, mug)

    assert '<strong id="balance">0.00</strong>' in store
    assert "Not enough credit for this item." in text(client.get(refused["Location"]))
    assert snapshot(user, brand_a) == before and wallet_of(user, brand_a) is None
    assert wallet_of(user, brand_b).balance == Decimal("100.00")


def test_signed_out_the_store_shows_its_items_and_buying_asks_to_sign_in(brand_a, client):
    StoreItemFactory(brand=brand_a, item__name="Alpha Cap")
    item = StoreItemFactory(brand=brand_a)

    store = text(client.get(reverse("storefront:store", args=[brand_a.slug])))
    bought = buy(client, item)

    assert "Alpha Cap" in store and "Sign in to see your credit" in store
    assert bought.status_code == 302 and bought["Location"].startswith(reverse("account_login"))
    assert not Order.objects.exists()


def test_an_item_the_customer_cannot_afford_says_how_much_more_before_any_submit(brand_a, customer, client):
    affordable = StoreItemFactory(brand=brand_a, item__name="Alpha Cap", price=Decimal("50.00"))
    too_dear = StoreItemFactory(brand=brand_a, item__name="Alpha Speaker", price=Decimal("72.50"))
    client.force_login(customer)  # 50.00 of credit

    store = text(client.get(reverse("storefront:store", args=[brand_a.slug])))
    buy_page = text(client.get(reverse("storefront:store-buy", args=[brand_a.slug, too_dear.pk])))
    affordable_page = text(client.get(reverse("storefront:store-buy", args=[brand_a.slug, affordable.pk])))

    dear_card = store.split(f'data-store-item="{too_dear.pk}"')[1].split("</li>")[0]
    cheap_card = store.split(f'data-store-item="{affordable.pk}"')[1].split("</li>")[0]
    assert "You need 22.50 more credit." in dear_card and 'aria-disabled="true"' in dear_card
    assert reverse("storefront:store-buy", args=[brand_a.slug, too_dear.pk]) not in dear_card
    assert (
        "more credit" not in cheap_card
        and reverse("storefront:store-buy", args=[brand_a.slug, affordable.pk]) in cheap_card
    )
    assert "You need 22.50 more credit." in buy_page and 'disabled aria-describedby="shortfall"' in buy_page
    assert "more credit" not in affordable_page and "disabled" not in affordable_page


def test_the_store_lists_what_the_customer_bought_there_newest_first(
    brand_a, brand_b, customer, client, django_capture_on_commit_callbacks
):
    first = StoreItemFactory(brand=brand_a, item__kind="digital_code", item__name="Data Pack", price=Decimal("10.00"))
    second = StoreItemFactory(brand=brand_a, item__kind="digital_code", item__name="Film Pass", price=Decimal("5.00"))
    for entry, code in ((first, "DATA-1"), (second, "FILM-1")):
        DigitalCode.objects.create(item=entry.item, code=code)
    give_credit(customer, brand_b, Decimal("10.00"))
    elsewhere = StoreItemFactory(
        brand=brand_b, item__kind="digital_code", item__name="Beta Pass", price=Decimal("1.00")
    )
    DigitalCode.objects.create(item=elsewhere.item, code="BETA-1")
    client.force_login(customer)
    with django_capture_on_commit_callbacks(execute=True):
        buy(client, first)
        buy(client, second)
        buy(client, elsewhere)

    store = text(client.get(reverse("storefront:store", args=[brand_a.slug])))

    bought = store.split("What you bought here")[1]
    assert bought.index("Film Pass") < bought.index("Data Pack")  # newest first
    assert "5.00 credit" in bought and "Beta Pass" not in bought  # only this brand's store
    assert '<strong id="balance">35.00</strong>' in store


# --- Concurrent checkouts on PostgreSQL -------------------------------------------------------


@pytest.mark.needs("postgresql")
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("sessions, balance", [(2, Decimal("30.00")), (8, Decimal("65.00"))])
def test_concurrent_checkouts_never_take_the_balance_below_zero(brand_a, sessions, balance):
    """The same account in `sessions` browsers buys at the same instant, round after round, each
    round starting from `balance`: exactly floor(balance / price) checkouts succeed, the others are
    refused, the balance is the sum of the ledger and never below zero."""
    price = Decimal("20.00")
    card = StoreItemFactory(brand=brand_a, item__kind="digital_code", price=price)
    DigitalCode.objects.bulk_create(DigitalCode(item=card.item, code=f"CODE-{n:03d}") for n in range(100))
    user = verified(email="eager-buyer@example.com")
    clients = [signed_in_client(user) for _ in range(sessions)]
    url = reverse("storefront:store-buy", args=[brand_a.slug, card.pk])
    can_afford = int(balance // price)
    bought_so_far = 0

    for round_ in range(3):
        wallet = wallet_of(user, brand_a)
        give_credit(user, brand_a, balance - (wallet.balance if wallet else Decimal("0.00")))
        assert wallet_of(user, brand_a).balance == balance

        answers = at_once(clients, lambda client: client.post(url))

        outcomes = sorted(
            "bought"
            if answer.status_code == 302 and answer["Location"].startswith("/me/orders/")
            else "refused"
            if answer.status_code == 302 and answer["Location"] == url
            else str(answer.status_code)
            for answer in answers
        )
        assert outcomes == ["bought"] * can_afford + ["refused"] * (sessions - can_afford), (round_, outcomes)
        bought_so_far += can_afford
        wallet = wallet_of(user, brand_a)
        assert wallet.balance == balance - can_afford * price == ledger_sum(wallet) >= 0
        assert Order.objects.filter(store_item=card).count() == bought_so_far
        assert WalletEntry.objects.filter(wallet=wallet, kind="purchase").count() == bought_so_far
        assert Order.objects.filter(store_item=card, status="fulfilled").count() == bought_so_far
    assert not [m for m in mail.outbox if "No codes left" in m.subject]
