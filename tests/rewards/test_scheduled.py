"""Beat's work — expiry, campaign end, the month roll, the order sweeper — and the operator's tools."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from rewards.campaigns.services import campaigns_end_due, month_roll
from rewards.earning.services import EventInput, events_ingest
from rewards.models import BrandSpend, CampaignSpend, DigitalCode, LedgerEntry, Moment, Order
from rewards.moments.services import moments_expire
from rewards.orders import fulfilment
from rewards.tasks import sweep_orders
from tests.factories import AddressFactory, CampaignFactory, CatalogItemFactory, OrderFactory

pytestmark = pytest.mark.django_db


def earn(brand, campaign, user_id="u1", mode="live"):
    events_ingest(
        brand=brand,
        mode=mode,
        events=[EventInput(event_id=f"e-{mode}-{user_id}", user_id=user_id, action=campaign.action)],
    )
    return Moment.objects.get(user_id=user_id, mode=mode)


def test_unclaimed_moments_expire_and_their_cpa_is_credited_back(brand_a):
    rules = {"threshold": Decimal("1"), "cpa": Decimal("5.00"), "max_per_user": None, "active": True}
    campaign = CampaignFactory(brand=brand_a, **rules)
    test_campaign = CampaignFactory(brand=brand_a, mode="test", action=campaign.action, **rules)
    stale, fresh = earn(brand_a, campaign, "stale"), earn(brand_a, campaign, "fresh")
    test_moment = earn(brand_a, test_campaign, "tester", mode="test")
    Moment.objects.filter(pk__in=[stale.pk, test_moment.pk]).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert moments_expire() == 2
    assert moments_expire() == 0  # a second run changes nothing

    assert Moment.objects.get(pk=stale.pk).status == "expired"
    assert Moment.objects.get(pk=fresh.pk).status == "earned"
    # each refund in its own mode's ledger: the test one moves only test mode's counters
    assert set(LedgerEntry.objects.filter(kind="refund").values_list("mode", "moment_id", "amount")) == {
        ("live", stale.pk, Decimal("-5.00")),
        ("test", test_moment.pk, Decimal("-5.00")),
    }
    assert CampaignSpend.objects.get(campaign=campaign).spent == Decimal("5.00")  # one charge left
    assert BrandSpend.objects.get(mode="live").spent == Decimal("5.00")
    assert CampaignSpend.objects.get(campaign=test_campaign).spent == BrandSpend.objects.get(mode="test").spent == 0


def test_a_refund_in_a_later_month_leaves_the_charged_months_counters(brand_a):
    campaign = CampaignFactory(brand=brand_a, threshold=Decimal("1"), active=True)
    moment = earn(brand_a, campaign)
    Moment.objects.filter(pk=moment.pk).update(expires_at=timezone.now() - timedelta(days=1))
    next_month = (timezone.now().replace(day=1) + timedelta(days=32)).replace(day=2)

    moments_expire(now=next_month)

    refund = LedgerEntry.objects.get(kind="refund")
    assert refund.period == next_month.date().replace(day=1)
    assert CampaignSpend.objects.get().spent == Decimal("5.00")  # last month's spend stays what it was


def test_campaigns_past_their_end_date_become_ended(brand_a):
    ending = CampaignFactory(brand=brand_a, active=True, ends_at=timezone.now() + timedelta(days=1))
    lasting = CampaignFactory(brand=brand_a, active=True)

    assert campaigns_end_due(now=timezone.now() + timedelta(days=2)) == 1
    assert campaigns_end_due(now=timezone.now() + timedelta(days=2)) == 0

    ending.refresh_from_db()
    lasting.refresh_from_db()
    assert (ending.status, lasting.status) == ("ended", "active")


def test_the_month_roll_opens_next_months_counters_once(brand_a):
    CampaignFactory(brand=brand_a, active=True)
    CampaignFactory(brand=brand_a)  # a draft: no counters
    first_of_next = (timezone.now().replace(day=1) + timedelta(days=32)).replace(day=1)

    month_roll(now=first_of_next)
    month_roll(now=first_of_next)

    assert CampaignSpend.objects.filter(period=first_of_next.date()).count() == 1
    assert BrandSpend.objects.filter(period=first_of_next.date(), spent=0).count() == 1


def test_a_campaign_stopped_by_its_cap_earns_again_after_the_month_roll(brand_a):
    campaign = CampaignFactory(
        brand=brand_a, threshold=Decimal("1"), cpa=Decimal("5.00"), monthly_budget=Decimal("10.00"), active=True
    )
    for user in ("u1", "u2", "u3"):
        earn_attempt = EventInput(event_id=f"this-{user}", user_id=user, action=campaign.action)
        events_ingest(brand=brand_a, mode="live", events=[earn_attempt])
    assert Moment.objects.count() == 2  # the third was over this month's budget
    assert CampaignSpend.objects.get().capped_at is not None
    first_of_next = (timezone.now().replace(day=1) + timedelta(days=32)).replace(day=1, hour=0, minute=5)

    month_roll(now=first_of_next)
    events_ingest(
        brand=brand_a,
        mode="live",
        events=[EventInput(event_id="next-u3", user_id="u3", action=campaign.action)],
        now=first_of_next + timedelta(hours=1),
    )

    assert Moment.objects.filter(user_id="u3").count() == 1
    new_month = CampaignSpend.objects.get(period=first_of_next.date())
    assert (new_month.spent, new_month.capped_at) == (Decimal("5.00"), None)


def test_the_sweeper_requeues_stale_orders_but_not_parcels(brand_a, django_capture_on_commit_callbacks):
    card = CatalogItemFactory(kind="digital_code")
    DigitalCode.objects.create(item=card, code="LATE-1")
    stale = OrderFactory(brand=brand_a, item=card)
    parcel = OrderFactory(brand=brand_a, item=CatalogItemFactory(kind="physical"))
    long_ago = timezone.now() - fulfilment.STALE_AFTER - timedelta(seconds=1)
    Order.objects.filter(pk__in=[stale.pk, parcel.pk]).update(created_at=long_ago)

    # The test's transaction stands for beat's commit: the task is published then, and runs
    # in-process here (eager).
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_orders() == 1

    assert Order.objects.get(pk=stale.pk).status == "fulfilled"
    assert Order.objects.get(pk=parcel.pk).status == "placed"


def test_a_code_pool_running_low_alerts_the_operator_once(brand_a, settings, django_capture_on_commit_callbacks):
    settings.ADMINS = [("Operator", "ops@moments.example")]
    settings.CODE_POOL_LOW_WATER = 3
    card = CatalogItemFactory(kind="digital_code", sku="CARD-LOW")
    for number in range(3):
        DigitalCode.objects.create(item=card, code=f"C-{number}")

    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(2):
            fulfilment.CodePool().fulfil(OrderFactory(brand=brand_a, item=card))

    alerts = [m for m in mail.outbox if "CARD-LOW" in m.subject]
    assert len(alerts) == 1 and alerts[0].to == ["ops@moments.example"]


def test_an_empty_code_pool_keeps_the_order_waiting_and_alerts_the_operator(
    brand_a, settings, django_capture_on_commit_callbacks
):
    settings.ADMINS = [("Operator", "ops@moments.example")]
    card = CatalogItemFactory(kind="digital_code", sku="CARD-NONE")
    waiting = OrderFactory(brand=brand_a, item=card)

    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(2):
            with pytest.raises(fulfilment.NotYet):
                fulfilment.CodePool().fulfil(waiting)

    assert Order.objects.get(pk=waiting.pk).status == "placed"
    alerts = [m for m in mail.outbox if "No codes left for CARD-NONE" in m.subject]
    assert len(alerts) == 1 and alerts[0].to == ["ops@moments.example"]


def test_the_operator_exports_the_pick_list_of_placed_parcels(brand_a, operator, client):
    speaker = CatalogItemFactory(kind="physical", sku="SPEAKER")
    address = AddressFactory(full_name="=HYPERLINK(1)", city="Seoul")
    parcel = OrderFactory(brand=brand_a, item=speaker, shipping_address=address.snapshot())
    shipped = OrderFactory(brand=brand_a, item=speaker, status="shipped", shipping_address=address.snapshot())
    client.force_login(operator)

    response = client.post(
        reverse("admin:rewards_order_changelist"),
        {"action": "export_pick_list", ACTION_CHECKBOX_NAME: [str(parcel.pk), str(shipped.pk)]},
    )

    rows = list(csv.DictReader(io.StringIO(response.getvalue().decode())))
    assert [row["order"] for row in rows] == [str(parcel.pk)]
    assert rows[0]["sku"] == "SPEAKER" and rows[0]["city"] == "Seoul"
    assert rows[0]["full_name"] == "'=HYPERLINK(1)"  # never a formula in the warehouse's spreadsheet


def test_brand_staff_cannot_export_pick_lists(brand_a, owner_a, client):
    parcel = OrderFactory(brand=brand_a, item=CatalogItemFactory(kind="physical"))
    client.force_login(owner_a)

    response = client.post(
        reverse("admin:rewards_order_changelist"),
        {"action": "export_pick_list", ACTION_CHECKBOX_NAME: [str(parcel.pk)]},
    )

    assert response["Content-Type"] != "text/csv; charset=utf-8"
