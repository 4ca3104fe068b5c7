"""Issue 10 points 6, 7 and 8: stock moves only through its ledger, one event does bounded work,
and the ledger says which month's counters each line moved."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from allauth.account.models import EmailAddress
from django.db import connection
from django.db.models import F, Sum
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from rewards.catalog.services import stock_open
from rewards.earning.services import MAX_MOMENTS_PER_EVENT, EventInput, events_ingest
from rewards.ledger.services import shipping_fee_bill
from rewards.models import (
    BrandSpend,
    CampaignSpend,
    CatalogItem,
    LedgerEntry,
    Moment,
    StockMovement,
    WebhookDelivery,
)
from rewards.moments.services import moments_expire
from rewards.orders import services as orders
from storefront import services as storefront_services
from tests.factories import (
    AddressFactory,
    ApiKeyFactory,
    BrandFactory,
    CampaignFactory,
    CatalogItemFactory,
    OrderFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db
ACTION = "workout_completed"


# --- Point 7: one event does bounded work -------------------------------------------------------


def post(api, user_id, quantity, event_id):
    body = {"event_id": event_id, "user_id": user_id, "action": ACTION, "quantity": quantity}
    return api.post("/api/v1/events", body, format="json")


@pytest.fixture
def three_open_campaigns():
    key = ApiKeyFactory(mode="live")
    # With an endpoint, so each moment's webhook is part of the work measured (never sent: the
    # test's transaction never commits).
    type(key.brand).objects.filter(pk=key.brand_id).update(webhook_url="https://hooks.example.com/moments")
    key.brand.refresh_from_db()
    for _ in range(3):
        CampaignFactory(brand=key.brand, threshold=Decimal("1"), max_per_user=None, active=True)
    api = APIClient()
    api.raise_request_exception = False
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key.secret}")
    return api


def test_the_largest_quantity_earns_a_bounded_number_of_moments_with_the_sql_of_one(three_open_campaigns):
    """Quantity 1,000,000 with threshold 1 and no per-user limit once made 1,000,000 moments
    per campaign in a loop; now each campaign grants at most MAX_MOMENTS_PER_EVENT, in the same
    statements as a single moment (so it answers like any other event), and says the rest is owed."""
    api = three_open_campaigns
    post(api, "warm-up", 1, "evt-warm-up")  # the key and the campaigns cached, as in a running process
    with CaptureQueriesContext(connection) as one:
        single = post(api, "small", 1, "evt-small")
    with CaptureQueriesContext(connection) as worst:
        largest = post(api, "huge", 1_000_000, "evt-huge")

    assert single.status_code == largest.status_code == 201
    assert len(single.json()["moments"]) == 3
    limit = MAX_MOMENTS_PER_EVENT
    assert len(largest.json()["moments"]) == 3 * limit
    assert {p["blocked"] for p in largest.json()["progress"]} == {"event_limit"}
    assert len(worst.captured_queries) == len(one.captured_queries)
    assert WebhookDelivery.objects.filter(event_type="moment.earned").count() == 3 + 3 + 3 * limit
    assert Moment.objects.filter(user_id="huge").count() == 3 * limit

    # What is owed comes with the user's next events, as bounded.
    again = post(api, "huge", 1, "evt-huge-2")
    assert len(again.json()["moments"]) == 3 * limit
    assert sorted(Moment.objects.filter(user_id="huge").values_list("sequence", flat=True).distinct()) == list(
        range(1, 2 * limit + 1)
    )


@pytest.mark.parametrize("quantity", ["1e5", "400", True])
def test_a_quantity_is_a_json_number_only(three_open_campaigns, quantity):
    response = post(three_open_campaigns, "u", quantity, f"evt-{quantity}")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "quantity"
    assert not Moment.objects.exists()


def test_a_partly_affordable_grant_takes_what_the_cap_allows_and_says_why():
    key = ApiKeyFactory(mode="live")
    campaign = CampaignFactory(
        brand=key.brand, threshold=Decimal("1"), max_per_user=None, cpa=Decimal("5.00"), active=True
    )
    Campaign = type(campaign)
    Campaign.objects.filter(pk=campaign.pk).update(monthly_budget=Decimal("17.00"))
    [outcome] = events_ingest(
        brand=key.brand,
        mode="live",
        events=[EventInput(event_id="e", user_id="u", action=ACTION, quantity=Decimal("8"))],
    )
    assert len(outcome.body["moments"]) == 3
    assert outcome.body["progress"][0]["blocked"] == "campaign_cap"
    assert CampaignSpend.objects.get(campaign=campaign).spent == Decimal("15.00")
    assert CampaignSpend.objects.get(campaign=campaign).capped_at is not None


# --- Point 8: the ledger says which counters each line moved, month by month -------------------


operations = st.lists(
    st.tuples(
        st.sampled_from(["earn", "test_earn", "expire", "fee"]),
        st.integers(min_value=0, max_value=3),  # month offset from January 2026
        st.integers(min_value=1, max_value=27),  # day
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=operations)
def test_spend_recomputed_from_the_ledger_equals_the_counters_in_every_month(steps):
    """Charges, refunds in the month of the charge, refunds of an earlier month's moments (late
    expiry) and shipping fees, live and test, in random months: for every mode and month, the
    ledger lines that say they moved that month's counters add up to the counters, for the brand
    and for each campaign."""
    brand = BrandFactory()
    rules = {"threshold": Decimal("1"), "max_per_user": None, "claim_window_days": 20, "cpa": Decimal("4.00")}
    campaign = CampaignFactory(brand=brand, active=True, **rules)
    test_campaign = CampaignFactory(brand=brand, mode="test", action=campaign.action, active=True, **rules)
    item = CatalogItemFactory(kind="physical")
    for index, (kind, month_offset, day) in enumerate(steps):
        now = datetime(2026, 1 + month_offset, day, 12, tzinfo=UTC)
        if kind in ("earn", "test_earn"):
            events_ingest(
                brand=brand,
                mode="test" if kind == "test_earn" else "live",
                events=[EventInput(event_id=f"e{index}", user_id=f"u{index}", action=ACTION)],
                now=now,
            )
        elif kind == "expire":
            moments_expire(now=now)
        else:
            order = OrderFactory(brand=brand, item=item, shipping_fee=Decimal("4.99"))
            shipping_fee_bill(order=order, campaign=campaign)

    lines = LedgerEntry.objects.filter(brand=brand)
    assert not lines.exclude(counter_period=None).exclude(counter_period=F("period")).exists()
    for spend in BrandSpend.objects.filter(brand=brand):
        recomputed = lines.filter(mode=spend.mode, counter_period=spend.period).aggregate(s=Sum("amount"))["s"]
        assert (recomputed or Decimal("0")) == spend.spent, (spend.mode, spend.period)
    for spend in CampaignSpend.objects.filter(campaign__in=[campaign, test_campaign]):
        recomputed = lines.filter(campaign=spend.campaign_id, counter_period=spend.period).aggregate(s=Sum("amount"))
        assert (recomputed["s"] or Decimal("0")) == spend.spent, (spend.campaign_id, spend.period)


def test_a_refund_after_the_month_of_its_charge_is_billed_then_and_moves_no_counter():
    brand = BrandFactory()
    campaign = CampaignFactory(brand=brand, threshold=Decimal("1"), claim_window_days=10, active=True)
    earned_at = datetime(2026, 1, 28, tzinfo=UTC)
    events_ingest(
        brand=brand, mode="live", events=[EventInput(event_id="e", user_id="u", action=ACTION)], now=earned_at
    )
    moments_expire(now=earned_at + timedelta(days=11))

    refund = LedgerEntry.objects.get(brand=brand, kind="refund")
    assert refund.period == datetime(2026, 2, 1).date() and refund.counter_period is None
    assert CampaignSpend.objects.get(campaign=campaign, period=datetime(2026, 1, 1).date()).spent == campaign.cpa


# --- Point 6: stock moves only through the stock ledger ----------------------------------------


def test_the_stock_is_read_only_on_the_item_page_so_a_stale_form_cannot_write_it_back(client, operator):
    """The lost update: the page is opened with 10 on hand, a claim takes one, the page is saved.
    The count stays 9: the form has no stock field to write back."""
    item = CatalogItemFactory(kind="physical", stock=10)
    client.force_login(operator)
    page = client.get(f"/admin/rewards/catalogitem/{item.pk}/change/")
    assert page.status_code == 200
    assert 'name="stock"' not in page.content.decode()

    CatalogItem.objects.filter(pk=item.pk).update(stock=9)  # a claim meanwhile
    form = {
        "sku": item.sku,
        "name": "Renamed",
        "kind": "physical",
        "value": "10.00",
        "cost": "9.00",
        "active": "on",
        "stock": "10",  # what the page showed, posted anyway
        "stock_movements-TOTAL_FORMS": "0",
        "stock_movements-INITIAL_FORMS": "0",
    }
    response = client.post(f"/admin/rewards/catalogitem/{item.pk}/change/", {**form, "kind": "digital_code"})
    assert response.status_code == 302, response.content.decode()[:2000]
    item.refresh_from_db()
    assert item.name == "Renamed" and item.stock == 9
    assert item.kind == "physical"  # chosen once: a physical item never loses its stock count


def test_the_operator_adjusts_stock_by_a_signed_amount_with_a_reason_and_it_is_in_the_ledger(client, operator):
    item = CatalogItemFactory(kind="physical", stock=0)
    client.force_login(operator)
    base = {
        "sku": item.sku,
        "name": item.name,
        "kind": "physical",
        "value": "10.00",
        "cost": "9.00",
        "active": "on",
        "stock_movements-TOTAL_FORMS": "0",
        "stock_movements-INITIAL_FORMS": "0",
    }
    url = f"/admin/rewards/catalogitem/{item.pk}/change/"
    assert (
        client.post(url, {**base, "stock_change": "50", "stock_reason": "received", "stock_note": "PO-7"}).status_code
        == 302
    )
    assert client.post(url, {**base, "stock_change": "-3", "stock_reason": "damaged"}).status_code == 302
    refused = client.post(url, {**base, "stock_change": "-100", "stock_reason": "correction"}, follow=True)
    assert "cannot go below zero" in refused.content.decode()
    no_reason = client.post(url, {**base, "stock_change": "5"})
    assert no_reason.status_code == 200  # the form again, with the error

    item.refresh_from_db()
    assert item.stock == 47
    movements = list(StockMovement.objects.filter(item=item).order_by("created_at"))
    assert [(m.change, m.reason, m.stock_after, m.by_id) for m in movements] == [
        (50, "received", 50, operator.pk),
        (-3, "damaged", 47, operator.pk),
    ]
    assert movements[0].note == "PO-7"


def test_claims_and_cancels_move_stock_through_the_ledger():
    item = CatalogItemFactory(kind="physical", stock=0)
    stock_open(item=item, count=2, actor=None)
    brand = BrandFactory()
    CampaignFactory(brand=brand, threshold=Decimal("1"), rewards=[item.sku], max_per_user=None, active=True)
    [outcome] = events_ingest(
        brand=brand,
        mode="live",
        events=[EventInput(event_id="e", user_id="u", action=ACTION, quantity=Decimal("3"))],
    )
    moments = [Moment.objects.get(pk=m["id"]) for m in outcome.body["moments"]]
    user = UserFactory()
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    address = AddressFactory(user=user)
    first = storefront_services.claim_confirm(user=user, moment=moments[0], item=item, address=address)
    storefront_services.claim_confirm(user=user, moment=moments[1], item=item, address=address)
    with pytest.raises(orders.Refused):
        storefront_services.claim_confirm(user=user, moment=moments[2], item=item, address=address)
    orders.order_cancel(order=first, reason="address undeliverable", actor=None)

    item.refresh_from_db()
    assert item.stock == 1
    assert StockMovement.objects.filter(item=item).aggregate(s=Sum("change"))["s"] == item.stock
    assert list(StockMovement.objects.filter(item=item).order_by("created_at").values_list("reason", flat=True)) == [
        "opening",
        "order",
        "order",
        "order_cancelled",
    ]


def test_a_new_items_count_is_its_opening_line_in_the_stock_ledger(client, operator):
    client.force_login(operator)
    page = client.get("/admin/rewards/catalogitem/add/")
    assert 'name="stock"' in page.content.decode() and 'name="stock_change"' not in page.content.decode()
    form = {
        "sku": "NEW-BOX",
        "name": "New box",
        "kind": "physical",
        "value": "10.00",
        "cost": "9.00",
        "stock": "12",
        "active": "on",
        "stock_movements-TOTAL_FORMS": "0",
        "stock_movements-INITIAL_FORMS": "0",
    }
    assert client.post("/admin/rewards/catalogitem/add/", form).status_code == 302
    item = CatalogItem.objects.get(sku="NEW-BOX")
    assert item.stock == 12
    assert list(item.stock_movements.values_list("change", "reason", "by")) == [(12, "opening", operator.pk)]
