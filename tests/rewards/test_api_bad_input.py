"""Bad input to the API (DESIGN.md §5, §6 "Nothing lost"): a 400 in the envelope naming the field,
nothing written, and never a 500.

Each case is one request; the database is counted before and after it.
"""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from rewards.models import (
    BrandSpend,
    Campaign,
    CampaignReward,
    CampaignSpend,
    CatalogItem,
    Event,
    LedgerEntry,
    Moment,
    Progress,
)
from tests.factories import ApiKeyFactory, CampaignFactory, CatalogItemFactory

pytestmark = pytest.mark.django_db

EVENTS = "/api/v1/events"
CAMPAIGNS = "/api/v1/campaigns"
ACTION = "workout_completed"
MISSING = object()  # a case that leaves the field out


def snapshot():
    """How many rows every table an API write could touch holds."""
    return {
        model.__name__: model.objects.count()
        for model in (
            Event,
            Progress,
            Moment,
            LedgerEntry,
            Campaign,
            CampaignReward,
            CampaignSpend,
            BrandSpend,
            CatalogItem,
        )
    }


def assert_bad_request(response, field):
    """400, the envelope with type invalid_request_error, and `field` naming the offending field.

    `field` None: the body as a whole is wrong (no field to name). A list item's error may name
    the item too (`rewards.0`).
    """
    assert response.status_code == 400, (response.status_code, response.content[:500])
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert error["type"] == "invalid_request_error", error
    assert isinstance(error["code"], str) and error["code"], error
    assert isinstance(error["message"], str) and error["message"], error
    assert set(error) <= {"type", "code", "message", "field"}, error
    if field is None:
        assert error.get("field") in (None, ""), error
    else:
        assert error.get("field") == field or str(error.get("field")).startswith(f"{field}."), error


def client_for(key) -> APIClient:
    client = APIClient()
    client.raise_request_exception = False  # a crash must answer the 500 it would in production
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.secret}")
    return client


@pytest.fixture
def api(brand_a):
    """A live key of a brand with an active campaign that would grant (and charge) on any valid event."""
    CampaignFactory(brand=brand_a, slug="every-workout", threshold=Decimal("1"), max_per_user=None, active=True)
    return client_for(ApiKeyFactory(brand=brand_a, mode="live"))


def event_with(field, value):
    body = {"event_id": "evt-bad-1", "user_id": "user-1", "action": ACTION, "quantity": 1}
    if value is MISSING:
        body.pop(field, None)
    else:
        body[field] = value
    return body


def test_the_valid_base_event_is_accepted_and_writes(api):
    """The control: the base body of the cases below, unchanged, is a 201 that writes rows."""
    before = snapshot()

    response = api.post(EVENTS, event_with("quantity", 1), format="json")

    assert response.status_code == 201, response.content
    assert len(response.json()["moments"]) == 1
    assert snapshot() != before


# --- POST /api/v1/events: one field wrong -----------------------------------------------------

