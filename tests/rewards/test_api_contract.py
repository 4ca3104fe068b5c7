"""The public API contract of DESIGN.md §5, tried from outside exactly as written.

Every path, field, status code and error code named in §5 is exercised here through the HTTP
surface (rest_framework's APIClient against the real database); nothing is mocked.
"""

import itertools
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import quote, urlparse

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from rewards.campaigns.services import campaign_pause, campaign_update
from rewards.catalog.selectors import platform_policy_changed
from rewards.models import (
    BrandSpend,
    Campaign,
    CampaignSpend,
    Event,
    LedgerEntry,
    Moment,
    PlatformPolicy,
    Progress,
)
from rewards.moments.services import moment_cancel
from tests.factories import ApiKeyFactory, CampaignFactory, CatalogItemFactory

pytestmark = pytest.mark.django_db

API = "/api/v1"
EVENTS = f"{API}/events"
BATCH = f"{API}/events/batch"
CATALOG = f"{API}/catalog"
CAMPAIGNS = f"{API}/campaigns"
ACTION = "workout_completed"

MOMENT_KEYS = {"id", "campaign", "user_id", "status", "claim_url", "expires_at", "mode"}
PROGRESS_KEYS = {"campaign", "count", "threshold", "blocked"}
EVENT_KEYS = {"event_id", "moments", "progress", "warnings"}
CATALOG_KEYS = {"sku", "name", "kind", "value", "image_url", "countries"}
CAMPAIGN_KEYS = {
    "slug",
    "name",
    "action",
    "counting",
    "threshold",
    "rewards",
    "cpa",
    "monthly_budget",
    "starts_at",
    "ends_at",
    "max_moments",
    "max_per_user",
    "excluded_countries",
    "claim_window_days",
    "status",
    "spent_this_month",
    "mode",
}
MONEY = re.compile(r"^\d+\.\d{2}$")
_ids = itertools.count(1)


# --- helpers ----------------------------------------------------------------------------------


def client_for(key) -> APIClient:
    client = APIClient()
    client.raise_request_exception = False  # a crash must show as the 500 it would be in production
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.secret}")
    return client


def anonymous() -> APIClient:
    client = APIClient()
    client.raise_request_exception = False
    return client


def event(**fields) -> dict:
    body = {"event_id": f"evt-{next(_ids)}", "user_id": "user-1", "action": ACTION}
    body.update(fields)
    return body


def post_event(api, **fields):
    return api.post(EVENTS, event(**fields), format="json")


def assert_envelope(response, status, code, error_type, field=None):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json", response["Content-Type"]
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert error["type"] == error_type, error
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"], error
    assert set(error) <= {"type", "code", "message", "field"}, error
    if field is not None:
        assert error.get("field") == field, error
    return error


def progress_of(body, slug):
    [item] = [item for item in body["progress"] if item["campaign"] == slug]
    return item


def parse_time(value: str) -> datetime:
    assert value.endswith("Z"), value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def follow_all(api, url):
    """Every item of a paginated list, following `next` until it is null; also the pages seen."""
    items, pages = [], 0
    while url:
        response = api.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        assert set(body) == {"results", "next"}, body
        items += body["results"]
        url = body["next"]
        pages += 1
        assert pages < 100, "pagination does not end"
    return items, pages


def set_platform_excluded(codes):
    policy, _ = PlatformPolicy.objects.get_or_create(pk=1)
    policy.excluded_countries = codes
    policy.save()
    platform_policy_changed()


def rows():
    return {
        model.__name__: model.objects.count()
        for model in (Event, Progress, Moment, LedgerEntry, Campaign, CampaignSpend, BrandSpend)
    }


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def live_key(brand_a):
    return ApiKeyFactory(brand=brand_a, mode="live")


@pytest.fixture
def test_key(brand_a):
    return ApiKeyFactory(brand=brand_a, mode="test")


@pytest.fixture
def api(live_key):
    return client_for(live_key)


@pytest.fixture
def test_api(test_key):
    return client_for(test_key)


@pytest.fixture
def api_b(brand_b):
    return client_for(ApiKeyFactory(brand=brand_b, mode="live"))


# --- POST /api/v1/events ----------------------------------------------------------------------


def test_a_new_event_is_201_with_the_event_body_and_a_moment_of_the_contracted_shape(brand_a, api):
    # given an active campaign: 3 workouts earn a moment
    campaign = CampaignFactory(brand=brand_a, slug="three-workouts", threshold=Decimal("3"), active=True)
    post_event(api, quantity=2)
    before = timezone.now()

    # when the third workout arrives
    response = post_event(api, event_id="evt-third", quantity=1)

    # then it is new (201), and earned one moment of exactly the contracted shape
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == EVENT_KEYS
    assert body["event_id"] == "evt-third"
    [moment] = body["moments"]
    assert set(moment) == MOMENT_KEYS
    assert moment["campaign"] == campaign.slug == "three-workouts"
    assert moment["user_id"] == "user-1"
    assert moment["status"] == "earned"
    assert moment["mode"] == "live"
    assert Moment.objects.filter(pk=moment["id"]).exists()
    expires = parse_time(moment["expires_at"])
    assert before + timedelta(days=30) - timedelta(minutes=1) <= expires <= timezone.now() + timedelta(days=30)
    assert body["progress"] == [{"campaign": "three-workouts", "count": 3, "threshold": 3, "blocked": None}]


def test_the_claim_url_opens_the_storefront_and_a_changed_token_is_404(brand_a, api):
    # given a moment earned through the API
    CampaignFactory(brand=brand_a, threshold=Decimal("1"), active=True)
    [moment] = post_event(api).json()["moments"]

    # when its claim URL is opened (and one with a changed token)
    url = urlparse(moment["claim_url"])
    assert url.scheme in {"http", "https"} and url.netloc
    match = re.fullmatch(r"/claim/([^/]+)", url.path)
    assert match, moment["claim_url"]
    token = match.group(1)
    changed = token[:-1] + ("A" if token[-1] != "A" else "B")
    storefront = Client()
    opened = storefront.get(url.path)
    forged = storefront.get(f"/claim/{changed}")

    # then the real one answers 200 and the altered one 404
    assert opened.status_code == 200
    assert forged.status_code == 404


def test_progress_lists_every_active_campaign_on_the_action_and_only_those(brand_a, api):
    # given two active campaigns on the action, a paused one, a draft one and one on another action
    CampaignFactory(brand=brand_a, slug="active-one", threshold=Decimal("10"), active=True)
    CampaignFactory(brand=brand_a, slug="active-two", threshold=Decimal("2.5"), active=True)
    paused = CampaignFactory(brand=brand_a, slug="paused-one", active=True)
    campaign_pause(campaign=paused, actor=None)
    CampaignFactory(brand=brand_a, slug="draft-one")
    CampaignFactory(brand=brand_a, slug="other-action", action="level_reached", active=True)

    # when an event of that action arrives
    response = post_event(api, quantity=2)

    # then progress has one item per active campaign on that action, numbers as JSON numbers
    assert response.status_code == 201
    progress = response.json()["progress"]
    assert sorted(item["campaign"] for item in progress) == ["active-one", "active-two"]
    for item in progress:
        assert set(item) == PROGRESS_KEYS
        assert item["blocked"] is None
        assert item["count"] == 2 and isinstance(item["count"], int)
    assert progress_of(response.json(), "active-one")["threshold"] == 10
    assert progress_of(response.json(), "active-two")["threshold"] == 2.5


def test_an_event_no_campaign_watches_is_201_with_empty_lists(brand_a, api):
    response = post_event(api, action="nothing_watches_this")

    assert response.status_code == 201
    assert response.json()["moments"] == [] and response.json()["progress"] == []


