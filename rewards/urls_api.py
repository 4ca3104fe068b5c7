from django.urls import path

import config.converters  # noqa: F401  (registers brand_user_id, campaign_slug)
from rewards.campaigns import api as campaigns_api
from rewards.catalog import api as catalog_api
from rewards.earning import api as events_api
from rewards.moments import api as moments_api
from rewards.sandbox import api as sandbox_api
from rewards.webhooks import api as webhooks_api

urlpatterns = [
    path("events", events_api.EventsApi.as_view(), name="events"),
    path("events/batch", events_api.EventsBatchApi.as_view(), name="events-batch"),
    path("users/<brand_user_id:user_id>/moments", moments_api.UserMomentsApi.as_view(), name="user-moments"),
    path("moments/<uuid:moment_id>", moments_api.MomentApi.as_view(), name="moment"),
    path("catalog", catalog_api.CatalogApi.as_view(), name="catalog"),
    path("campaigns", campaigns_api.CampaignsApi.as_view(), name="campaigns"),
    path("campaigns/<campaign_slug:slug>", campaigns_api.CampaignApi.as_view(), name="campaign"),
    path(
        "campaigns/<campaign_slug:slug>/activate",
        campaigns_api.CampaignMoveApi.as_view(move="activate"),
        name="campaign-activate",
    ),
    path(
        "campaigns/<campaign_slug:slug>/pause",
        campaigns_api.CampaignMoveApi.as_view(move="pause"),
        name="campaign-pause",
    ),
    path("test_clock", sandbox_api.TestClockApi.as_view(), name="test-clock"),
    path("test_clock/advance", sandbox_api.TestClockAdvanceApi.as_view(), name="test-clock-advance"),
    path("webhooks/test", webhooks_api.WebhookTestApi.as_view(), name="webhooks-test"),
    path("webhook_deliveries", webhooks_api.WebhookDeliveriesApi.as_view(), name="webhook-deliveries"),
    path("webhook_deliveries/<uuid:delivery_id>", webhooks_api.WebhookDeliveryApi.as_view(), name="webhook-delivery"),
    path(
        "webhook_deliveries/<uuid:delivery_id>/redeliver",
        webhooks_api.WebhookRedeliverApi.as_view(),
        name="webhook-delivery-redeliver",
    ),
]
