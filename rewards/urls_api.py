from django.urls import path

import config.converters  # noqa: F401  (registers brand_user_id, campaign_slug)
from rewards import api

urlpatterns = [
    path("events", api.EventsApi.as_view(), name="events"),
    path("events/batch", api.EventsBatchApi.as_view(), name="events-batch"),
    path("users/<brand_user_id:user_id>/moments", api.UserMomentsApi.as_view(), name="user-moments"),
    path("moments/<uuid:moment_id>", api.MomentApi.as_view(), name="moment"),
    path("catalog", api.CatalogApi.as_view(), name="catalog"),
    path("campaigns", api.CampaignsApi.as_view(), name="campaigns"),
    path("campaigns/<campaign_slug:slug>", api.CampaignApi.as_view(), name="campaign"),
    path(
        "campaigns/<campaign_slug:slug>/activate",
        api.CampaignMoveApi.as_view(move="activate"),
        name="campaign-activate",
    ),
    path("campaigns/<campaign_slug:slug>/pause", api.CampaignMoveApi.as_view(move="pause"), name="campaign-pause"),
]