def test_a_replay_with_the_same_body_is_200_with_the_identical_body(brand_a, api):
    # given an event that earned a moment
    CampaignFactory(brand=brand_a, threshold=Decimal("1"), active=True)
    body = event(event_id="evt-replayed", quantity=1, country="US", properties={"b": 2, "a": [1, "x"]})
    first = api.post(EVENTS, body, format="json")
    written = rows()

    # when the very same body is posted again
    replay = api.post(EVENTS, body, format="json")

    # then it is 200 with exactly the first answer, and nothing more is written
    assert first.status_code == 201
    assert replay.status_code == 200
    assert replay.json() == first.json()
    assert len(replay.json()["moments"]) == 1
    assert rows() == written


def test_the_same_event_id_with_another_body_is_409_idempotency_conflict(brand_a, api):
    # given an event already recorded
    CampaignFactory(brand=brand_a, threshold=Decimal("1"), active=True)
    assert post_event(api, event_id="evt-once", user_id="user-1").status_code == 201
    written = rows()

    # when the same event_id comes with another body
    response = post_event(api, event_id="evt-once", user_id="user-2")

    # then it is a conflict, in the envelope, and nothing is written
    assert_envelope(response, 409, "idempotency_conflict", "conflict_error")
    assert rows() == written
    assert not Moment.objects.filter(user_id="user-2").exists()


def test_an_event_id_first_used_in_test_mode_is_a_conflict_in_live_mode_not_a_replay(brand_a, api, test_api):
    # given an event recorded with a test key
    CampaignFactory(brand=brand_a, threshold=Decimal("1"), active=True)
    assert post_event(test_api, event_id="evt-shared").status_code == 201

    # when the live key posts the same body under the same event_id
    response = post_event(api, event_id="evt-shared")

    # then it is not silently swallowed as a replay of the test result
    assert_envelope(response, 409, "idempotency_conflict", "conflict_error")
    assert not Moment.objects.filter(mode="live").exists()


def test_event_ids_are_remembered_per_brand(brand_a, brand_b, api, api_b):
    CampaignFactory(brand=brand_a, threshold=Decimal("1"), active=True)
    CampaignFactory(brand=brand_b, threshold=Decimal("1"), active=True)

    mine = post_event(api, event_id="shared-id")
    theirs = post_event(api_b, event_id="shared-id", user_id="someone-else")

    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert len(mine.json()["moments"]) == len(theirs.json()["moments"]) == 1


def test_expires_at_follows_the_claim_window(brand_a, api):
    CampaignFactory(brand=brand_a, threshold=Decimal("1"), claim_window_days=7, active=True)
    before = timezone.now()

    [moment] = post_event(api).json()["moments"]

    expires = parse_time(moment["expires_at"])
    assert before + timedelta(days=7) <= expires <= timezone.now() + timedelta(days=7)


def test_quantity_defaults_to_one(brand_a, api):
    CampaignFactory(brand=brand_a, slug="counted", threshold=Decimal("5"), active=True)

    first = post_event(api)
    second = post_event(api)

    assert progress_of(first.json(), "counted")["count"] == 1
    assert progress_of(second.json(), "counted")["count"] == 2
    assert Event.objects.get(event_id=first.json()["event_id"]).quantity == Decimal("1")


def test_a_repeat_campaign_grants_at_every_threshold(brand_a, api):
    # given a campaign with no per-user limit: every 2 workouts earn again
    CampaignFactory(brand=brand_a, slug="repeat", threshold=Decimal("2"), max_per_user=None, active=True)

    # when six workouts arrive one by one
    earned = [len(post_event(api).json()["moments"]) for _ in range(6)]

    # then the 2nd, 4th and 6th each earn one moment
    assert earned == [0, 1, 0, 1, 0, 1]
    assert Moment.objects.filter(user_id="user-1").count() == 3


def test_one_event_crossing_two_thresholds_grants_two_moments(brand_a, api):
    CampaignFactory(brand=brand_a, slug="repeat", threshold=Decimal("3"), max_per_user=None, active=True)

    response = post_event(api, quantity=7)

    assert response.status_code == 201
    body = response.json()
    assert len(body["moments"]) == 2
    assert len({moment["id"] for moment in body["moments"]}) == 2
    assert all(set(moment) == MOMENT_KEYS for moment in body["moments"])
    assert progress_of(body, "repeat") == {"campaign": "repeat", "count": 7, "threshold": 3, "blocked": None}


def test_a_campaign_counting_max_answers_with_the_level_reached(brand_a, api):
    # given a game's campaign: reaching level 15 earns, once per level 15
    CampaignFactory(brand=brand_a, slug="level-15", action="level_reached", counting="max", threshold=Decimal("15"))
    assert api.post(f"{CAMPAIGNS}/level-15/activate").status_code == 200

    # when the app reports level 14, then 15, then 9 (a replayed old save)
    bodies = [post_event(api, action="level_reached", quantity=level).json() for level in (14, 15, 9)]

    # then each answer's count is the level reached, 14 then 15 is not 29, and level 15 earns once
    assert [progress_of(body, "level-15")["count"] for body in bodies] == [14, 15, 15]
    assert [len(body["moments"]) for body in bodies] == [0, 1, 0]
    assert progress_of(bodies[2], "level-15") == {"campaign": "level-15", "count": 15, "threshold": 15, "blocked": None}


def test_a_donation_only_campaign_gives_a_fulfilled_moment_with_no_claim_url(brand_a, api):
    donation = CatalogItemFactory(kind="donation")
    CampaignFactory(brand=brand_a, slug="ocean", threshold=Decimal("1"), rewards=[donation.sku], active=True)

    response = post_event(api)

    [moment] = response.json()["moments"]
    assert moment["status"] == "fulfilled"
    assert moment["claim_url"] is None
    assert moment["campaign"] == "ocean"


# --- blocked ----------------------------------------------------------------------------------


def test_blocked_campaign_cap_when_the_monthly_budget_is_spent(brand_a, api):
    # given a budget of two CPAs
    CampaignFactory(
        brand=brand_a,
        slug="capped",
        threshold=Decimal("1"),
        cpa=Decimal("5.00"),
        monthly_budget=Decimal("10.00"),
        active=True,
    )

    # when three users each complete the action
    results = [post_event(api, user_id=f"user-{n}").json() for n in range(3)]

    # then two moments are granted and the third is blocked by the campaign's cap
    assert [len(body["moments"]) for body in results] == [1, 1, 0]
    assert [progress_of(body, "capped")["blocked"] for body in results] == [None, None, "campaign_cap"]
    assert sum(entry.amount for entry in LedgerEntry.objects.all()) == Decimal("10.00")


def test_blocked_brand_cap_when_the_brand_cap_is_spent_over_two_campaigns(brand_a):
    # given a brand capped at 15 USD, and two campaigns with 10 USD budgets on different actions
    brand_a.monthly_cap = Decimal("15.00")
    brand_a.save()
    api = client_for(ApiKeyFactory(brand=brand_a, mode="live"))
    common = {"brand": brand_a, "threshold": Decimal("1"), "cpa": Decimal("5.00"), "monthly_budget": Decimal("10.00")}
    CampaignFactory(slug="first", action="first_action", active=True, **common)
    CampaignFactory(slug="second", action="second_action", active=True, **common)

    # when the first campaign spends 10 and the second 5, then the second is due once more
    spent = [post_event(api, action="first_action", user_id=f"user-{n}").json() for n in range(2)]
    third = post_event(api, action="second_action", user_id="user-3").json()
    fourth = post_event(api, action="second_action", user_id="user-4").json()

    # then the brand's cap stops it even though the second campaign's own budget has room
    assert [len(body["moments"]) for body in spent] == [1, 1]
    assert len(third["moments"]) == 1
    assert fourth["moments"] == []
    assert progress_of(fourth, "second")["blocked"] == "brand_cap"
    assert sum(entry.amount for entry in LedgerEntry.objects.all()) == Decimal("15.00")