EVENT_CASES = [
    # missing
    ("event_id", MISSING),
    ("user_id", MISSING),
    ("action", MISSING),
    # empty strings
    ("event_id", ""),
    ("user_id", ""),
    ("action", ""),
    # too long
    ("event_id", "e" * 129),
    ("user_id", "u" * 129),
    ("user_id", "ü" * 129),
    # not strings
    ("event_id", None),
    ("event_id", []),
    ("event_id", ["evt-1"]),
    ("event_id", {}),
    ("event_id", {"id": "evt-1"}),
    ("event_id", True),
    ("user_id", None),
    ("user_id", ["user-1"]),
    ("user_id", {"id": "user-1"}),
    ("user_id", False),
    # characters no database keeps
    ("user_id", "user\x00one"),
    ("event_id", "evt\ud800"),
    # action is a slug
    ("action", "workout completed"),
    ("action", "Workout_Completed"),
    ("action", "WORKOUT"),
    ("action", "a" * 65),
    ("action", "_leading_underscore"),
    ("action", "workout/completed"),
    ("action", None),
    ("action", ["workout_completed"]),
    # quantity: a number > 0, at most 3 decimals
    ("quantity", 0),
    ("quantity", "0"),
    ("quantity", "-0"),
    ("quantity", -1),
    ("quantity", "-0.5"),
    ("quantity", "abc"),
    ("quantity", ""),
    ("quantity", True),
    ("quantity", None),
    ("quantity", 1e12),
    ("quantity", 10**20),
    ("quantity", 0.0001),
    ("quantity", "0.0001"),
    ("quantity", "NaN"),
    ("quantity", "nan"),
    ("quantity", "Infinity"),
    ("quantity", "-Infinity"),
    ("quantity", "1,5"),
    ("quantity", "1e5"),  # a number in a string: held a worker for minutes once
    ("quantity", "5"),
    ("quantity", []),
    ("quantity", {"value": 1}),
    # occurred_at: ISO-8601, not in the future
    ("occurred_at", "yesterday"),
    ("occurred_at", "2024-02-30T10:00:00Z"),
    ("occurred_at", "2024-13-01T00:00:00Z"),
    ("occurred_at", "2999-01-01T00:00:00Z"),
    ("occurred_at", 1700000000),
    ("occurred_at", ""),
    ("occurred_at", None),
    ("occurred_at", ["2024-01-01T00:00:00Z"]),
    ("occurred_at", "9999-12-31T23:59:59-14:00"),
    # country: ISO-3166 alpha-2
    ("country", "XX"),
    ("country", "ZZ"),
    ("country", "USA"),
    ("country", "u"),
    ("country", 12),
    ("country", ""),
    ("country", None),
    ("country", ["US"]),
    ("country", "U1"),
    # properties: a JSON object of at most 16 KB
    ("properties", []),
    ("properties", ["a", "b"]),
    ("properties", "a string"),
    ("properties", 5),
    ("properties", True),
    ("properties", None),
    ("properties", {"padding": "p" * (16 * 1024 + 1)}),
    ("properties", {f"key-{n}": "v" * 100 for n in range(200)}),
    # fields §5 does not name
    ("foo", 1),
    ("moments", []),
    ("brand", "beta-news"),
    ("mode", "live"),
]


@pytest.mark.parametrize(
    "field, value",
    EVENT_CASES,
    ids=[f"{field}={'MISSING' if value is MISSING else repr(value)[:40]}" for field, value in EVENT_CASES],
)
def test_a_bad_event_field_is_400_naming_it_and_writes_nothing(api, field, value):
    # given a body that is right except for one field
    body = event_with(field, value)
    before = snapshot()

    # when it is posted (as JSON text: escapes such as \ud800 travel as JSON sends them)
    response = api.post(EVENTS, json.dumps(body), content_type="application/json")

    # then 400 names the field, and nothing was written
    assert_bad_request(response, field)
    assert snapshot() == before


def test_occurred_at_a_day_ahead_is_in_the_future(api):
    before = snapshot()

    response = api.post(
        EVENTS, event_with("occurred_at", (timezone.now() + timedelta(days=1)).isoformat()), format="json"
    )

    assert_bad_request(response, "occurred_at")
    assert snapshot() == before


NUMBER_CASES = [("event_id", 123), ("event_id", 12.5), ("user_id", 42), ("action", 5)]


@pytest.mark.parametrize("field, value", NUMBER_CASES, ids=[f"{f}={v!r}" for f, v in NUMBER_CASES])
def test_a_number_where_a_string_id_is_due_is_400(api, field, value):
    before = snapshot()

    response = api.post(EVENTS, event_with(field, value), format="json")

    assert_bad_request(response, field)
    assert snapshot() == before


