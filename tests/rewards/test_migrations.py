"""Migrations that move data, run on a database holding some: rewards 0005 says which month's
counters each existing ledger line moved, and opens each physical item's stock ledger."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = [pytest.mark.needs("postgresql"), pytest.mark.django_db(transaction=True)]

BEFORE = [("rewards", "0004_catalogitem_fulfilment_url"), ("storefront", "0002_order_provider_lease")]
AFTER = [("rewards", "0005_stock_ledger_and_counter_period")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_0005_fills_counter_period_and_opens_the_stock_ledger():
    apps = migrate(BEFORE)
    try:
        Brand = apps.get_model("tenants", "Brand")
        Campaign = apps.get_model("rewards", "Campaign")
        CatalogItem = apps.get_model("rewards", "CatalogItem")
        Moment = apps.get_model("rewards", "Moment")
        LedgerEntry = apps.get_model("rewards", "LedgerEntry")

        brand = Brand.objects.create(slug="old-brand", name="Old brand", monthly_cap=Decimal("15000.00"))
        campaign = Campaign.objects.create(
            brand=brand, slug="c", name="C", action="run", threshold=Decimal("1"), cpa=Decimal("5.00")
        )
        CatalogItem.objects.create(sku="BOX", name="Box", kind="physical", value=1, cost=1, stock=7)
        CatalogItem.objects.create(sku="EMPTY", name="Empty", kind="physical", value=1, cost=1, stock=0)
        CatalogItem.objects.create(sku="CARD", name="Card", kind="digital_code", value=1, cost=1)
        january, february = date(2026, 1, 1), date(2026, 2, 1)

        def moment(sequence):
            return Moment.objects.create(
                brand=brand,
                campaign=campaign,
                mode="live",
                user_id="u",
                sequence=sequence,
                cpa=Decimal("5.00"),
                earned_at=datetime(2026, 1, 20, tzinfo=UTC),
                expires_at=datetime(2026, 2, 20, tzinfo=UTC),
            )

        same_month, next_month = moment(1), moment(2)

        def line(kind, amount, period, moment=None):
            return LedgerEntry.objects.create(
                brand=brand, campaign=campaign, moment=moment, kind=kind, amount=Decimal(amount), period=period
            ).pk

        lines = {
            "charge": line("charge", "5.00", january, same_month),
            "same-month refund": line("refund", "-5.00", january, same_month),
            "late refund": line("refund", "-5.00", february, next_month),
            "fee": line("shipping_fee", "4.99", january),
        }

        apps = migrate(AFTER)
        LedgerEntry = apps.get_model("rewards", "LedgerEntry")
        moved = {name: LedgerEntry.objects.get(pk=pk).counter_period for name, pk in lines.items()}
        assert moved == {"charge": january, "same-month refund": january, "late refund": None, "fee": None}
        StockMovement = apps.get_model("rewards", "StockMovement")
        assert list(StockMovement.objects.values_list("item__sku", "change", "stock_after", "reason")) == [
            ("BOX", 7, 7, "opening")
        ]
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def test_orders_wallets_and_stores_move_to_rewards_with_their_rows():
    """rewards 0006 and storefront 0003: the models change app, the tables and rows stay, and their
    content types (permissions, admin history) follow them."""
    apps = migrate([("rewards", "0005_stock_ledger_and_counter_period"), ("storefront", "0002_order_provider_lease")])
    try:
        Brand = apps.get_model("tenants", "Brand")
        User = apps.get_model("tenants", "User")
        CatalogItem = apps.get_model("rewards", "CatalogItem")
        StoreItem = apps.get_model("storefront", "StoreItem")
        Order = apps.get_model("storefront", "Order")
        OrderEvent = apps.get_model("storefront", "OrderEvent")
        Wallet = apps.get_model("storefront", "Wallet")
        WalletEntry = apps.get_model("storefront", "WalletEntry")
        ContentType = apps.get_model("contenttypes", "ContentType")

        brand = Brand.objects.create(slug="kept", name="Kept", monthly_cap=Decimal("15000.00"))
        user = User.objects.create(email="kept@example.com")
        item = CatalogItem.objects.create(sku="KEPT", name="Kept", kind="digital_code", value=5, cost=4)
        store_item = StoreItem.objects.create(brand=brand, item=item, price=Decimal("5.00"))
        order = Order.objects.create(brand=brand, user=user, item=item, store_item=store_item, credit_spent=5)
        OrderEvent.objects.create(order=order, status="placed")
        wallet = Wallet.objects.create(brand=brand, user=user, balance=Decimal("2.00"))
        WalletEntry.objects.create(brand=brand, wallet=wallet, kind="purchase", amount=Decimal("-5.00"), order=order)
        ContentType.objects.get_or_create(app_label="storefront", model="order")

        apps = migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
        moved = apps.get_model("rewards", "Order").objects.get(pk=order.pk)
        assert (moved.user_id, moved.store_item_id, moved.credit_spent) == (user.pk, store_item.pk, Decimal("5.00"))
        assert list(apps.get_model("rewards", "OrderEvent").objects.values_list("order_id", "status")) == [
            (order.pk, "placed")
        ]
        assert apps.get_model("rewards", "Wallet").objects.get(pk=wallet.pk).balance == Decimal("2.00")
        assert apps.get_model("rewards", "WalletEntry").objects.get(order_id=order.pk).amount == Decimal("-5.00")
        assert apps.get_model("rewards", "StoreItem").objects.get(pk=store_item.pk).price == Decimal("5.00")
        content_types = apps.get_model("contenttypes", "ContentType").objects
        assert content_types.filter(app_label="rewards", model="order").exists()
        assert not content_types.filter(app_label="storefront", model="order").exists()
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def test_0008_claims_the_id_of_every_stored_event_so_that_its_repost_stays_a_replay():
    apps = migrate([("rewards", "0007_reports_and_their_indexes")])
    try:
        Brand = apps.get_model("tenants", "Brand")
        Event = apps.get_model("rewards", "Event")
        brand = Brand.objects.create(slug="keyed-brand", name="Keyed brand", monthly_cap=Decimal("15000.00"))
        now = datetime(2026, 11, 30, tzinfo=UTC)
        stored = [
            Event.objects.create(
                brand=brand,
                event_id=f"before-keys-{n}",
                mode="live",
                body_hash="0" * 64,
                user_id="u",
                action="run",
                quantity=Decimal("1"),
                occurred_at=now,
                received_at=now,
                response={"event_id": f"before-keys-{n}", "moments": [], "progress": []},
            )
            for n in range(3)
        ]

        apps = migrate([("rewards", "0008_event_keys")])

        EventKey = apps.get_model("rewards", "EventKey")
        keys = set(EventKey.objects.filter(brand_id=brand.pk).values_list("row_id", "event_id"))
        assert keys == {(event.pk, event.event_id) for event in stored}
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def test_0011_gives_each_stored_delivery_the_mode_of_the_moment_it_announced():
    apps = migrate([("rewards", "0008_event_keys")])
    try:
        Brand = apps.get_model("tenants", "Brand")
        Campaign = apps.get_model("rewards", "Campaign")
        Moment = apps.get_model("rewards", "Moment")
        WebhookDelivery = apps.get_model("rewards", "WebhookDelivery")
        brand = Brand.objects.create(slug="announced", name="Announced", monthly_cap=Decimal("15000.00"))
        campaign = Campaign.objects.create(
            brand=brand, slug="c", name="C", action="run", threshold=Decimal("1"), cpa=Decimal("5.00")
        )
        now = datetime(2026, 11, 30, tzinfo=UTC)

        def moment(mode, sequence):
            return str(
                Moment.objects.create(
                    brand=brand,
                    campaign=campaign,
                    mode=mode,
                    user_id="u",
                    sequence=sequence,
                    cpa=Decimal("5.00"),
                    earned_at=now,
                    expires_at=now,
                ).pk
            )

        live, test = moment("live", 1), moment("test", 2)

        def delivery(event_type, data):
            return WebhookDelivery.objects.create(
                brand=brand, event_type=event_type, payload={"id": "evt_old", "data": data}
            ).pk

        deliveries = {
            "earned, test": delivery("moment.earned", {"id": test}),
            "earned, live": delivery("moment.earned", {"id": live}),
            "claimed, test": delivery("moment.claimed", {"id": test}),
            "fulfilled, test": delivery("order.fulfilled", {"order": "o", "moment": test}),
            "fulfilled, store": delivery("order.fulfilled", {"order": "o", "moment": None}),
            "capped": delivery("campaign.capped", {"campaign": "c"}),
        }

        apps = migrate([("rewards", "0011_webhook_delivery_attempt_record")])

        WebhookDelivery = apps.get_model("rewards", "WebhookDelivery")
        modes = {name: WebhookDelivery.objects.get(pk=pk).mode for name, pk in deliveries.items()}
        assert modes == {
            "earned, test": "test",
            "earned, live": "live",
            "claimed, test": "test",
            "fulfilled, test": "test",
            "fulfilled, store": "live",
            "capped": "live",
        }
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