def test_blocked_campaign_full_when_the_first_n_are_served(brand_a, api):
    CampaignFactory(brand=brand_a, slug="first-one", threshold=Decimal("1"), max_moments=1, active=True)

    first = post_event(api, user_id="early-bird").json()
    second = post_event(api, user_id="late-comer").json()

    assert len(first["moments"]) == 1
    assert second["moments"] == []
    assert progress_of(second, "first-one")["blocked"] == "campaign_full"


def test_blocked_user_limit_when_the_same_user_crosses_again(brand_a, api):
    CampaignFactory(brand=brand_a, slug="once", threshold=Decimal("1"), max_per_user=1, active=True)

    first = post_event(api).json()
    again = post_event(api).json()

    assert len(first["moments"]) == 1
    assert again["moments"] == []
    assert progress_of(again, "once")["blocked"] == "user_limit"
    assert progress_of(again, "once")["count"] == 2


def test_user_limit_is_reported_only_on_an_event_that_crosses_a_threshold(brand_a, api):
    # given a campaign of 2 units, earned once per user
    CampaignFactory(brand=brand_a, slug="once-per-two", threshold=Decimal("2"), max_per_user=1, active=True)

    # when four units arrive one by one
    bodies = [post_event(api).json() for _ in range(4)]

    # then the 2nd earns, the 3rd crosses nothing (no reason) and the 4th crosses beyond the limit
    assert [len(body["moments"]) for body in bodies] == [0, 1, 0, 0]
    assert [progress_of(body, "once-per-two")["blocked"] for body in bodies] == [None, None, None, "user_limit"]


def test_a_moment_refused_by_the_cap_is_granted_by_a_later_event_once_the_budget_allows(brand_a, api):
    # given a campaign whose budget ran out before user-3's moment
    CampaignFactory(
        brand=brand_a,
        slug="topped-up",
        threshold=Decimal("1"),
        cpa=Decimal("5.00"),
        monthly_budget=Decimal("10.00"),
        active=True,
    )
    for n in range(3):
        post_event(api, user_id=f"user-{n}")
    assert Moment.objects.count() == 2

    # when the brand raises the budget and user-2 acts again
    assert api.patch(f"{CAMPAIGNS}/topped-up", {"monthly_budget": "15.00"}, format="json").status_code == 200
    later = post_event(api, user_id="user-2").json()

    # then the moment owed is granted now, and charged
    assert len(later["moments"]) == 1
    assert progress_of(later, "topped-up")["blocked"] is None
    assert api.get(f"{CAMPAIGNS}/topped-up").json()["spent_this_month"] == "15.00"


def test_blocked_country_excluded_by_the_platform_list(brand_a, api):
    # given the operator excludes Russia
    set_platform_excluded(["RU"])
    CampaignFactory(brand=brand_a, slug="anywhere", threshold=Decimal("1"), active=True)

    # when a user in Russia completes the action (the code in any case)
    response = post_event(api, country="ru")

    # then no moment, blocked country_excluded
    assert response.status_code == 201
    assert response.json()["moments"] == []
    assert progress_of(response.json(), "anywhere")["blocked"] == "country_excluded"
    assert not Moment.objects.exists() and not LedgerEntry.objects.exists()


def test_blocked_country_excluded_by_the_campaign_and_granted_later_from_an_allowed_country(brand_a, api):
    # given a campaign that excludes France itself
    set_platform_excluded(["RU"])
    CampaignFactory(brand=brand_a, slug="not-fr", threshold=Decimal("1"), excluded_countries=["FR"], active=True)

    # when the user crosses the threshold in France, then acts again in the US
    in_france = post_event(api, country="FR").json()
    in_the_us = post_event(api, country="US").json()

    # then the moment owed is refused in France and granted by the later event
    assert in_france["moments"] == []
    assert progress_of(in_france, "not-fr")["blocked"] == "country_excluded"
    assert len(in_the_us["moments"]) == 1
    assert progress_of(in_the_us, "not-fr")["blocked"] is None


def test_blocked_not_started_before_the_start_and_the_event_does_not_count(brand_a, api):
    CampaignFactory(
        brand=brand_a, slug="later", threshold=Decimal("1"), starts_at=timezone.now() + timedelta(days=1), active=True
    )

    response = post_event(api)

    assert response.status_code == 201
    assert response.json()["moments"] == []
    assert progress_of(response.json(), "later") == {
        "campaign": "later",
        "count": 0,
        "threshold": 1,
        "blocked": "not_started",
    }


def test_blocked_ended_after_the_end_and_the_event_does_not_count(brand_a, api):
    # given an active campaign whose end has passed since it was activated
    now = timezone.now()
    campaign = CampaignFactory(
        brand=brand_a,
        slug="over",
        threshold=Decimal("1"),
        starts_at=now - timedelta(days=10),
        ends_at=now + timedelta(hours=1),
        active=True,
    )
    campaign_update(campaign=campaign, data={"ends_at": now - timedelta(days=1)}, actor=None)

    # when an event arrives now
    response = post_event(api)

    # then it is listed as ended and does not count
    assert response.status_code == 201
    assert response.json()["moments"] == []
    assert progress_of(response.json(), "over") == {"campaign": "over", "count": 0, "threshold": 1, "blocked": "ended"}


def test_an_event_dated_before_the_start_is_not_started_even_for_a_running_campaign(brand_a, api):
    now = timezone.now()
    CampaignFactory(
        brand=brand_a, slug="running", threshold=Decimal("1"), starts_at=now - timedelta(days=1), active=True
    )

    response = post_event(api, occurred_at=(now - timedelta(days=2)).isoformat())

    assert progress_of(response.json(), "running")["blocked"] == "not_started"
    assert response.json()["moments"] == []


# --- POST /api/v1/events/batch ----------------------------------------------------------------


def test_a_batch_answers_each_event_in_input_order_and_a_bad_one_sinks_no_other(brand_a, api):
    # given a campaign that rewards every workout
    CampaignFactory(brand=brand_a, slug="each", threshold=Decimal("1"), max_per_user=None, active=True)
    items = [event(event_id="b-1"), event(event_id="b-2", quantity=0), event(event_id="b-3", user_id="user-2")]

    # when they are posted as one batch
    response = api.post(BATCH, {"events": items}, format="json")

    # then each has its own result, in input order, and the bad one alone fails
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"results"}
    results = body["results"]
    assert [result["status"] for result in results] == [201, 400, 201]
    assert set(results[0]) == {"status", "event"} and set(results[2]) == {"status", "event"}
    assert results[0]["event"]["event_id"] == "b-1"
    assert results[2]["event"]["event_id"] == "b-3"
    for result in (results[0], results[2]):
        assert set(result["event"]) == EVENT_KEYS
        [moment] = result["event"]["moments"]
        assert set(moment) == MOMENT_KEYS
    assert set(results[1]) == {"status", "error"}
    error = results[1]["error"]
    assert set(error) == {"type", "code", "message", "field"}
    assert error["type"] == "invalid_request_error"
    assert error["field"] == "quantity"
    assert error["code"] and error["message"]
    assert sorted(Event.objects.values_list("event_id", flat=True)) == ["b-1", "b-3"]


