"""The rewards part of the brand console: campaigns under the service's rules, moments, the catalog."""

from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from rewards.earning.services import EventInput, events_ingest
from rewards.models import BrandSpend, Campaign, CampaignSpend, CatalogItem, LedgerEntry, Moment
from tests.factories import CampaignFactory, CatalogItemFactory, MembershipFactory

pytestmark = pytest.mark.django_db


def campaign_form(**overrides):
    item = overrides.pop("item", None) or CatalogItemFactory()
    data = {
        "name": "Thirty workouts",
        "slug": "thirty-workouts",
        "action": "workout_completed",
        "counting": "sum",
        "threshold": "30",
        "reward_items": [str(item.pk)],
        "cpa": "8.00",
        "monthly_budget": "5000.00",
        "max_per_user": "1",
        "claim_window_days": "30",
    }
    data.update(overrides)
    return data


def test_a_manager_creates_a_draft_campaign_for_their_brand(brand_a, brand_b, client):
    manager = MembershipFactory(brand=brand_a, role="manager").user
    client.force_login(manager)

    response = client.post(reverse("admin:rewards_campaign_add"), campaign_form(brand=str(brand_b.pk)))

    assert response.status_code == 302, response.context["adminform"].form.errors
    campaign = Campaign.objects.get(slug="thirty-workouts")
    assert campaign.brand == brand_a and campaign.status == "draft"
    assert [item.sku for item in campaign.rewards.all()] == [CatalogItem.objects.get().sku]


@pytest.mark.parametrize(
    "overrides, field, message",
    [
        ({"cpa": "2.99"}, "cpa", "at least 3.00"),
        ({"monthly_budget": "5000.01"}, "monthly_budget", "at most 5000.00"),
        ({"threshold": "0"}, "threshold", ""),
        ({"slug": "Thirty Workouts"}, "slug", "lowercase"),
        ({"action": "Workout Completed"}, "action", "slug"),
        ({"counting": "average"}, "counting", "valid choice"),
        ({"reward_items": []}, "reward_items", "required"),
        (
            {"starts_at_0": "2030-01-02", "starts_at_1": "00:00", "ends_at_0": "2030-01-01", "ends_at_1": "00:00"},
            "ends_at",
            "after",
        ),
    ],
)
def test_the_admin_applies_the_same_rules_as_the_api(overrides, field, message, owner_a, client):
    client.force_login(owner_a)

    response = client.post(reverse("admin:rewards_campaign_add"), campaign_form(**overrides))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert field in errors and message in " ".join(errors[field]), errors
    assert not Campaign.objects.exists()


def test_a_campaign_that_counts_a_level_is_made_in_the_console_and_says_so(brand_a, owner_a, client):
    client.force_login(owner_a)
    add_page = client.get(reverse("admin:rewards_campaign_add")).content.decode()

    response = client.post(
        reverse("admin:rewards_campaign_add"),
        campaign_form(slug="level-15", action="level_reached", counting="max", threshold="15"),
    )

    assert "the highest quantity reported (reach level 15)" in add_page  # the field's help
    assert response.status_code == 302, response.context["adminform"].form.errors
    campaign = Campaign.objects.get(slug="level-15")
    assert campaign.counting == "max"
    listed = client.get(reverse("admin:rewards_campaign_changelist")).content.decode()
    assert "highest value reported" in listed
    detail = client.get(reverse("admin:rewards_campaign_change", args=[campaign.pk])).content.decode()
    assert '<option value="max" selected>' in detail


def test_a_duplicate_slug_in_the_same_brand_is_refused_but_another_brand_may_use_it(brand_a, brand_b, owner_a, client):
    CampaignFactory(brand=brand_b, slug="thirty-workouts")
    CampaignFactory(brand=brand_a, slug="taken")
    client.force_login(owner_a)

    refused = client.post(reverse("admin:rewards_campaign_add"), campaign_form(slug="taken"))
    accepted = client.post(reverse("admin:rewards_campaign_add"), campaign_form())

    assert "already have a campaign" in " ".join(refused.context["adminform"].form.errors["slug"])
    assert accepted.status_code == 302
    assert Campaign.objects.filter(slug="thirty-workouts").count() == 2


