"""Campaigns as code (DESIGN.md §5): list, read, create, change, activate, pause — each key in
its own mode's campaigns (a test key tries everything in test mode first)."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import NumberField, StrictSerializer, country_code
from rewards import clock
from rewards.campaigns import services as campaigns
from rewards.campaigns.models import Campaign
from rewards.campaigns.selectors import campaign_rewards, campaigns_of
from rewards.ledger.selectors import campaigns_spent_in
from rewards.periods import month_of


class CampaignSerializer(StrictSerializer):
    slug = serializers.CharField(max_length=50)
    name = serializers.CharField(max_length=120)
    action = serializers.CharField(max_length=64)
    counting = serializers.ChoiceField(choices=Campaign.Counting.choices, required=False)
    threshold = NumberField(max_digits=15, decimal_places=3)
    rewards = serializers.ListField(child=serializers.CharField(max_length=48), min_length=1, source="reward_skus")
    cpa = serializers.DecimalField(max_digits=12, decimal_places=2)
    monthly_budget = serializers.DecimalField(max_digits=12, decimal_places=2, required=False)
    starts_at = serializers.DateTimeField(required=False, allow_null=True)
    ends_at = serializers.DateTimeField(required=False, allow_null=True)
    max_moments = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    max_per_user = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    excluded_countries = serializers.ListField(child=serializers.CharField(validators=[country_code]), required=False)
    claim_window_days = serializers.IntegerField(required=False, min_value=1, max_value=365)
    status = serializers.CharField(read_only=True)
    mode = serializers.CharField(read_only=True)
    spent_this_month = serializers.SerializerMethodField()

    def get_spent_this_month(self, campaign) -> str:
        spent = self.context["spent"].get(campaign.pk, 0)
        return f"{spent:.2f}"

    def to_representation(self, campaign):
        campaign.reward_skus = [item.sku for item in campaign_rewards(campaign)]
        return super().to_representation(campaign)

    def service_data(self) -> dict:
        data = dict(self.validated_data)
        if "reward_skus" in data:
            data["rewards"] = data.pop("reward_skus")
        if "excluded_countries" in data:
            data["excluded_countries"] = [code.upper() for code in data["excluded_countries"]]
        return data


def this_month(request):
    """The spend month of the key's mode: its test clock's month for a test key."""
    return month_of(clock.mode_now(request.brand, request.api_mode))


def campaign_response(request, campaign, status_code=status.HTTP_200_OK):
    spent = campaigns_spent_in([campaign.pk], this_month(request))
    return Response(CampaignSerializer(campaign, context={"spent": spent}).data, status=status_code)


def key_campaigns(request):
    return campaigns_of(request.brand, request.api_mode)


class CampaignsApi(ListAPIView):
    """Your campaigns of the key's mode, newest first; POST creates a draft in that mode."""

    serializer_class = CampaignSerializer
    ordering = ("-created_at", "-id")

    def get_queryset(self):
        return key_campaigns(self.request)

    def get_serializer_context(self):
        # `_spent` is set by list(); OPTIONS describes the serializer without listing anything.
        return {**super().get_serializer_context(), "spent": getattr(self, "_spent", {})}

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        self._spent = campaigns_spent_in([c.pk for c in page], this_month(request))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(request=CampaignSerializer, responses={201: CampaignSerializer}, operation_id="campaigns_create")
    def post(self, request):
        serializer = CampaignSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        campaign = campaigns.campaign_create(
            brand=request.brand, mode=request.api_mode, data=serializer.service_data(), actor=request.auth
        )
        return campaign_response(request, key_campaigns(request).get(pk=campaign.pk), status.HTTP_201_CREATED)


class CampaignApi(APIView):
    def get_campaign(self, request, slug):
        return get_object_or_404(key_campaigns(request), slug=slug)

    @extend_schema(responses=CampaignSerializer, operation_id="campaigns_retrieve")
    def get(self, request, slug):
        return campaign_response(request, self.get_campaign(request, slug))

    @extend_schema(request=CampaignSerializer, responses=CampaignSerializer, operation_id="campaigns_update")
    def patch(self, request, slug):
        campaign = self.get_campaign(request, slug)
        serializer = CampaignSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        campaigns.campaign_update(campaign=campaign, data=serializer.service_data(), actor=request.auth)
        return campaign_response(request, key_campaigns(request).get(pk=campaign.pk))


class CampaignMoveApi(APIView):
    """POST …/activate or …/pause."""

    moves = {"activate": campaigns.campaign_activate, "pause": campaigns.campaign_pause}
    move = None

    @extend_schema(
        request=None, responses={200: CampaignSerializer, 409: OpenApiResponse(description="invalid_status")}
    )
    def post(self, request, slug):
        campaign = get_object_or_404(key_campaigns(request), slug=slug)
        # InvalidState: 409 invalid_status (config/errors.py)
        self.moves[self.move](campaign=campaign, actor=request.auth)
        return campaign_response(request, campaign)