def test_duplicates_inside_a_batch_are_200_for_the_same_body_and_409_for_another(brand_a, api):
    CampaignFactory(brand=brand_a, threshold=Decimal("1"), active=True)
    same = event(event_id="dup")
    other = {**same, "user_id": "someone-else"}

    response = api.post(BATCH, {"events": [same, dict(same), other]}, format="json")

    results = response.json()["results"]
    assert [result["status"] for result in results] == [201, 200, 409]
    assert results[1]["event"] == results[0]["event"]
    assert results[2]["error"]["code"] == "idempotency_conflict"
    assert results[2]["error"]["type"] == "conflict_error"
    assert Event.objects.count() == 1 and Moment.objects.count() == 1


def test_a_batch_replays_events_posted_before_one_by_one(brand_a, api):
    CampaignFactory(brand=brand_a, threshold=Decimal("1"), active=True)
    earlier = event(event_id="single")
    first = api.post(EVENTS, earlier, format="json").json()

    response = api.post(BATCH, {"events": [earlier, {**earlier, "quantity": 9}]}, format="json")

    results = response.json()["results"]
    assert [result["status"] for result in results] == [200, 409]
    assert results[0]["event"] == first


def test_a_batch_of_500_is_accepted(brand_a, api):
    CampaignFactory(brand=brand_a, threshold=Decimal("2"), max_per_user=None, active=True)
    items = [event(event_id=f"many-{n:03d}", user_id=f"user-{n % 7}") for n in range(500)]

    response = api.post(BATCH, {"events": items}, format="json")

    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == 500
    assert all(result["status"] == 201 for result in results)
    assert [result["event"]["event_id"] for result in results] == [item["event_id"] for item in items]
    assert Event.objects.count() == 500


@pytest.mark.parametrize(
    "bad",
    [
        42,
        "text",
        ["a", "list"],
        None,
    ],
    ids=repr,
)
def test_a_batch_item_that_is_not_an_object_is_its_own_400(brand_a, api, bad):
    response = api.post(BATCH, {"events": [event(event_id="fine"), bad, event(event_id="also-fine")]}, format="json")

    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [result["status"] for result in results] == [201, 400, 201]
    assert set(results[1]) == {"status", "error"}
    assert results[1]["error"]["type"] == "invalid_request_error"
    assert results[1]["error"]["code"] and results[1]["error"]["message"]
    assert sorted(Event.objects.values_list("event_id", flat=True)) == ["also-fine", "fine"]


def test_a_batch_of_only_bad_events_is_200_with_every_error_and_writes_nothing(brand_a, api):
    CampaignFactory(brand=brand_a, threshold=Decimal("1"), active=True)
    written = rows()

    response = api.post(
        BATCH, {"events": [event(quantity=-1), event(country="XX"), event(action="Not A Slug")]}, format="json"
    )

    assert response.status_code == 200
    results = response.json()["results"]
    assert [result["status"] for result in results] == [400, 400, 400]
    assert [result["error"]["field"] for result in results] == ["quantity", "country", "action"]
    assert rows() == written


def _outcome(body):
    """An event body without what differs between two brands (ids, claim tokens, times)."""
    return {
        "moments": sorted(
            (m["campaign"], m["user_id"], m["status"], m["mode"], m["claim_url"] is None) for m in body["moments"]
        ),
        "progress": sorted((p["campaign"], p["count"], p["threshold"], p["blocked"]) for p in body["progress"]),
    }


def test_a_batch_counts_and_grants_exactly_as_the_same_events_posted_one_by_one(brand_a, brand_b, api, api_b):
    # given the same campaigns in two brands: repeating, once per user, capped at two CPAs, first two users
    set_platform_excluded(["RU"])
    for brand in (brand_a, brand_b):
        CampaignFactory(brand=brand, slug="repeat", threshold=Decimal("2"), max_per_user=None, active=True)
        CampaignFactory(brand=brand, slug="once", threshold=Decimal("3"), max_per_user=1, active=True)
        CampaignFactory(
            brand=brand,
            slug="capped",
            threshold=Decimal("1"),
            max_per_user=None,
            cpa=Decimal("5.00"),
            monthly_budget=Decimal("10.00"),
            active=True,
        )
        CampaignFactory(brand=brand, slug="first-two", threshold=Decimal("1"), max_moments=2, active=True)
    items = [
        event(event_id="s-01", user_id="u1"),
        event(event_id="s-02", user_id="u2", quantity=5),
        event(event_id="s-03", user_id="u1", quantity=2.5),
        event(event_id="s-04", user_id="u3", country="RU"),
        event(event_id="s-05", user_id="u3", quantity=0.5, country="US"),
        event(event_id="s-06", user_id="u1"),
        event(event_id="s-07", user_id="u4", quantity=4),
        event(event_id="s-08", user_id="u2", action="level_reached"),
        event(event_id="s-09", user_id="u2"),
    ]

    # when brand A sends them as one batch and brand B one by one
    batch = api.post(BATCH, {"events": items}, format="json").json()["results"]
    singles = [api_b.post(EVENTS, item, format="json").json() for item in items]

    # then every event has the same outcome either way, and both brands were charged the same
    assert [result["status"] for result in batch] == [201] * len(items)
    assert [_outcome(result["event"]) for result in batch] == [_outcome(body) for body in singles]
    charged = {
        brand.slug: sum(entry.amount for entry in LedgerEntry.objects.filter(brand=brand))
        for brand in (brand_a, brand_b)
    }
    assert charged[brand_a.slug] == charged[brand_b.slug] > 0
    assert Moment.objects.filter(brand=brand_a).count() == Moment.objects.filter(brand=brand_b).count() > 0


@pytest.mark.parametrize("size", [0, 501])
def test_a_batch_outside_1_to_500_is_400_in_the_envelope(brand_a, api, size):
    items = [event(event_id=f"n-{n}") for n in range(size)]

    response = api.post(BATCH, {"events": items}, format="json")

    assert_envelope(response, 400, response.json()["error"]["code"], "invalid_request_error", field="events")
    assert Event.objects.count() == 0


# --- GET /api/v1/users/{user_id}/moments ------------------------------------------------------


def test_a_users_moments_are_listed_newest_first(brand_a, api):
    # given a user who earned three moments, one after the other, and another user with one
    CampaignFactory(brand=brand_a, threshold=Decimal("1"), max_per_user=None, active=True)
    earned = [post_event(api).json()["moments"][0]["id"] for _ in range(3)]
    post_event(api, user_id="someone-else")

    # when the list is read
    response = api.get(f"{API}/users/user-1/moments")

    # then it has exactly this user's moments, newest first, each of the contracted shape
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"results", "next"}
    assert body["next"] is None
    assert [moment["id"] for moment in body["results"]] == list(reversed(earned))
    assert all(set(moment) == MOMENT_KEYS for moment in body["results"])
    assert {moment["user_id"] for moment in body["results"]} == {"user-1"}


def test_a_users_moments_paginate_with_limit_and_next_visiting_each_once(brand_a, api):
    # given five moments, three of them earned by the same event (the same instant)
    CampaignFactory(brand=brand_a, threshold=Decimal("1"), max_per_user=None, active=True)
    post_event(api)
    post_event(api, quantity=3)
    post_event(api)
    everything = api.get(f"{API}/users/user-1/moments").json()["results"]
    assert len(everything) == 5

    # when the list is walked one item a page, following next until it is null
    visited, pages = follow_all(api, f"{API}/users/user-1/moments?limit=1")

    # then every moment is seen exactly once, in the same order as the whole list
    assert pages == 5
    assert [moment["id"] for moment in visited] == [moment["id"] for moment in everything]


