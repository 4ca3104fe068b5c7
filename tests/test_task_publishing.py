"""Tasks publish when the transaction that asked for them commits (config/tasks.py), by themselves."""

import re
from decimal import Decimal
from pathlib import Path

import pytest
from allauth.account.models import EmailAddress
from django.db import transaction

from config.tasks import broker_outage
from rewards.earning.services import EventInput, events_ingest
from rewards.models import Moment, Order
from rewards.tasks import sweep_orders
from storefront import services as storefront_services
from tenants import services
from tests.factories import BrandFactory, CampaignFactory, CatalogItemFactory, UserFactory
from tests.faults.servers import free_port
from tests.workers import PublishTo

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.django_db(transaction=True)
def test_a_task_delayed_in_a_transaction_runs_after_commit_and_never_after_a_rollback(mailoutbox):
    brand = BrandFactory()
    with transaction.atomic():
        services.membership_add(brand=brand, email="first@example.com", role="analyst", actor=None)
        assert mailoutbox == []  # the invitation waits for the commit: the worker could not see the row
    assert [mail.to for mail in mailoutbox] == [["first@example.com"]]

    with pytest.raises(RuntimeError), transaction.atomic():
        services.membership_add(brand=brand, email="second@example.com", role="analyst", actor=None)
        raise RuntimeError("rolled back")
    assert [mail.to for mail in mailoutbox] == [["first@example.com"]]


def test_no_code_hands_a_task_to_on_commit_itself():
    sources = [p for app in ("config", "tenants", "rewards", "storefront") for p in (ROOT / app).rglob("*.py")]
    hand_written = [
        str(path.relative_to(ROOT))
        for path in sources
        if re.search(r"on_commit\(\s*lambda[^\n]*\.(delay|apply_async)\(", path.read_text()) and path.name != "tasks.py"
    ]
    assert hand_written == []


# --- The broker down when a transaction commits (found by tests/faults/test_rabbitmq_restart.py) ---------

# A broker address where nothing listens: every publish to it is refused, as during a restart.
BROKER_DOWN = f"amqp://guest:guest@127.0.0.1:{free_port()}//"


@pytest.fixture
def broker_down():
    with PublishTo("moments-test-nowhere", broker_url=BROKER_DOWN):
        yield
    broker_outage.reset()


@pytest.mark.django_db(transaction=True)
def test_a_claim_committed_while_the_broker_is_down_is_answered_with_its_order(broker_down, caplog):
    """It raised the broker's error after its order was committed: the customer was told the claim
    failed (a 500), and its retry "already claimed". The order is placed; the beat's sweep enqueues it."""
    brand = BrandFactory()
    item = CatalogItemFactory(kind="credit")
    campaign = CampaignFactory(brand=brand, threshold=Decimal("1"), rewards=[item.sku], active=True)
    [earned] = events_ingest(
        brand=brand, mode="live", events=[EventInput(event_id="e1", user_id="u1", action=campaign.action)]
    )
    user = UserFactory()
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)

    order = storefront_services.claim_confirm(
        user=user, moment=Moment.objects.get(pk=earned.body["moments"][0]["id"]), item=item
    )

    assert Order.objects.get(pk=order.pk).status == "placed"
    [logged] = [r for r in caplog.records if r.name == "config.tasks"]
    assert logged.levelname == "ERROR" and f"rewards.tasks.fulfil_order('{order.pk}',)" in logged.getMessage()


@pytest.mark.django_db(transaction=True)
def test_a_commit_asking_for_many_tasks_while_the_broker_is_down_tries_the_broker_once(broker_down, caplog):
    with transaction.atomic():
        for _ in range(20):
            sweep_orders.delay()

    messages = [r.getMessage() for r in caplog.records if r.name == "config.tasks"]
    assert len(messages) == 20
    assert sum("the broker is unavailable" in m for m in messages) == 1  # the one publish tried
    assert sum("the broker was unavailable just now" in m for m in messages) == 19
