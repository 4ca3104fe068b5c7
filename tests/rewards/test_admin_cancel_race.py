"""The console's "cancel moments" action racing a claim: the operator's list said "earned", the
customer claimed in between. The moment stays claimed, nothing is refunded, and the console says
so in a message (never a 500)."""

import threading
import time
from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connection
from django.urls import reverse

from rewards.earning.services import EventInput, events_ingest
from rewards.models import LedgerEntry, Moment
from tests.factories import CampaignFactory
from tests.pg import other_connection

pytestmark = [pytest.mark.needs("postgresql"), pytest.mark.django_db(transaction=True)]


def someone_waits_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


class ClaimLandingMeanwhile(threading.Thread):
    """A claim's transaction from another connection: it marks the moment claimed and holds the
    row until the console's cancel waits on it, then commits, so the cancel's UPDATE finds the
    moment no longer earned (READ COMMITTED re-checks the row it waited for)."""

    def __init__(self, moment_pk):
        super().__init__(daemon=True)
        self.conn = other_connection()
        self.conn.execute(
            "UPDATE rewards_moment SET status = 'claimed', claimed_at = now() WHERE id = %s", [moment_pk]
        )  # not committed: the row is locked, and everyone else still reads it as earned
        self.committed = False

    def run(self):
        try:
            deadline = time.monotonic() + 10
            while not someone_waits_on_a_lock() and time.monotonic() < deadline:
                time.sleep(0.02)
            self.conn.commit()
            self.committed = True
        finally:
            self.conn.close()
            connection.close()  # this thread's Django connection (used to poll)


def test_a_moment_claimed_while_it_is_being_cancelled_is_reported_not_a_500(brand_a, owner_a, client):
    campaign = CampaignFactory(brand=brand_a, active=True, threshold=Decimal("1"))
    events_ingest(brand=brand_a, mode="live", events=[EventInput(event_id="e1", user_id="u1", action=campaign.action)])
    moment = Moment.objects.get()
    client.force_login(owner_a)
    client.raise_request_exception = False  # a crash must answer the 500 it would in production
    claim = ClaimLandingMeanwhile(moment.pk)
    claim.start()

    response = client.post(
        reverse("admin:rewards_moment_changelist"),
        {"action": "cancel", ACTION_CHECKBOX_NAME: [str(moment.pk)], "confirm": "yes", "reason": "Fraud"},
        follow=True,
    )
    claim.join(timeout=15)

    assert claim.committed
    assert response.status_code == 200, response.status_code
    messages = [str(message) for message in response.context["messages"]]
    assert any(str(moment.pk) in message and "claimed" in message for message in messages), messages
    moment.refresh_from_db()
    assert moment.status == "claimed"
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REFUND).exists()