def test_a_user_without_moments_has_an_empty_list(brand_a, api):
    response = api.get(f"{API}/users/nobody/moments")

    assert response.status_code == 200
    assert response.json() == {"results": [], "next": None}


@pytest.mark.parametrize(
    "user_id",
    ["user with spaces", "ünïcødé-用户-🎉", "100%", "a?b=c", "#hash", "dots.and-dashes_", "a+b"],
)
def test_user_ids_with_odd_characters_list_their_moments(brand_a, api, user_id):
    CampaignFactory(brand=brand_a, threshold=Decimal("1"), active=True)
    [moment] = post_event(api, user_id=user_id).json()["moments"]

    response = api.get(f"{API}/users/{quote(user_id, safe='')}/moments")

    assert response.status_code == 200, response.content
    assert [item["id"] for item in response.json()["results"]] == [moment["id"]]
    assert response.json()["results"][0]["user_id"] == user_id


def test_a_user_id_with_a_slash_may_404_but_never_500(brand_a, api):
    CampaignFactory(brand=brand_a, threshold=Decimal("1"), active=True)
    [moment] = post_event(api, user_id="team/42").json()["moments"]

    response = api.get(f"{API}/users/{quote('team/42', safe='')}/moments")

    assert response.status_code in {200, 404}, response.content
    if response.status_code == 200:
        assert [item["id"] for item in response.json()["results"]] == [moment["id"]]
    else:
        assert_envelope(response, 404, response.json()["error"]["code"], "not_found_error")


def test_listed_statuses_follow_the_moment_and_only_earned_ones_have_a_claim_url(brand_a, api):
    # given a user with an earned moment, a cancelled one and a donation given at once
    CampaignFactory(brand=brand_a, slug="repeat", threshold=Decimal("1"), max_per_user=None, active=True)
    donation = CatalogItemFactory(kind="donation")
    CampaignFactory(
        brand=brand_a, slug="give", action="hour_streamed", threshold=Decimal("1"), rewards=[donation.sku], active=True
    )
    [cancelled] = post_event(api).json()["moments"]
    [earned] = post_event(api).json()["moments"]
    [given] = post_event(api, action="hour_streamed").json()["moments"]
    moment_cancel(moment=Moment.objects.get(pk=cancelled["id"]), reason="test of the listing", actor=None)

    # when the user's moments are read
    listed = {m["id"]: m for m in api.get(f"{API}/users/user-1/moments").json()["results"]}

    # then each shows its status, and only the earned one can still be claimed
    assert {m["status"] for m in listed.values()} <= {"earned", "claimed", "fulfilled", "expired", "cancelled"}
    assert (listed[earned["id"]]["status"], bool(listed[earned["id"]]["claim_url"])) == ("earned", True)
    assert (listed[cancelled["id"]]["status"], listed[cancelled["id"]]["claim_url"]) == ("cancelled", None)
    assert (listed[given["id"]]["status"], listed[given["id"]]["claim_url"]) == ("fulfilled", None)
    assert api.get(f"{API}/moments/{cancelled['id']}").json()["status"] == "cancelled"


# --- GET /api/v1/moments/{id} -----------------------------------------------------------------


def test_a_moment_is_read_by_id_in_the_contracted_shape(brand_a, api):
    CampaignFactory(brand=brand_a, slug="by-id", threshold=Decimal("1"), active=True)
    [earned] = post_event(api).json()["moments"]

    response = api.get(f"{API}/moments/{earned['id']}")

    assert response.status_code == 200
    moment = response.json()
    assert set(moment) == MOMENT_KEYS
    assert moment == earned
    parse_time(moment["expires_at"])


def test_an_unknown_a_malformed_and_another_brands_moment_are_the_same_404(brand_a, brand_b, api, api_b):
    # given a moment of brand B
    CampaignFactory(brand=brand_b, threshold=Decimal("1"), active=True)
    [theirs] = post_event(api_b).json()["moments"]

    # when brand A asks for it, for an unknown id, and for something that is no id at all
    foreign = api.get(f"{API}/moments/{theirs['id']}")
    unknown = api.get(f"{API}/moments/00000000-0000-4000-8000-000000000000")
    malformed = api.get(f"{API}/moments/not-a-uuid")

    # then all are 404 in the envelope, and another brand's answers exactly like an unknown one
    assert_envelope(unknown, 404, unknown.json()["error"]["code"], "not_found_error")
    assert_envelope(malformed, 404, malformed.json()["error"]["code"], "not_found_error")
    assert foreign.status_code == 404
    assert foreign.json() == unknown.json()
    assert api_b.get(f"{API}/moments/{theirs['id']}").status_code == 200


def test_test_and_live_moments_are_apart_and_test_moments_charge_only_test_mode(brand_a, api, test_api):
    # given a first-N campaign with one place, live, and its twin in test mode (same slug)
    live_campaign = CampaignFactory(brand=brand_a, slug="apart", threshold=Decimal("1"), max_moments=1, active=True)
    CampaignFactory(brand=brand_a, mode="test", slug="apart", threshold=Decimal("1"), max_moments=1, active=True)

    # when a test key's event earns a moment
    test_body = post_event(test_api).json()
    [test_moment] = test_body["moments"]

    # then it is a test moment, charged to test mode's ledger only, counting against nothing real
    assert test_moment["mode"] == "test"
    assert set(LedgerEntry.objects.values_list("mode", flat=True)) == {"test"}
    assert not CampaignSpend.objects.filter(campaign=live_campaign).exists()
    assert not BrandSpend.objects.filter(mode="live").exists()
    live_campaign.refresh_from_db()
    assert live_campaign.granted_live == 0
    assert api.get(f"{CAMPAIGNS}/apart").json()["spent_this_month"] == "0.00"
    assert test_api.get(f"{CAMPAIGNS}/apart").json()["spent_this_month"] == "5.00"

    # and the live key sees nothing of it, while the live event still gets the one real place
    assert api.get(f"{API}/moments/{test_moment['id']}").status_code == 404
    assert api.get(f"{API}/users/user-1/moments").json()["results"] == []
    live_body = post_event(api).json()
    [live_moment] = live_body["moments"]
    assert live_moment["mode"] == "live"
    assert progress_of(live_body, "apart")["count"] == 1  # test progress is counted apart too
    assert test_api.get(f"{API}/moments/{live_moment['id']}").status_code == 404
    assert [m["id"] for m in test_api.get(f"{API}/users/user-1/moments").json()["results"]] == [test_moment["id"]]
    assert [m["id"] for m in api.get(f"{API}/users/user-1/moments").json()["results"]] == [live_moment["id"]]
    assert test_api.get(f"{API}/moments/{test_moment['id']}").json() == test_moment
    assert LedgerEntry.objects.filter(mode="live").count() == 1


def test_a_test_key_is_not_stopped_by_a_spent_live_budget(brand_a, api, test_api):
    # given a campaign whose live budget (two CPAs) is spent, and its twin in test mode
    rules = {"slug": "spent", "threshold": Decimal("1"), "cpa": Decimal("5.00"), "monthly_budget": Decimal("10.00")}
    CampaignFactory(brand=brand_a, active=True, **rules)
    CampaignFactory(brand=brand_a, mode="test", active=True, **rules)
    for n in range(2):
        assert len(post_event(api, user_id=f"live-{n}").json()["moments"]) == 1
    assert progress_of(post_event(api, user_id="live-3").json(), "spent")["blocked"] == "campaign_cap"

    # when test users earn
    bodies = [post_event(test_api, user_id=f"test-{n}").json() for n in range(2)]

    # then they get test moments, and the real spend is what it was
    assert all(len(body["moments"]) == 1 and body["moments"][0]["mode"] == "test" for body in bodies)
    assert all(progress_of(body, "spent")["blocked"] is None for body in bodies)
    assert sum(entry.amount for entry in LedgerEntry.objects.filter(mode="live")) == Decimal("10.00")
    assert api.get(f"{CAMPAIGNS}/spent").json()["spent_this_month"] == "10.00"
    assert test_api.get(f"{CAMPAIGNS}/spent").json()["spent_this_month"] == "10.00"


