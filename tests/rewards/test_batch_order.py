"""A batch is earned in the order the app sent it, whatever the order of its event ids."""

from decimal import Decimal

import pytest

from rewards import services
from tests.factories import CampaignFactory

pytestmark = pytest.mark.django_db


def test_a_batch_counts_and_grants_in_input_order(brand_a):
    campaign = CampaignFactory(brand=brand_a, threshold=Decimal("2"), active=True)
    events = [
        services.EventInput(event_id=event_id, user_id="u1", action=campaign.action)
        for event_id in ("zz-first-sent", "aa-second-sent")
    ]

    outcomes = services.events_ingest(brand=brand_a, mode="live", events=events)

    first, second = (outcome.body for outcome in outcomes)
    assert [first["progress"][0]["count"], second["progress"][0]["count"]] == [1, 2]
    assert (len(first["moments"]), len(second["moments"])) == (0, 1)


def test_the_same_event_twice_in_one_call_is_new_once_then_a_replay(brand_a):
    campaign = CampaignFactory(brand=brand_a, threshold=Decimal("1"), active=True)
    event = services.EventInput(event_id="twice", user_id="u1", action=campaign.action)

    outcomes = services.events_ingest(brand=brand_a, mode="live", events=[event, event])

    assert [outcome.status for outcome in outcomes] == [201, 200]
    assert outcomes[0].body == outcomes[1].body
