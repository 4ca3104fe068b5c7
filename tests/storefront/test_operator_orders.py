"""The operator's hands on orders: ship a parcel (carrier, tracking), cancel an order not yet sent
(stock, shipping fee, CPA and store credit go back), and fulfilment racing a cancellation."""

from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse

from rewards.models import BrandSpend, CampaignSpend, CatalogItem, LedgerEntry, Moment, Order, Wallet, WalletEntry
from rewards.orders import fulfilment
from rewards.orders import services as orders
from tests.factories import CatalogItemFactory, MembershipFactory, StoreItemFactory, UserFactory
from tests.storefront.conftest import placed_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def speaker():
    return CatalogItemFactory(sku="SPEAKER", kind="physical", value=Decimal("20.00"), stock=10, countries=["KR"])


def test_the_operator_marks_a_parcel_shipped_and_the_customer_is_told(
    brand_a, operator, client, speaker, django_capture_on_commit_callbacks
):
    order = placed_order(brand_a, speaker)
    client.force_login(operator)
    url = reverse("admin:rewards_order_ship", args=[order.pk])

    incomplete = client.post(url, {"carrier": "Korea Post"})
    with django_capture_on_commit_callbacks(execute=True):  # the email task, queued on commit
        shipped = client.post(url, {"carrier": "Korea Post", "tracking_number": "KP1KR"})
    again = client.post(url, {"carrier": "CJ", "tracking_number": "CJ2"}, follow=True)

    assert incomplete.status_code == 200 and "This field is required" in incomplete.content.decode()
    assert shipped.status_code == 302
    order.refresh_from_db()
    assert (order.status, order.carrier, order.tracking_number) == ("shipped", "Korea Post", "KP1KR")
    assert "Only a placed order can be shipped." in again.content.decode()
    assert [m.to for m in mail.outbox if "on its way" in m.subject] == [[order.user.email]]


def test_a_parcels_tracking_number_is_the_operators_not_the_brands(brand_a, operator, client, speaker):
    order = placed_order(brand_a, speaker)
    Order.objects.filter(pk=order.pk).update(status="shipped", carrier="Korea Post", tracking_number="KP77TRACK")
    changelist = reverse("admin:rewards_order_changelist")
    pages = {}
    for who in ("owner", "operator"):
        client.force_login(operator if who == "operator" else MembershipFactory(brand=brand_a, role="owner").user)
        pages[who] = (
            client.get(changelist).content.decode(),
            client.get(f"{changelist}?q=KP77TRACK").content.decode(),
            client.get(reverse("admin:rewards_order_change", args=[order.pk])).content.decode(),
        )

    # a carrier's site turns a tracking number into where the customer lives
    assert all("KP77TRACK" not in page for page in pages["owner"][::2])
    assert str(order.pk) not in pages["owner"][1]  # nor can a brand find the order by it
    assert "Korea Post" in pages["owner"][0]
    assert all("KP77TRACK" in page for page in pages["operator"])


def test_brand_staff_can_neither_ship_nor_cancel(brand_a, client, speaker):
    order = placed_order(brand_a, speaker)
    client.force_login(MembershipFactory(brand=brand_a, role="owner").user)

    shipped = client.post(
        reverse("admin:rewards_order_ship", args=[order.pk]), {"carrier": "X", "tracking_number": "1"}
    )
    cancelled = client.post(reverse("admin:rewards_order_cancel", args=[order.pk]), {"reason": "mine now"})

    assert (shipped.status_code, cancelled.status_code) == (403, 403)
    assert Order.objects.get(pk=order.pk).status == "placed"


def test_another_brands_order_is_not_found_by_its_staff(brand_a, brand_b, client, speaker):
    order = placed_order(brand_a, speaker)
    client.force_login(MembershipFactory(brand=brand_b, role="owner").user)

    assert client.get(reverse("admin:rewards_order_cancel", args=[order.pk])).status_code == 404


def test_cancelling_a_parcel_returns_stock_fee_and_cpa_and_shows_the_reason(brand_a, operator, client, speaker):
    order = placed_order(brand_a, speaker)
    assert order.shipping_fee > 0
    assert CatalogItem.objects.get(pk=speaker.pk).stock == 9
    client.force_login(operator)

    cancelled = client.post(reverse("admin:rewards_order_cancel", args=[order.pk]), {"reason": "Address undeliverable"})
    twice = orders.order_cancel(order=order, reason="again", actor=None)

    assert cancelled.status_code == 302 and twice is False
    assert Order.objects.get(pk=order.pk).status == "cancelled"
    assert CatalogItem.objects.get(pk=speaker.pk).stock == 10
    fees = LedgerEntry.objects.filter(kind="shipping_fee").values_list("amount", flat=True)
    assert sorted(fees) == [-order.shipping_fee, order.shipping_fee]
    moment = Moment.objects.get(pk=order.moment_id)
    assert (moment.status, moment.cancel_reason) == ("cancelled", "Address undeliverable")
    assert CampaignSpend.objects.get().spent == BrandSpend.objects.get().spent == Decimal("0.00")
    client.force_login(order.user)
    page = client.get(reverse("storefront:order", args=[order.pk])).content.decode()
    assert "Address undeliverable" in page


def test_a_reason_is_required_to_cancel(brand_a, operator, client, speaker):
    order = placed_order(brand_a, speaker)
    client.force_login(operator)

    response = client.post(reverse("admin:rewards_order_cancel", args=[order.pk]), {"reason": ""})

    assert response.status_code == 200 and "This field is required" in response.content.decode()
    with pytest.raises(orders.Refused):
        orders.order_cancel(order=order, reason="   ", actor=None)
    assert Order.objects.get(pk=order.pk).status == "placed"


def test_a_cancelled_store_purchase_gives_the_credit_back(brand_a):
    user = UserFactory()
    wallet = Wallet.objects.create(brand=brand_a, user=user, balance=Decimal("30.00"))
    WalletEntry.objects.create(brand=brand_a, wallet=wallet, kind="reward", amount=Decimal("30.00"))
    store_item = StoreItemFactory(brand=brand_a, item__kind="digital_code", price=Decimal("20.00"))
    order = orders.store_checkout(user=user, store_item=store_item, mode="live")  # no code in the pool: stays placed
    assert Order.objects.get(pk=order.pk).status == "placed"

    assert orders.order_cancel(order=order, reason="No codes left", actor=None)

    wallet.refresh_from_db()
    assert wallet.balance == Decimal("30.00") == sum(e.amount for e in WalletEntry.objects.filter(wallet=wallet))
    assert WalletEntry.objects.filter(kind="refund", order=order).count() == 1


def test_an_order_cancelled_before_its_task_runs_gets_no_effect(brand_a):
    # The fulfilment task is queued on commit, which a test's transaction never reaches: both stay placed.
    kept = placed_order(
        brand_a, CatalogItemFactory(sku="CREDIT-5", kind="credit", value=Decimal("5.00")), address=False
    )
    called_off = placed_order(
        brand_a, CatalogItemFactory(sku="CREDIT-7", kind="credit", value=Decimal("7.00")), address=False
    )

    assert orders.order_cancel(order=called_off, reason="Fraud check", actor=None)
    for order in (kept, called_off):  # the tasks, arriving after the cancellation
        fulfilment.provider_for(order).fulfil(order)

    assert Order.objects.get(pk=kept.pk).status == "fulfilled"
    assert Order.objects.get(pk=called_off.pk).status == "cancelled"
    assert list(WalletEntry.objects.values_list("order_id", "amount")) == [(kept.pk, Decimal("5.00"))]