@pytest.mark.parametrize("body", [[], ["evt-1"], "a string", 5, None, True], ids=repr)
def test_an_event_body_that_is_not_an_object_is_400(api, body):
    before = snapshot()

    response = api.post(EVENTS, json.dumps(body), content_type="application/json")

    assert_bad_request(response, None)
    assert snapshot() == before


def test_an_empty_event_body_is_400_for_a_missing_field(api):
    before = snapshot()

    response = api.post(EVENTS, "", content_type="application/json")

    assert_bad_request(response, "event_id")
    assert snapshot() == before


@pytest.mark.parametrize(
    "raw", ["{", "{'event_id': 'x'}", '{"quantity": NaN}', '{"quantity": Infinity}', b"\xff\xfe{}"]
)
def test_an_event_body_that_is_not_json_is_400(api, raw):
    before = snapshot()

    response = api.post(EVENTS, raw, content_type="application/json")

    assert_bad_request(response, None)
    assert snapshot() == before


def test_a_deeply_nested_body_under_1_mb_is_400_not_500(api):
    # given a body nested deeper than any parser recursion allows, still well under the 1 MB limit
    depth = 100_000
    raw = (
        '{"event_id": "e", "user_id": "u", "action": "workout_completed", "properties": {"x": '
        + "[" * depth
        + "]" * depth
        + "}}"
    )
    assert len(raw) < 1024 * 1024
    before = snapshot()

    # when it is posted
    response = api.post(EVENTS, raw, content_type="application/json")

    # then it is bad input, not a crash
    assert_bad_request(response, None)
    assert snapshot() == before


PROPERTIES_STORED_NOWHERE = [
    pytest.param(
        {"note": "nul \u0000 inside"},
        id="nul-in-value",
    ),
    pytest.param(
        {"nul\u0000key": 1},
        id="nul-in-key",
    ),
    pytest.param(
        {"surrogate": "\ud800"},
        id="lone-surrogate",
    ),
    pytest.param(
        {"huge": float("inf")},
        id="overflowing-number",
    ),
]


@pytest.mark.parametrize("properties", PROPERTIES_STORED_NOWHERE)
def test_properties_no_database_can_store_are_refused_never_500(api, properties):
    """Free-form properties: what the JSON column cannot hold is a clean 400, never a crash."""
    # given properties a JSON column may refuse (sent as raw JSON; 1e999 overflows to inf when read)
    raw = json.dumps(event_with("properties", properties)).replace("Infinity", "1e999")
    before = snapshot()

    # when posted
    response = api.post(EVENTS, raw, content_type="application/json")

    # then a clean 400 that wrote nothing, refused where properties are checked (naming them) or
    # where the body is read (no field)
    assert response.status_code == 400, response.content
    assert_bad_request(response, response.json()["error"].get("field") and "properties")
    assert snapshot() == before


def test_a_batch_item_with_unstorable_properties_sinks_no_other_item(api):
    # given a batch of a good event and one whose properties hold a NUL character
    raw = json.dumps(
        {
            "events": [
                {"event_id": "good", "user_id": "user-1", "action": ACTION},
                {"event_id": "nul", "user_id": "user-2", "action": ACTION, "properties": {"note": "a\u0000b"}},
            ]
        }
    )

    # when it is posted
    response = api.post("/api/v1/events/batch", raw, content_type="application/json")

    # then the good event is recorded and the other refused on its own
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert results[0]["status"] == 201
    assert results[1]["status"] == 400 and results[1]["error"]["field"] == "properties"
    assert Event.objects.filter(event_id="good").exists() and not Event.objects.filter(event_id="nul").exists()


