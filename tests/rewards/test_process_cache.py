"""The per-process copies of campaigns and policy follow changes made anywhere."""

from decimal import Decimal

import pytest
from django.core.cache import cache

from rewards.campaigns.selectors import active_campaigns_watching, campaign_gives_at_once, campaigns_changed
from rewards.campaigns.services import campaign_activate
from rewards.catalog.selectors import catalog_changed, platform_policy, platform_policy_changed
from rewards.models import Campaign, CatalogItem
from tests.factories import CampaignFactory, CharityFactory

pytestmark = pytest.mark.django_db


def watching(campaign):
    return active_campaigns_watching(campaign.brand_id, campaign.mode, campaign.action)


def test_a_campaign_paused_elsewhere_stops_being_watched_here(brand_a):
    campaign = CampaignFactory(brand=brand_a, active=True)
    assert watching(campaign) == [campaign]  # this process now holds a copy

    # another process pauses it: the row changes and the token is renewed
    Campaign.objects.filter(pk=campaign.pk).update(status="paused")
    campaigns_changed(brand_a.pk, campaign.mode, campaign.action)

    assert watching(campaign) == []


def test_without_a_renewed_token_the_copy_is_kept(brand_a, django_assert_num_queries):
    campaign = CampaignFactory(brand=brand_a, active=True)
    watching(campaign)

    with django_assert_num_queries(0):
        assert watching(campaign) == [campaign]


def test_a_flushed_shared_cache_never_leaves_a_stale_copy_fresh(brand_a):
    campaign = CampaignFactory(brand=brand_a, active=True)
    watching(campaign)
    Campaign.objects.filter(pk=campaign.pk).update(status="paused")  # a change whose renewal was lost

    cache.clear()

    assert watching(campaign) == []


def test_a_catalog_edit_reaches_cached_campaigns(brand_a):
    campaign = CampaignFactory(brand=brand_a, active=True, threshold=Decimal("1"))
    item = campaign.rewards.get()
    assert not campaign_gives_at_once(watching(campaign)[0])

    CatalogItem.objects.filter(pk=item.pk).update(kind="donation", charity=CharityFactory())
    catalog_changed()

    assert campaign_gives_at_once(watching(campaign)[0])


def test_the_policy_copy_follows_an_edit(db):
    assert "RU" in {c.code for c in platform_policy().excluded_countries}
    policy = platform_policy()
    policy.excluded_countries = ["ZA"]
    policy.save()
    platform_policy_changed()

    assert {c.code for c in platform_policy().excluded_countries} == {"ZA"}


def test_activating_through_the_service_is_seen_at_once(brand_a):
    campaign = CampaignFactory(brand=brand_a)
    assert watching(campaign) == []

    campaign_activate(campaign=campaign, actor=None)

    assert watching(campaign) == [campaign]