# --- GET /api/v1/catalog ----------------------------------------------------------------------


def test_the_catalog_lists_active_items_in_the_contracted_shape(brand_a, api):
    # given active items of every kind, one delivered to two countries, and a withdrawn one
    CatalogItemFactory(sku="PHYS-SPEAKER", kind="physical", value=Decimal("49.9"), countries=["US", "CA"])
    CatalogItemFactory(sku="GC-10-USD", kind="digital_code", value=Decimal("10"))
    CatalogItemFactory(sku="CREDIT-5", kind="credit", value=Decimal("5.00"))
    CatalogItemFactory(sku="DONATE-1", kind="donation", value=Decimal("1.00"))
    CatalogItemFactory(sku="OLD-THING", active=False)

    # when the catalog is read
    response = api.get(CATALOG)

    # then it lists the active items alone, each with exactly the contracted fields
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"results", "next"}
    assert body["next"] is None
    by_sku = {item["sku"]: item for item in body["results"]}
    assert set(by_sku) == {"PHYS-SPEAKER", "GC-10-USD", "CREDIT-5", "DONATE-1"}
    for item in body["results"]:
        assert set(item) == CATALOG_KEYS
        assert isinstance(item["value"], str) and MONEY.match(item["value"]), item
        assert item["kind"] in {"physical", "digital_code", "credit", "donation"}
        assert isinstance(item["countries"], list)
    assert by_sku["PHYS-SPEAKER"]["value"] == "49.90"
    assert by_sku["GC-10-USD"]["value"] == "10.00"
    assert sorted(by_sku["PHYS-SPEAKER"]["countries"]) == ["CA", "US"]
    assert by_sku["GC-10-USD"]["countries"] == []
    assert by_sku["GC-10-USD"]["image_url"] is None


def test_the_catalog_paginates(brand_a, api):
    for n in range(3):
        CatalogItemFactory(sku=f"PAGE-{n}")

    items, pages = follow_all(api, f"{CATALOG}?limit=1")

    assert [item["sku"] for item in items] == ["PAGE-0", "PAGE-1", "PAGE-2"]
    assert pages == 3


def test_lists_take_limit_default_50_at_most_200(brand_a, api):
    CatalogItemFactory.create_batch(205)

    default = api.get(CATALOG).json()
    biggest = api.get(f"{CATALOG}?limit=500").json()

    assert len(default["results"]) == 50 and default["next"]
    assert len(biggest["results"]) == 200 and biggest["next"]
    walked, _ = follow_all(api, f"{CATALOG}?limit=200")
    assert len(walked) == len({item["sku"] for item in walked}) == 205


# --- Campaigns --------------------------------------------------------------------------------


def new_campaign(**overrides):
    item = overrides.pop("item", None) or CatalogItemFactory()
    body = {
        "slug": "thirty-workouts",
        "name": "Thirty workouts",
        "action": ACTION,
        "threshold": 30,
        "rewards": [item.sku],
        "cpa": "3.00",
    }
    body.update(overrides)
    return body


def test_creating_a_campaign_makes_a_draft_with_the_contracted_defaults(brand_a, api):
    # given a catalog item
    item = CatalogItemFactory(sku="GC-25-USD")

    # when a campaign is posted with only the required fields
    response = api.post(CAMPAIGNS, new_campaign(item=item), format="json")

    # then it is a draft with the defaults of §5
    assert response.status_code == 201, response.content
    campaign = response.json()
    assert set(campaign) == CAMPAIGN_KEYS
    assert campaign["slug"] == "thirty-workouts"
    assert campaign["name"] == "Thirty workouts"
    assert campaign["action"] == ACTION
    assert campaign["counting"] == "sum"
    assert campaign["threshold"] == 30 and isinstance(campaign["threshold"], int)
    assert campaign["rewards"] == ["GC-25-USD"]
    assert campaign["cpa"] == "3.00"
    assert campaign["status"] == "draft"
    assert campaign["spent_this_month"] == "0.00"
    assert campaign["monthly_budget"] == "5000.00"
    assert campaign["max_per_user"] == 1
    assert campaign["claim_window_days"] == 30
    assert campaign["excluded_countries"] == []
    assert campaign["starts_at"] is None and campaign["ends_at"] is None and campaign["max_moments"] is None
    assert Campaign.objects.get(brand=brand_a, slug="thirty-workouts").status == "draft"


def test_a_campaign_with_every_field_round_trips(brand_a, api):
    items = [CatalogItemFactory(sku="RW-A"), CatalogItemFactory(sku="RW-B")]
    starts = datetime(2030, 1, 1, tzinfo=UTC)
    body = new_campaign(
        rewards=["RW-B", "RW-A"],
        counting="max",
        threshold="2.5",
        cpa="7.5",
        monthly_budget="1200",
        starts_at=starts.isoformat(),
        ends_at=(starts + timedelta(days=30)).isoformat(),
        max_moments=1000,
        max_per_user=None,
        excluded_countries=["fr", "DE"],
        claim_window_days=60,
    )

    response = api.post(CAMPAIGNS, body, format="json")

    assert response.status_code == 201, response.content
    campaign = response.json()
    assert campaign["rewards"] == [items[1].sku, items[0].sku]
    assert campaign["counting"] == "max"
    assert campaign["threshold"] == 2.5
    assert campaign["cpa"] == "7.50"
    assert campaign["monthly_budget"] == "1200.00"
    assert parse_time(campaign["starts_at"]) == starts
    assert parse_time(campaign["ends_at"]) == starts + timedelta(days=30)
    assert campaign["max_moments"] == 1000
    assert campaign["max_per_user"] is None
    assert sorted(campaign["excluded_countries"]) == ["DE", "FR"]
    assert campaign["claim_window_days"] == 60


def test_a_slug_is_unique_per_brand_only(brand_a, brand_b, api):
    CampaignFactory(brand=brand_b, slug="thirty-workouts")

    response = api.post(CAMPAIGNS, new_campaign(), format="json")

    assert response.status_code == 201, response.content
    assert Campaign.objects.filter(slug="thirty-workouts").count() == 2


def test_campaigns_are_listed_newest_first_and_read_one_by_one(brand_a, brand_b, api):
    CampaignFactory(brand=brand_a, slug="older")
    CampaignFactory(brand=brand_a, slug="newer")
    CampaignFactory(brand=brand_b, slug="theirs")

    listed = api.get(CAMPAIGNS)
    one = api.get(f"{CAMPAIGNS}/older")

    assert listed.status_code == 200
    body = listed.json()
    assert set(body) == {"results", "next"} and body["next"] is None
    assert [campaign["slug"] for campaign in body["results"]] == ["newer", "older"]
    assert all(set(campaign) == CAMPAIGN_KEYS for campaign in body["results"])
    assert one.status_code == 200
    assert set(one.json()) == CAMPAIGN_KEYS
    assert one.json()["slug"] == "older"
    walked, pages = follow_all(api, f"{CAMPAIGNS}?limit=1")
    assert [campaign["slug"] for campaign in walked] == ["newer", "older"] and pages == 2


