"""A brand developer's sandbox (DESIGN.md §5): test mode as its own world, the test clock, and the
warning that names an action no campaign counts."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from rewards.models import BrandSpend, Campaign, CampaignSpend, LedgerEntry, Moment, WebhookDelivery
from tests.factories import ApiKeyFactory, CampaignFactory, CatalogItemFactory, MembershipFactory

pytestmark = pytest.mark.django_db

API = "/api/v1"


def client_for(key) -> APIClient:
    client = APIClient()
    client.raise_request_exception = False
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.secret}")
    return client


@pytest.fixture
def api(brand_a):
    return client_for(ApiKeyFactory(brand=brand_a, mode="live"))


@pytest.fixture
def test_api(brand_a):
    return client_for(ApiKeyFactory(brand=brand_a, mode="test"))


def post(client, event_id, user_id="u1", action="level_up", **fields):
    return client.post(
        f"{API}/events", {"event_id": event_id, "user_id": user_id, "action": action, **fields}, format="json"
    )


def advance(client, to):
    return client.post(f"{API}/test_clock/advance", {"to": to.isoformat()}, format="json")


def iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


# --- typos show -------------------------------------------------------------------------------


def test_an_event_on_an_action_no_campaign_counts_is_recorded_and_carries_a_warning(brand_a, api, test_api):
    CampaignFactory(brand=brand_a, mode="test", action="level_up")  # a test draft watches it: not a typo

    typo = post(api, "e1", action="level_upp")
    watched = post(api, "e2", action="level_up")
    replay = post(api, "e1", action="level_upp")
    batch = api.post(
        f"{API}/events/batch",
        {
            "events": [
                {"event_id": "b1", "user_id": "u1", "action": "levle_up"},
                {"event_id": "b2", "user_id": "u1", "action": "level_up"},
            ]
        },
        format="json",
    )

    assert typo.status_code == 201
    [warning] = typo.json()["warnings"]
    assert warning["code"] == "unknown_action" and "level_upp" in warning["message"]
    assert (typo.json()["moments"], typo.json()["progress"]) == ([], [])
    assert watched.json()["warnings"] == []
    assert replay.status_code == 200 and replay.json() == typo.json()  # the replay tells the same
    results = batch.json()["results"]
    assert [r["event"]["warnings"] and r["event"]["warnings"][0]["code"] for r in results] == ["unknown_action", []]


def test_a_new_campaign_on_the_action_silences_the_warning_at_once(brand_a, api):
    assert post(api, "e1", action="streak").json()["warnings"]
    CampaignFactory(brand=brand_a, action="streak")  # a live draft: created after the first event
    assert post(api, "e2", action="streak").json()["warnings"] == []


# --- the test clock ---------------------------------------------------------------------------


def test_the_test_clock_is_read_and_moved_with_a_test_key_only(brand_a, api, test_api):
    before = timezone.now()

    read = test_api.get(f"{API}/test_clock")
    live_read = api.get(f"{API}/test_clock")
    live_move = advance(api, before + timedelta(days=1))
    backward = advance(test_api, before - timedelta(hours=1))
    too_far = advance(test_api, before + timedelta(days=4 * 366))

    body = read.json()
    assert set(body) == {"now", "live_now", "advanced_by_seconds"} and body["advanced_by_seconds"] == 0
    for response in (live_read, live_move):
        assert response.status_code == 403 and response.json()["error"]["code"] == "test_key_required"
    for response in (backward, too_far):
        assert response.status_code == 400 and response.json()["error"]["field"] == "to"
    brand_a.refresh_from_db()
    assert brand_a.test_clock_offset == timedelta(0)


def test_moving_the_test_clock_expires_test_moments_with_their_refund_and_webhook_and_leaves_live_alone(
    brand_a, api, test_api, receiver
):
    brand_a.webhook_url = receiver.url
    brand_a.save()
    rules = {"brand": brand_a, "action": "level_up", "threshold": Decimal("1"), "cpa": Decimal("5.00"), "active": True}
    CampaignFactory(claim_window_days=30, **rules)
    CampaignFactory(mode="test", claim_window_days=30, **rules)
    [test_moment] = post(test_api, "t1").json()["moments"]
    [live_moment] = post(api, "l1").json()["moments"]

    moved = advance(test_api, timezone.now() + timedelta(days=31))

    assert moved.status_code == 200, moved.content
    assert moved.json()["expired_moments"] == 1 and moved.json()["advanced_by_seconds"] >= 31 * 86400 - 5
    assert test_api.get(f"{API}/moments/{test_moment['id']}").json()["status"] == "expired"
    # the live clock never moved: the live moment of the same day waits for its real deadline
    assert api.get(f"{API}/moments/{live_moment['id']}").json()["status"] == "earned"
    assert abs(timezone.now() - Moment.objects.get(pk=live_moment["id"]).earned_at) < timedelta(minutes=5)
    refund = LedgerEntry.objects.get(kind="refund")
    assert (refund.mode, str(refund.moment_id), refund.amount) == ("test", test_moment["id"], Decimal("-5.00"))
    assert not LedgerEntry.objects.filter(mode="live", kind="refund").exists()
    [expired] = WebhookDelivery.objects.filter(event_type="moment.expired")
    assert expired.payload["data"]["id"] == test_moment["id"] and expired.payload["data"]["mode"] == "test"
    # and the claim link of the test moment now says it expired
    assert "expired" in APIClient().get(test_moment["claim_url"]).content.decode().lower()


def test_a_test_campaign_capped_this_month_earns_again_once_the_test_clock_reaches_the_next(brand_a, test_api):
    CampaignFactory(
        brand=brand_a,
        mode="test",
        action="level_up",
        threshold=Decimal("1"),
        cpa=Decimal("5.00"),
        monthly_budget=Decimal("5.00"),
        max_per_user=None,
        active=True,
    )
    assert len(post(test_api, "t1").json()["moments"]) == 1
    capped = post(test_api, "t2", user_id="u2").json()
    assert capped["progress"][0]["blocked"] == "campaign_cap"

    now = timezone.now()
    next_month = (now.replace(day=1) + timedelta(days=32)).replace(day=1, hour=0, minute=1)
    assert advance(test_api, next_month).status_code == 200
    again = post(test_api, "t3", user_id="u3").json()

    assert len(again["moments"]) == 1 and again["progress"][0]["blocked"] is None
    periods = set(CampaignSpend.objects.values_list("period", flat=True))
    assert periods == {now.date().replace(day=1), next_month.date().replace(day=1)}
    assert set(BrandSpend.objects.values_list("mode", flat=True)) == {"test"}
    assert Campaign.objects.get(mode="test").status == "active"


def test_test_campaigns_start_and_end_by_the_test_clock(brand_a, api, test_api):
    now = timezone.now()
    item = CatalogItemFactory()
    body = {"name": "Soon", "action": "level_up", "threshold": 1, "rewards": [item.sku], "cpa": "3.00"}
    created = test_api.post(
        f"{API}/campaigns",
        {**body, "slug": "soon", "starts_at": iso(now + timedelta(days=10)), "ends_at": iso(now + timedelta(days=20))},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert test_api.post(f"{API}/campaigns/soon/activate").status_code == 200
    live_twin = {**body, "slug": "soon", "ends_at": iso(now + timedelta(days=20))}
    assert api.post(f"{API}/campaigns", live_twin, format="json").status_code == 201
    assert api.post(f"{API}/campaigns/soon/activate").status_code == 200

    assert post(test_api, "t1").json()["progress"][0]["blocked"] == "not_started"
    advance(test_api, now + timedelta(days=11))
    started = post(test_api, "t2").json()
    ended = advance(test_api, now + timedelta(days=21)).json()

    assert started["progress"][0]["blocked"] is None and len(started["moments"]) == 1
    assert ended["ended_campaigns"] == 1
    assert test_api.get(f"{API}/campaigns/soon").json()["status"] == "ended"
    assert api.get(f"{API}/campaigns/soon").json()["status"] == "active"  # live time has not passed


# --- the console ------------------------------------------------------------------------------


def test_the_consoles_test_data_switch_shows_test_rows_apart_and_copies_a_test_campaign_to_a_live_draft(
    client, brand_a
):
    owner = MembershipFactory(brand=brand_a, role="owner").user
    live = CampaignFactory(brand=brand_a, name="Live thirty", slug="thirty", active=True)
    tried = CampaignFactory(
        brand=brand_a, mode="test", name="Tried thirty", slug="thirty", threshold=Decimal("30"), active=True
    )
    client.force_login(owner)
    changelist = reverse("admin:rewards_campaign_changelist")

    live_page = client.get(changelist).content.decode()
    client.post(reverse("admin:switch_test_data"), {"test_data": "on"})
    test_page = client.get(changelist).content.decode()
    index = client.get(reverse("admin:index")).content.decode()
    live_object = client.get(reverse("admin:rewards_campaign_change", args=[live.pk]))
    blocked = client.post(changelist, {"action": "copy_to_live", ACTION_CHECKBOX_NAME: [tried.pk]})
    client.post(reverse("admin:switch_test_data"), {"test_data": "off"})
    after = client.get(changelist).content.decode()

    assert "Live thirty" in live_page and "Tried thirty" not in live_page
    assert "Tried thirty" in test_page and "Live thirty" not in test_page
    assert 'class="test-data-banner"' in test_page and 'class="test-data-banner"' not in live_page
    assert "data-test-clock" in index
    assert live_object.status_code == 404  # a live row is not found among test data
    assert blocked.status_code == 302
    copy = Campaign.objects.get(mode="live", name="Tried thirty")
    assert (copy.status, copy.slug, copy.threshold) == ("draft", "thirty-2", Decimal("30"))  # the live slug is taken
    assert "Tried thirty" in after
    tried.refresh_from_db()
    assert (tried.mode, tried.status) == ("test", "active")


def test_the_console_moves_the_test_clock_for_owners_and_shows_it_to_analysts(client, brand_a):
    owner = MembershipFactory(brand=brand_a, role="owner").user
    analyst = MembershipFactory(brand=brand_a, role="analyst").user
    url = reverse("admin:test_clock")
    to = (timezone.now() + timedelta(days=40)).strftime("%Y-%m-%dT%H:%M")

    client.force_login(analyst)
    read = client.get(url)
    refused = client.post(url, {"to": to})
    client.force_login(owner)
    moved = client.post(url, {"to": to})

    assert read.status_code == 200 and 'data-page="test-clock"' in read.content.decode()
    assert refused.status_code == 403
    assert moved.status_code == 302
    brand_a.refresh_from_db()
    assert timedelta(days=39) < brand_a.test_clock_offset < timedelta(days=41)


def test_an_event_may_occur_at_the_test_clocks_now_but_a_live_one_not_in_the_future(brand_a, api, test_api):
    later = timezone.now() + timedelta(days=2)
    assert advance(test_api, later).status_code == 200

    at_test_now = post(test_api, "t1", occurred_at=iso(later + timedelta(minutes=1)))
    live_ahead = post(api, "l1", occurred_at=iso(later))
    beyond = post(test_api, "t2", occurred_at=iso(later + timedelta(hours=1)))

    assert at_test_now.status_code == 201, at_test_now.content
    assert live_ahead.status_code == 400 and live_ahead.json()["error"]["code"] == "future"
    assert beyond.status_code == 400 and beyond.json()["error"]["field"] == "occurred_at"


def test_the_schema_names_the_event_answers_warnings(api):
    schema = api.get(f"{API}/schema/?format=json").json()

    assert "warnings" in schema["components"]["schemas"]["EventResult"]["properties"]


def test_the_live_index_neither_warns_of_test_campaigns_nor_loses_live_actions_to_the_test_clock(
    client, brand_a, api, test_api
):
    credit = CatalogItemFactory(kind="credit", value=Decimal("5.00"), cost=Decimal("5.00"))
    CampaignFactory(brand=brand_a, mode="test", name="Tried credit", action="level_up", rewards=[credit.sku])
    post(api, "l1")
    advance(test_api, timezone.now() + timedelta(days=31))
    post(test_api, "t1")
    client.force_login(MembershipFactory(brand=brand_a, role="owner").user)

    live = client.get(reverse("admin:index")).content.decode()
    client.post(reverse("admin:switch_test_data"), {"test_data": "on"})
    test = client.get(reverse("admin:index")).content.decode()

    assert 'data-warning="credit-without-store"' not in live  # the credit campaign is test mode's
    assert 'data-warning="credit-without-store"' in test
    for page in (live, test):  # each mode's 30 days by its own clock: one live and one test event
        row = page.split("<code>level_up</code>", 1)[1].split("</tr>", 1)[0]
        assert re.findall(r'<td class="number">(\d+)</td>', row) == ["1", "1"]
