"""A PostgreSQL read replica for reports and the console's lists (config/db_router.py), enabled by
DATABASE_REPLICA_URL. Tested with a second alias, `replica`, on the same server and database: every
query is caught on the connection it ran on, so the test sees which way each read and write went."""

from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connections, router, transaction
from django.db.utils import load_backend
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from config.db_router import PRIMARY, REPLICA, ReplicaRouter, replica_reads
from rewards.campaigns import services as campaigns
from rewards.models import Campaign, Moment
from tenants.models import Brand
from tests.factories import ApiKeyFactory, BrandFactory, CampaignFactory
from tests.subprocesses import printed_by_production_settings

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.needs("postgresql")


@pytest.fixture
def replica(transactional_db, settings):
    """The router installed, and `replica` a second connection to the test database (what
    DATABASE_REPLICA_URL makes in production). Transactional: a replica sees committed rows only."""
    settings_dict = {**connections[PRIMARY].settings_dict}
    # Made by hand, not declared in DATABASES: Django's test case lets such a connection through.
    connections[REPLICA] = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, REPLICA)
    settings.DATABASE_ROUTERS = ["config.db_router.ReplicaRouter"]
    yield
    connections[REPLICA].close()
    del connections[REPLICA]


class Queries:
    """The SQL each connection ran inside the block."""

    def __enter__(self):
        self.captures = {alias: CaptureQueriesContext(connections[alias]) for alias in (PRIMARY, REPLICA)}
        for capture in self.captures.values():
            capture.__enter__()
        return self

    def __exit__(self, *exc):
        for capture in self.captures.values():
            capture.__exit__(*exc)

    def on(self, alias) -> list[str]:
        return [query["sql"] for query in self.captures[alias].captured_queries]

    def tables_on(self, alias) -> set[str]:
        tables = {"rewards_campaign", "rewards_moment", "tenants_user", "tenants_membership", "django_session"}
        return {table for table in tables for sql in self.on(alias) if f'"{table}"' in sql}


@pytest.fixture
def scene(replica):
    brand = BrandFactory()
    campaign = CampaignFactory(brand=brand, threshold=Decimal("1"), active=True)
    return brand, campaign


def test_the_consoles_lists_read_from_the_replica_and_who_you_are_from_the_primary(scene, client, operator):
    client.force_login(operator)
    with Queries() as queries:
        response = client.get(reverse("admin:rewards_campaign_changelist"))

    assert response.status_code == 200
    assert scene[1].name in response.content.decode()
    assert "rewards_campaign" in queries.tables_on(REPLICA)
    assert queries.tables_on(PRIMARY) >= {"django_session", "tenants_user"}
    assert not queries.tables_on(PRIMARY) & {"rewards_campaign", "rewards_moment"}
    assert not queries.tables_on(REPLICA) & {"django_session", "tenants_user", "tenants_membership"}


def test_a_report_and_its_streamed_csv_read_from_the_replica(scene, client, operator):
    _brand, campaign = scene
    client.force_login(operator)
    with Queries() as queries:
        report = client.get(reverse("admin:rewards_campaignreport_change", args=[campaign.pk]))
    with Queries() as streamed:
        csv = client.get(reverse("admin:rewards_campaignreport_moments_csv", args=[campaign.pk]))
        body = b"".join(csv.streaming_content)  # read after the view returned, as a server sends it

    assert report.status_code == 200 and csv.status_code == 200 and body.startswith(b"moment,")
    assert "rewards_campaign" in queries.tables_on(REPLICA)
    assert not queries.tables_on(PRIMARY) & {"rewards_campaign", "rewards_moment"}
    assert "rewards_moment" in streamed.tables_on(REPLICA)
    assert "rewards_moment" not in streamed.tables_on(PRIMARY)


def test_a_bulk_action_posted_to_the_same_list_runs_on_the_primary(scene, client, operator):
    _brand, campaign = scene
    client.force_login(operator)
    with Queries() as queries:
        response = client.post(
            reverse("admin:rewards_campaign_changelist"), {"action": "pause", "_selected_action": [str(campaign.pk)]}
        )

    assert response.status_code == 302
    assert Campaign.objects.get(pk=campaign.pk).status == "paused"
    assert queries.on(REPLICA) == []


def test_writes_and_every_read_inside_a_transaction_stay_on_the_primary(scene):
    _brand, campaign = scene
    with replica_reads(), Queries() as queries:
        assert Campaign.objects.filter(pk=campaign.pk).count() == 1  # outside a transaction: the replica
        read_outside = list(queries.on(REPLICA))
        campaigns.campaign_pause(campaign=campaign, actor=None)  # select_for_update, then an update
        with transaction.atomic():
            Campaign.objects.filter(pk=campaign.pk).exists()  # a plain read, but in a transaction
            Brand.objects.filter(pk=campaign.brand_id).update(name="Renamed")
        Moment.objects.filter(campaign=campaign).update(status="expired")  # a write outside one

    assert len(read_outside) == 1 and '"rewards_campaign"' in read_outside[0]
    assert queries.on(REPLICA) == read_outside  # nothing after it went to the replica
    assert any("FOR UPDATE" in sql for sql in queries.on(PRIMARY))
    assert ReplicaRouter().db_for_write(Campaign) == PRIMARY
    with replica_reads():
        assert router.db_for_write(Campaign) == PRIMARY
        assert router.db_for_read(Campaign) == REPLICA
        assert router.db_for_read(Brand) == PRIMARY  # who may do what never lags (DATABASE_REPLICA_READS)
    assert router.db_for_read(Campaign) == PRIMARY  # nobody asked
    assert not router.allow_migrate(REPLICA, "rewards") and router.allow_migrate(PRIMARY, "rewards")


def test_the_apis_hot_path_never_reads_the_replica(scene, client):
    brand, campaign = scene
    key = ApiKeyFactory(brand=brand, mode="live").secret
    event = {"event_id": "replica-1", "user_id": "u1", "action": campaign.action, "quantity": 1}
    with Queries() as queries:
        posted = client.post(
            "/api/v1/events", event, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}"
        )
        listed = client.get("/api/v1/campaigns", HTTP_AUTHORIZATION=f"Bearer {key}")

    assert posted.status_code == 201 and listed.status_code == 200
    assert queries.on(PRIMARY) and queries.on(REPLICA) == []


def settings_with(**env) -> str:
    return printed_by_production_settings(
        "sorted(s.DATABASES), s.DATABASE_ROUTERS,"
        " s.DATABASES.get('replica', {}).get('HOST'), s.DATABASES.get('replica', {}).get('TEST', {}).get('MIRROR')",
        {"DEBUG": "true", **env},
        drop={"DATABASE_REPLICA_URL"},
    )


def test_database_replica_url_adds_the_replica_and_its_router():
    primary = "postgres://moments@db-primary.internal:5432/moments"
    assert settings_with(DATABASE_URL=primary) == "['default'] [] None None"
    assert settings_with(
        DATABASE_URL=primary, DATABASE_REPLICA_URL="postgres://reader@db-replica.internal/moments"
    ) == ("['default', 'replica'] ['config.db_router.ReplicaRouter'] db-replica.internal default")