def test_patch_changes_the_fields_given_and_keeps_the_others(brand_a, api):
    CampaignFactory(brand=brand_a, slug="editable", name="Before", threshold=Decimal("3"), cpa=Decimal("5.00"))

    response = api.patch(f"{CAMPAIGNS}/editable", {"name": "After", "cpa": "6", "threshold": 4.5}, format="json")

    assert response.status_code == 200, response.content
    campaign = response.json()
    assert set(campaign) == CAMPAIGN_KEYS
    assert campaign["name"] == "After"
    assert campaign["cpa"] == "6.00"
    assert campaign["threshold"] == 4.5
    assert campaign["slug"] == "editable" and campaign["status"] == "draft"
    assert api.get(f"{CAMPAIGNS}/editable").json() == campaign


def test_activate_and_pause_move_draft_to_active_to_paused_and_back(brand_a, api):
    CampaignFactory(brand=brand_a, slug="moving")

    activated = api.post(f"{CAMPAIGNS}/moving/activate")
    paused = api.post(f"{CAMPAIGNS}/moving/pause")
    resumed = api.post(f"{CAMPAIGNS}/moving/activate")

    assert [r.status_code for r in (activated, paused, resumed)] == [200, 200, 200]
    assert [r.json()["status"] for r in (activated, paused, resumed)] == ["active", "paused", "active"]
    assert all(set(r.json()) == CAMPAIGN_KEYS for r in (activated, paused, resumed))
    assert Campaign.objects.get(slug="moving").status == "active"


def test_a_drafts_counting_changes_and_an_active_campaigns_does_not(brand_a, api):
    CampaignFactory(brand=brand_a, slug="levels")

    drafted = api.patch(f"{CAMPAIGNS}/levels", {"counting": "max"}, format="json")
    api.post(f"{CAMPAIGNS}/levels/activate")
    refused = api.patch(f"{CAMPAIGNS}/levels", {"counting": "sum"}, format="json")
    unchanged = api.patch(f"{CAMPAIGNS}/levels", {"counting": "max", "name": "Levels"}, format="json")

    assert drafted.status_code == 200 and drafted.json()["counting"] == "max"
    assert_envelope(refused, 400, "immutable", "invalid_request_error", field="counting")
    assert unchanged.status_code == 200 and unchanged.json()["name"] == "Levels"  # the same value is no change
    assert Campaign.objects.get(slug="levels").counting == "max"


def test_an_activated_campaign_counts_events_and_a_paused_one_does_not(brand_a, api):
    CampaignFactory(brand=brand_a, slug="switch", threshold=Decimal("5"))

    assert post_event(api).json()["progress"] == []
    api.post(f"{CAMPAIGNS}/switch/activate")
    assert progress_of(post_event(api).json(), "switch")["count"] == 1
    api.post(f"{CAMPAIGNS}/switch/pause")
    assert post_event(api).json()["progress"] == []


def test_activating_a_campaign_whose_end_has_passed_is_409_invalid_status(brand_a, api):
    now = timezone.now()
    campaign = CampaignFactory(
        brand=brand_a, slug="too-late", starts_at=now - timedelta(days=9), ends_at=now + timedelta(hours=1)
    )
    campaign_update(campaign=campaign, data={"ends_at": now - timedelta(days=1)}, actor=None)

    response = api.post(f"{CAMPAIGNS}/too-late/activate")

    assert_envelope(response, 409, "invalid_status", "conflict_error")
    assert Campaign.objects.get(slug="too-late").status == "draft"


def test_a_change_to_an_active_campaign_applies_to_the_next_event(brand_a, api):
    # given an active campaign of 5 units and a user at 1
    CampaignFactory(brand=brand_a, slug="retuned", threshold=Decimal("5"), active=True)
    assert progress_of(post_event(api).json(), "retuned")["threshold"] == 5

    # when its threshold is lowered to 2 through the API
    assert api.patch(f"{CAMPAIGNS}/retuned", {"threshold": 2}, format="json").status_code == 200
    body = post_event(api).json()

    # then the very next event is counted against the new threshold and earns
    assert progress_of(body, "retuned") == {"campaign": "retuned", "count": 2, "threshold": 2, "blocked": None}
    assert len(body["moments"]) == 1


def test_pausing_a_draft_is_409_invalid_status(brand_a, api):
    CampaignFactory(brand=brand_a, slug="still-draft")

    response = api.post(f"{CAMPAIGNS}/still-draft/pause")

    assert_envelope(response, 409, "invalid_status", "conflict_error")
    assert Campaign.objects.get(slug="still-draft").status == "draft"


@pytest.mark.parametrize(
    "method, suffix",
    [("get", ""), ("patch", ""), ("post", "/activate"), ("post", "/pause")],
)
def test_an_unknown_or_another_brands_campaign_is_the_same_404(brand_a, brand_b, api, method, suffix):
    CampaignFactory(brand=brand_b, slug="theirs")

    unknown = getattr(api, method)(f"{CAMPAIGNS}/no-such-campaign{suffix}", {}, format="json")
    foreign = getattr(api, method)(f"{CAMPAIGNS}/theirs{suffix}", {}, format="json")

    assert_envelope(unknown, 404, unknown.json()["error"]["code"], "not_found_error")
    assert foreign.status_code == 404
    assert foreign.json() == unknown.json()
    assert Campaign.objects.get(slug="theirs").status == "draft"


def test_a_test_key_lists_creates_changes_activates_and_pauses_test_campaigns_only(brand_a, api, test_api):
    # given a live draft and a catalog item
    CampaignFactory(brand=brand_a, slug="live-one", name="Original")
    item = CatalogItemFactory()

    # when a test key creates, changes, activates and pauses a campaign of its own
    created = test_api.post(CAMPAIGNS, new_campaign(slug="tried", item=item), format="json")
    changed = test_api.patch(f"{CAMPAIGNS}/tried", {"name": "Tried again"}, format="json")
    activated = test_api.post(f"{CAMPAIGNS}/tried/activate")
    paused = test_api.post(f"{CAMPAIGNS}/tried/pause")

    # then each works, in test mode, with the same rules as live mode
    assert created.status_code == 201 and created.json()["mode"] == "test"
    assert changed.json()["name"] == "Tried again"
    assert activated.json()["status"] == "active" and paused.json()["status"] == "paused"
    bad = test_api.post(CAMPAIGNS, {**new_campaign(slug="cheap", item=item), "cpa": "2.99"}, format="json")
    assert_envelope(bad, 400, "min_value", "invalid_request_error")
    # and each key sees its own mode's campaigns only: the other's answers like one that does not exist
    assert [c["slug"] for c in test_api.get(CAMPAIGNS).json()["results"]] == ["tried"]
    assert [c["slug"] for c in api.get(CAMPAIGNS).json()["results"]] == ["live-one"]
    assert test_api.get(f"{CAMPAIGNS}/live-one").status_code == 404
    assert test_api.post(f"{CAMPAIGNS}/live-one/activate").status_code == 404
    assert api.get(f"{CAMPAIGNS}/tried").status_code == 404
    assert api.patch(f"{CAMPAIGNS}/tried", {"name": "x"}, format="json").status_code == 404
    assert Campaign.objects.get(slug="live-one").status == "draft"
    # and a live campaign may take the same slug: each mode has its own
    assert api.post(CAMPAIGNS, new_campaign(slug="tried", item=item), format="json").status_code == 201
    assert set(Campaign.objects.filter(slug="tried").values_list("mode", flat=True)) == {"live", "test"}