def test_activating_then_editing_keeps_action_slug_and_counting(brand_a, owner_a, client):
    campaign = CampaignFactory(brand=brand_a, slug="fixed", action="workout_completed")
    client.force_login(owner_a)
    client.post(
        reverse("admin:rewards_campaign_changelist"), {"action": "activate", ACTION_CHECKBOX_NAME: [str(campaign.pk)]}
    )
    campaign.refresh_from_db()
    assert campaign.status == "active"

    form = campaign_form(
        item=campaign.rewards.get(), slug="moved", action="run_completed", counting="max", name="Renamed", cpa="9.00"
    )
    response = client.post(reverse("admin:rewards_campaign_change", args=[campaign.pk]), form)

    errors = response.context["adminform"].form.errors
    for field in ("slug", "action", "counting"):
        assert "cannot change" in " ".join(errors[field]), errors
    campaign.refresh_from_db()
    assert (campaign.slug, campaign.action, campaign.counting, campaign.cpa) == (
        "fixed",
        "workout_completed",
        "sum",
        Decimal("5.00"),
    )


def test_pausing_a_draft_says_why_it_cannot(brand_a, owner_a, client):
    campaign = CampaignFactory(brand=brand_a)
    client.force_login(owner_a)

    response = client.post(
        reverse("admin:rewards_campaign_changelist"),
        {"action": "pause", ACTION_CHECKBOX_NAME: [str(campaign.pk)]},
        follow=True,
    )

    assert "cannot become paused" in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.status == "draft"


def test_cancelling_a_moment_asks_for_a_reason_and_credits_the_brand(brand_a, owner_a, client):
    campaign = CampaignFactory(brand=brand_a, active=True, threshold=Decimal("1"))
    outcome = events_ingest(
        brand=brand_a, mode="live", events=[EventInput(event_id="e1", user_id="u1", action=campaign.action)]
    )[0]
    moment = Moment.objects.get(pk=outcome.body["moments"][0]["id"])
    client.force_login(owner_a)
    changelist = reverse("admin:rewards_moment_changelist")

    asked = client.post(changelist, {"action": "cancel", ACTION_CHECKBOX_NAME: [str(moment.pk)]})
    no_reason = client.post(changelist, {"action": "cancel", ACTION_CHECKBOX_NAME: [str(moment.pk)], "confirm": "yes"})
    assert "reason" in asked.content.decode() and Moment.objects.get(pk=moment.pk).status == "earned"
    assert "This field is required" in no_reason.content.decode()

    client.post(
        changelist,
        {"action": "cancel", ACTION_CHECKBOX_NAME: [str(moment.pk)], "confirm": "yes", "reason": "Fraudulent account"},
    )

    moment.refresh_from_db()
    assert (moment.status, moment.cancel_reason) == ("cancelled", "Fraudulent account")
    assert sorted(LedgerEntry.objects.values_list("amount", flat=True)) == [Decimal("-5.00"), Decimal("5.00")]
    assert CampaignSpend.objects.get().spent == BrandSpend.objects.get().spent == Decimal("0.00")


def test_analysts_cannot_cancel_moments(brand_a, client):
    analyst = MembershipFactory(brand=brand_a, role="analyst").user
    campaign = CampaignFactory(brand=brand_a, active=True, threshold=Decimal("1"))
    events_ingest(brand=brand_a, mode="live", events=[EventInput(event_id="e1", user_id="u1", action=campaign.action)])
    moment = Moment.objects.get()
    client.force_login(analyst)

    client.post(
        reverse("admin:rewards_moment_changelist"),
        {"action": "cancel", ACTION_CHECKBOX_NAME: [str(moment.pk)], "confirm": "yes", "reason": "x"},
    )

    assert Moment.objects.get().status == "earned"


def test_the_catalog_and_policy_are_the_operators_alone(owner_a, operator, client):
    item = CatalogItemFactory()
    client.force_login(owner_a)
    assert client.get(reverse("admin:rewards_catalogitem_changelist")).status_code == 403
    assert client.get(reverse("admin:rewards_catalogitem_change", args=[item.pk])).status_code == 403
    assert client.get(reverse("admin:rewards_platformpolicy_changelist")).status_code == 403

    client.force_login(operator)
    assert client.get(reverse("admin:rewards_catalogitem_changelist")).status_code == 200


def test_a_physical_item_without_stock_is_refused_with_a_message(operator, client):
    client.force_login(operator)

    response = client.post(
        reverse("admin:rewards_catalogitem_add"),
        {"sku": "SPEAKER", "name": "Speaker", "kind": "physical", "value": "49.99", "cost": "30.00", "active": "on"},
    )

    assert "needs a stock count" in response.content.decode()
    assert not CatalogItem.objects.exists()


def test_the_operator_creates_a_campaign_for_a_chosen_brand(brand_a, operator, client):
    client.force_login(operator)

    response = client.post(reverse("admin:rewards_campaign_add"), campaign_form(brand=str(brand_a.pk)))

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Campaign.objects.get().brand == brand_a