@pytest.mark.parametrize(
    "path, body, field, code",
    [
        (EVENTS, {**event_with("quantity", 1), "foo": 1}, "foo", "unknown_field"),
        ("/api/v1/events/batch", {"events": [event_with("quantity", 1)], "foo": 1}, "foo", "unknown_field"),
        (CAMPAIGNS, {"status": "active"}, "status", "read_only"),
        (CAMPAIGNS, {"spent_this_month": "0.00"}, "spent_this_month", "read_only"),
        (CAMPAIGNS, {"budget": "10.00"}, "budget", "unknown_field"),
    ],
    ids=["event-unknown", "batch-unknown", "campaign-status", "campaign-spent", "campaign-unknown"],
)
def test_unknown_and_read_only_fields_have_their_codes(api, path, body, field, code):
    if path == CAMPAIGNS:
        CatalogItemFactory(sku="GC-10-USD")
        body = {**campaign_with("name", "Fine"), **body}
    before = snapshot()

    response = api.post(path, body, format="json")

    assert_bad_request(response, field)
    assert response.json()["error"]["code"] == code
    assert snapshot() == before


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "events"),
        ({"events": None}, "events"),
        ({"events": "evt-1"}, "events"),
        ({"events": {"event_id": "evt-1"}}, "events"),
        ({"events": []}, "events"),
    ],
    ids=repr,
)
def test_a_bad_batch_body_is_400_and_writes_nothing(api, body, field):
    before = snapshot()

    response = api.post("/api/v1/events/batch", body, format="json")

    assert_bad_request(response, field)
    assert snapshot() == before


# --- POST /api/v1/campaigns -------------------------------------------------------------------


@pytest.fixture
def campaign_api(brand_a):
    """A live key of a brand capped at 4,000 USD a month that already has a campaign `taken`."""
    brand_a.monthly_cap = Decimal("4000.00")
    brand_a.save()
    CatalogItemFactory(sku="GC-10-USD")
    CatalogItemFactory(sku="OLD-ITEM", active=False)
    CampaignFactory(brand=brand_a, slug="taken", monthly_budget=Decimal("1000.00"))
    return client_for(ApiKeyFactory(brand=brand_a, mode="live"))


def campaign_with(field, value):
    body = {
        "slug": "new-campaign",
        "name": "New campaign",
        "action": ACTION,
        "threshold": 30,
        "rewards": ["GC-10-USD"],
        "cpa": "5.00",
        "monthly_budget": "1000.00",
    }
    if value is MISSING:
        body.pop(field, None)
    else:
        body[field] = value
    return body


def test_the_valid_base_campaign_is_created(campaign_api):
    """The control: the base body of the cases below is a 201."""
    response = campaign_api.post(CAMPAIGNS, campaign_with("name", "New campaign"), format="json")

    assert response.status_code == 201, response.content