def test_spent_this_month_equals_what_was_charged(brand_a, api):
    # given a live campaign at 4.25 a moment
    CampaignFactory(brand=brand_a, slug="spender", threshold=Decimal("1"), cpa=Decimal("4.25"), active=True)

    # when three users earn a moment
    for n in range(3):
        assert len(post_event(api, user_id=f"user-{n}").json()["moments"]) == 1

    # then its spend this month is the charged total, as money
    charged = sum(entry.amount for entry in LedgerEntry.objects.filter(campaign__slug="spender"))
    assert charged == Decimal("12.75")
    one = api.get(f"{CAMPAIGNS}/spender").json()
    assert one["spent_this_month"] == "12.75"
    assert [c["spent_this_month"] for c in api.get(CAMPAIGNS).json()["results"]] == ["12.75"]
    for name in ("cpa", "monthly_budget", "spent_this_month"):
        assert isinstance(one[name], str) and MONEY.match(one[name]), (name, one[name])


# --- Errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method, path",
    [
        ("post", EVENTS),
        ("post", BATCH),
        ("get", f"{API}/users/user-1/moments"),
        ("get", f"{API}/moments/00000000-0000-4000-8000-000000000000"),
        ("get", CATALOG),
        ("get", CAMPAIGNS),
        ("post", CAMPAIGNS),
        ("get", f"{CAMPAIGNS}/any"),
        ("patch", f"{CAMPAIGNS}/any"),
        ("post", f"{CAMPAIGNS}/any/activate"),
        ("post", f"{CAMPAIGNS}/any/pause"),
    ],
)
def test_no_key_is_401_in_the_envelope_everywhere(db, method, path):
    response = getattr(anonymous(), method)(path, {}, format="json")

    assert_envelope(response, 401, "missing_api_key", "authentication_error")
    assert not Event.objects.exists()


@pytest.mark.parametrize("path", [EVENTS, BATCH, CAMPAIGNS])
def test_a_body_over_1_mb_is_413_body_too_large(brand_a, api, path):
    padding = "x" * (1024 * 1024 + 10)
    body = event(properties={"padding": padding}) if path == EVENTS else {"events": [event(properties={"p": padding})]}

    response = api.post(path, body, format="json")

    assert_envelope(response, 413, "body_too_large", "invalid_request_error")
    assert not Event.objects.exists()


def test_over_the_rate_limit_is_429_throttled_with_retry_after(brand_a, api, settings):
    # given a limit of 3 requests a minute per key
    settings.API_RATE_LIMITS = {"default": 3, "batch": 3}

    # when the key keeps calling (a minute boundary may reset the window once)
    statuses, throttled = [], None
    for _ in range(10):
        response = api.get(CATALOG)
        statuses.append(response.status_code)
        if response.status_code == 429:
            throttled = response
            break

    # then it is refused with 429, in the envelope, saying when to retry
    assert throttled is not None, statuses
    assert statuses[:3] == [200, 200, 200]
    assert_envelope(throttled, 429, "throttled", "rate_limit_error")
    assert int(throttled["Retry-After"]) >= 0


def test_batches_have_their_own_rate_limit(brand_a, api, settings):
    settings.API_RATE_LIMITS = {"default": 1000, "batch": 1}

    statuses = []
    for n in range(4):
        response = api.post(BATCH, {"events": [event(event_id=f"limited-{n}")]}, format="json")
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert_envelope(response, 429, "throttled", "rate_limit_error")
            assert "Retry-After" in response
            break

    assert 429 in statuses, statuses
    assert post_event(api).status_code == 201  # single events are another bucket


@pytest.mark.parametrize(
    "method, path",
    [("post", EVENTS), ("post", BATCH), ("get", CATALOG), ("get", CAMPAIGNS), ("post", f"{CAMPAIGNS}/any/activate")],
)
def test_a_suspended_brand_is_403_brand_suspended(brand_a, api, method, path):
    CampaignFactory(brand=brand_a, slug="any", threshold=Decimal("1"), active=True)
    brand_a.status = "suspended"
    brand_a.save()
    suspended = client_for(ApiKeyFactory(brand=brand_a, mode="live"))
    written = rows()

    response = getattr(suspended, method)(path, {"events": [event()]} if path == BATCH else event(), format="json")

    assert_envelope(response, 403, "brand_suspended", "permission_error")
    assert rows() == written


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", EVENTS),
        ("put", EVENTS),
        ("get", BATCH),
        ("delete", f"{API}/moments/00000000-0000-4000-8000-000000000000"),
        ("post", CATALOG),
        ("put", f"{CAMPAIGNS}/any"),
        ("delete", f"{CAMPAIGNS}/any"),
        ("get", f"{CAMPAIGNS}/any/activate"),
        ("post", f"{API}/users/user-1/moments"),
    ],
)
def test_a_wrong_method_is_405_in_the_envelope(brand_a, api, method, path):
    response = getattr(api, method)(path)

    assert_envelope(response, 405, response.json()["error"]["code"], "invalid_request_error")


@pytest.mark.parametrize("path", [EVENTS, BATCH, CAMPAIGNS])
def test_invalid_json_is_400_in_the_envelope(brand_a, api, path):
    response = api.post(path, '{"event_id": "x", ', content_type="application/json")

    assert_envelope(response, 400, response.json()["error"]["code"], "invalid_request_error")
    assert not Event.objects.exists()


@pytest.mark.parametrize("path", [EVENTS, BATCH, CAMPAIGNS])
def test_a_json_array_instead_of_an_object_is_400(brand_a, api, path):
    response = api.post(path, [event()], format="json")

    assert_envelope(response, 400, response.json()["error"]["code"], "invalid_request_error")
    assert not Event.objects.exists()


def test_a_body_that_is_not_json_is_415_in_the_envelope(brand_a, api):
    response = api.post(EVENTS, "event_id=x", content_type="application/x-www-form-urlencoded")

    assert_envelope(response, 415, response.json()["error"]["code"], "invalid_request_error")


def test_an_unknown_api_path_is_404_in_the_envelope(brand_a, api):
    response = api.get(f"{API}/no-such-thing")

    assert_envelope(response, 404, response.json()["error"]["code"], "not_found_error")


# --- Schema and docs --------------------------------------------------------------------------


def test_the_schema_is_openapi_3_and_has_every_contracted_path(db):
    response = anonymous().get(f"{API}/schema/?format=json")

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    for path, method in [
        ("/api/v1/events", "post"),
        ("/api/v1/events/batch", "post"),
        ("/api/v1/users/{user_id}/moments", "get"),
        ("/api/v1/catalog", "get"),
        ("/api/v1/campaigns", "get"),
        ("/api/v1/campaigns", "post"),
        ("/api/v1/campaigns/{slug}", "get"),
        ("/api/v1/campaigns/{slug}", "patch"),
        ("/api/v1/campaigns/{slug}/activate", "post"),
        ("/api/v1/campaigns/{slug}/pause", "post"),
        ("/api/v1/me", "get"),
        ("/api/v1/webhooks/test", "post"),
        ("/api/v1/webhook_deliveries", "get"),
        ("/api/v1/webhook_deliveries/{delivery_id}", "get"),
        ("/api/v1/webhook_deliveries/{delivery_id}/redeliver", "post"),
    ]:
        assert method in paths.get(path, {}), (path, method, sorted(paths))
    moment_paths = {"/api/v1/moments/{moment_id}", "/api/v1/moments/{id}"} & set(paths)
    assert moment_paths and "get" in paths[moment_paths.pop()]
    # a campaign's counting rule, as an enum
    counting = schema["components"]["schemas"]["Campaign"]["properties"]["counting"]
    if "$ref" in counting:
        counting = schema["components"]["schemas"][counting["$ref"].rsplit("/", 1)[1]]
    assert counting["enum"] == ["sum", "max"]


def test_the_docs_answer_200_html(db):
    response = anonymous().get(f"{API}/docs/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert b"<html" in response.content.lower()
