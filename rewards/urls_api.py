from django.urls import path

from rewards import api

urlpatterns = [
    path("events", api.EventsApi.as_view(), name="events"),
    path("events/batch", api.EventsBatchApi.as_view(), name="events-batch"),
    path("users/<path:user_id>/moments", api.UserMomentsApi.as_view(), name="user-moments"),
    path("moments/<uuid:moment_id>", api.MomentApi.as_view(), name="moment"),
    path("catalog", api.CatalogApi.as_view(), name="catalog"),
    path("campaigns", api.CampaignsApi.as_view(), name="campaigns"),
    path("campaigns/<str:slug>", api.CampaignApi.as_view(), name="campaign"),
    path("campaigns/<str:slug>/activate", api.CampaignMoveApi.as_view(move="activate"), name="campaign-activate"),
    path("campaigns/<str:slug>/pause", api.CampaignMoveApi.as_view(move="pause"), name="campaign-pause"),
]