CAMPAIGN_CASES = [
    # required
    ("slug", MISSING),
    ("name", MISSING),
    ("action", MISSING),
    ("threshold", MISSING),
    ("rewards", MISSING),
    ("cpa", MISSING),
    # cpa: money >= 3.00, two decimals
    ("cpa", "2.99"),
    ("cpa", "3.001"),
    ("cpa", "0"),
    ("cpa", "-5.00"),
    ("cpa", "abc"),
    ("cpa", "NaN"),
    ("cpa", None),
    # monthly_budget: <= 5000.00, <= the brand's cap, >= one CPA
    ("monthly_budget", "5000.01"),
    ("monthly_budget", "4500.00"),  # above this brand's 4,000 cap
    ("monthly_budget", "4.99"),  # less than one CPA of 5.00
    ("monthly_budget", "100.001"),
    ("monthly_budget", "-1"),
    ("monthly_budget", "abc"),
    ("monthly_budget", "99999999999999"),
    # threshold: a number > 0
    ("threshold", 0),
    ("threshold", -1),
    ("threshold", "abc"),
    ("threshold", None),
    ("threshold", 0.0001),
    ("threshold", 1e13),
    ("threshold", "Infinity"),
    # rewards: SKUs of active catalog items, at least one
    ("rewards", []),
    ("rewards", ["NO-SUCH-SKU"]),
    ("rewards", ["OLD-ITEM"]),
    ("rewards", ["GC-10-USD", "NO-SUCH-SKU"]),
    ("rewards", "GC-10-USD"),
    ("rewards", None),
    ("rewards", [None]),
    ("rewards", [{"sku": "GC-10-USD"}]),
    ("rewards", ["X" * 49]),
    # dates
    ("starts_at", "garbage"),
    ("ends_at", "next tuesday"),
    # counting: sum or max
    ("counting", "average"),
    ("counting", "MAX"),
    ("counting", ""),
    ("counting", None),
    ("counting", 1),
    ("counting", ["max"]),
    # claim window 1..365
    ("claim_window_days", 0),
    ("claim_window_days", 366),
    ("claim_window_days", -1),
    ("claim_window_days", "abc"),
    ("claim_window_days", None),
    ("claim_window_days", 1.5),
    # limits
    ("max_per_user", 0),
    ("max_per_user", -1),
    ("max_per_user", "many"),
    ("max_per_user", 10**20),
    ("max_moments", 0),
    ("max_moments", -3),
    ("max_moments", 10**20),
    # excluded countries: alpha-2 codes
    ("excluded_countries", ["XX"]),
    ("excluded_countries", ["FR", "XX"]),
    ("excluded_countries", ["USA"]),
    ("excluded_countries", "FR"),
    ("excluded_countries", [None]),
    ("excluded_countries", [12]),
    ("excluded_countries", None),
    # slug: unique per brand, a slug
    ("slug", "taken"),
    ("slug", "Bad Slug"),
    ("slug", "UPPER"),
    ("slug", "-leading"),
    ("slug", "double--hyphen"),
    ("slug", "ünïcode"),
    ("slug", ""),
    ("slug", "s" * 51),
    ("slug", None),
    # name
    ("name", ""),
    ("name", None),
    ("name", "n" * 121),
    ("name", "nul\x00name"),
    # action: a slug
    ("action", "Bad Action"),
    ("action", ""),
    ("action", "a" * 65),
    # read-only and unknown fields
    ("status", "draft"),
    ("status", "active"),
    ("spent_this_month", "0.00"),
    ("foo", 1),
    ("brand", "beta-news"),
    ("id", "00000000-0000-4000-8000-000000000000"),
]


@pytest.mark.parametrize(
    "field, value",
    CAMPAIGN_CASES,
    ids=[f"{field}={'MISSING' if value is MISSING else repr(value)[:40]}" for field, value in CAMPAIGN_CASES],
)
def test_a_bad_campaign_field_is_400_naming_it_and_creates_nothing(campaign_api, field, value):
    # given a campaign body right except for one field
    body = campaign_with(field, value)
    before = snapshot()

    # when it is posted
    response = campaign_api.post(CAMPAIGNS, body, format="json")

    # then 400 names the field and nothing is created
    assert_bad_request(response, field)
    assert snapshot() == before


@pytest.mark.parametrize("gap", [timedelta(0), timedelta(days=-1)], ids=["equal", "before"])
def test_ends_at_not_after_starts_at_is_400_on_ends_at(campaign_api, gap):
    starts = timezone.now() + timedelta(days=3)
    body = {**campaign_with("starts_at", starts.isoformat()), "ends_at": (starts + gap).isoformat()}
    before = snapshot()

    response = campaign_api.post(CAMPAIGNS, body, format="json")

    assert_bad_request(response, "ends_at")
    assert snapshot() == before


@pytest.mark.parametrize("body", [[], [{"slug": "x"}], "campaign", 3, None], ids=repr)
def test_a_campaign_body_that_is_not_an_object_is_400(campaign_api, body):
    before = snapshot()

    response = campaign_api.post(CAMPAIGNS, json.dumps(body), content_type="application/json")

    assert_bad_request(response, None)
    assert snapshot() == before


# --- PATCH /api/v1/campaigns/{slug} -----------------------------------------------------------


def campaign_state(slug):
    campaign = Campaign.objects.get(slug=slug)
    return {
        **{
            name: getattr(campaign, name)
            for name in (
                "slug",
                "name",
                "action",
                "counting",
                "threshold",
                "cpa",
                "monthly_budget",
                "starts_at",
                "ends_at",
                "max_moments",
                "max_per_user",
                "claim_window_days",
                "status",
            )
        },
        "excluded_countries": [c.code for c in campaign.excluded_countries],
        "rewards": list(CampaignReward.objects.filter(campaign=campaign).values_list("item__sku", flat=True)),
    }


PATCH_CASES = [
    ({"cpa": "2.99"}, "cpa"),
    ({"cpa": "3.001"}, "cpa"),
    ({"monthly_budget": "5000.01"}, "monthly_budget"),
    ({"monthly_budget": "4500.00"}, "monthly_budget"),
    ({"threshold": 0}, "threshold"),
    ({"threshold": -1}, "threshold"),
    ({"rewards": []}, "rewards"),
    ({"rewards": ["NO-SUCH-SKU"]}, "rewards"),
    ({"rewards": ["OLD-ITEM"]}, "rewards"),
    ({"ends_at": "2020-01-01T00:00:00Z"}, "ends_at"),  # before the draft's start
    ({"claim_window_days": 0}, "claim_window_days"),
    ({"claim_window_days": 366}, "claim_window_days"),
    ({"max_per_user": 0}, "max_per_user"),
    ({"max_moments": 0}, "max_moments"),
    ({"excluded_countries": ["XX"]}, "excluded_countries"),
    ({"slug": "taken"}, "slug"),
    ({"slug": "Bad Slug"}, "slug"),
    ({"name": ""}, "name"),
    ({"action": "Bad Action"}, "action"),
    ({"counting": "average"}, "counting"),
    ({"status": "active"}, "status"),
    ({"spent_this_month": "1.00"}, "spent_this_month"),
    ({"foo": "bar"}, "foo"),
    ({"name": "Fine", "bogus": 1}, "bogus"),
]


@pytest.mark.parametrize("change, field", PATCH_CASES, ids=[repr(c)[:50] for c, _ in PATCH_CASES])
def test_a_bad_patch_is_400_naming_the_field_and_changes_nothing(campaign_api, brand_a, change, field):
    # given a draft that starts in 2030
    starts = timezone.now().replace(year=2030)
    CampaignFactory(brand=brand_a, slug="draft", monthly_budget=Decimal("1000.00"), starts_at=starts)
    before, state = snapshot(), campaign_state("draft")

    # when a bad change is sent
    response = campaign_api.patch(f"{CAMPAIGNS}/draft", change, format="json")

    # then 400 names the field and the campaign is as it was
    assert_bad_request(response, field)
    assert snapshot() == before
    assert campaign_state("draft") == state


@pytest.mark.parametrize(
    "change, field",
    [({"slug": "renamed"}, "slug"), ({"action": "other_action"}, "action"), ({"counting": "max"}, "counting")],
)
def test_slug_action_and_counting_cannot_change_once_active(campaign_api, brand_a, change, field):
    CampaignFactory(brand=brand_a, slug="live-one", monthly_budget=Decimal("1000.00"), active=True)
    before, state = snapshot(), campaign_state("live-one")

    response = campaign_api.patch(f"{CAMPAIGNS}/live-one", change, format="json")

    assert_bad_request(response, field)
    assert snapshot() == before
    assert campaign_state("live-one") == state


@pytest.mark.parametrize("body", [[], "name", 7, None], ids=repr)
def test_a_patch_body_that_is_not_an_object_is_400(campaign_api, body):
    before, state = snapshot(), campaign_state("taken")

    response = campaign_api.patch(f"{CAMPAIGNS}/taken", json.dumps(body), content_type="application/json")

    assert_bad_request(response, None)
    assert snapshot() == before
    assert campaign_state("taken") == state
