"""The rewards API of DESIGN.md §5: events, moments, the catalog and campaigns as code."""

import json
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django_countries import countries
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import NumberField, StrictCharField, StrictNumberField, StrictSerializer, storable_json
from config.errors import error_body, first_error
from rewards import campaigns, earning, selectors
from rewards.claims import claim_url
from rewards.models import Campaign, Moment, action_validator

MAX_PROPERTIES_BYTES = 16 * 1024
CLOCK_SKEW = timedelta(minutes=5)
EVENT_STATUS = {"new": status.HTTP_201_CREATED, "replay": status.HTTP_200_OK}


class LiveKeyRequired(exceptions.PermissionDenied):
    default_detail = "Campaigns change only with a live key; test keys can read them."
    default_code = "live_key_required"


def country_code(value: str) -> str:
    code = value.upper()
    if code not in countries:
        raise serializers.ValidationError(f"'{value}' is not an ISO 3166 alpha-2 country code.", code="invalid_choice")
    return code


# --- Events -----------------------------------------------------------------------------------


class EventInput(StrictSerializer):
    event_id = StrictCharField(min_length=1, max_length=128, trim_whitespace=False)
    user_id = StrictCharField(min_length=1, max_length=128, trim_whitespace=False)
    action = StrictCharField(max_length=64, validators=[action_validator])
    quantity = StrictNumberField(
        max_digits=15, decimal_places=3, min_value=0, max_value=1_000_000, required=False, default=Decimal("1")
    )
    occurred_at = serializers.DateTimeField(required=False)
    country = StrictCharField(min_length=2, max_length=2, required=False, validators=[country_code])
    properties = serializers.DictField(required=False)

    def validate_quantity(self, value):
        if value <= 0:
            raise serializers.ValidationError("The quantity must be greater than 0.", code="min_value")
        return value

    def validate_occurred_at(self, value):
        if value > timezone.now() + CLOCK_SKEW:
            raise serializers.ValidationError("occurred_at is in the future.", code="future")
        return value

    def validate_properties(self, value):
        storable_json(value)
        if len(json.dumps(value)) > MAX_PROPERTIES_BYTES:
            raise serializers.ValidationError("properties may take at most 16 KB of JSON.", code="max_length")
        return value

    def to_event(self) -> earning.EventInput:
        data = self.validated_data
        return earning.EventInput(
            event_id=data["event_id"],
            user_id=data["user_id"],
            action=data["action"],
            quantity=data["quantity"],
            occurred_at=data.get("occurred_at"),
            country=data.get("country", "").upper(),
            properties=data.get("properties", {}),
        )


EVENT_BODY = inline_serializer(
    "EventResult",
    {
        "event_id": serializers.CharField(),
        "moments": serializers.ListField(child=serializers.DictField()),
        "progress": serializers.ListField(child=serializers.DictField()),
    },
)


class EventsApi(APIView):
    """Report one action of one of your users; idempotent on event_id."""

    @extend_schema(
        request=EventInput,
        responses={201: EVENT_BODY, 200: EVENT_BODY, 409: OpenApiResponse(description="idempotency_conflict")},
        operation_id="events_create",
    )
    def post(self, request):
        serializer = EventInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        outcome = earning.events_ingest(brand=request.brand, mode=request.api_mode, events=[serializer.to_event()])[0]
        if outcome.error:
            raise outcome.error
        return Response(outcome.body, status=EVENT_STATUS[outcome.kind])


class BatchInput(StrictSerializer):
    # Items are checked one by one below, so that a bad one (even null) fails alone.
    events = serializers.ListField(child=serializers.JSONField(allow_null=True), min_length=1, max_length=500)


class EventsBatchApi(APIView):
    """Report up to 500 events at once; each gets its own result, and a bad one sinks no other."""

    throttle_scope = "batch"

    @extend_schema(
        request=BatchInput,
        responses=inline_serializer("BatchResult", {"results": serializers.ListField(child=serializers.DictField())}),
        operation_id="events_batch",
    )
    def post(self, request):
        batch = BatchInput(data=request.data)
        batch.is_valid(raise_exception=True)
        results, valid = [], []
        for item in batch.validated_data["events"]:
            serializer = EventInput(data=item)
            if serializer.is_valid():
                valid.append(serializer.to_event())
                results.append(None)  # filled in below, in order
            else:
                field, detail = first_error(serializer.errors)
                results.append(
                    {
                        "status": 400,
                        "error": error_body(status=400, code=detail.code, message=str(detail), field=field)["error"],
                    }
                )
        outcomes = iter(
            earning.events_ingest(brand=request.brand, mode=request.api_mode, events=valid) if valid else []
        )
        for index, result in enumerate(results):
            if result is None:
                outcome = next(outcomes)
                if outcome.error:
                    error = outcome.error
                    results[index] = {
                        "status": error.status,
                        "error": error_body(status=error.status, code=error.code, message=str(error))["error"],
                    }
                else:
                    results[index] = {"status": EVENT_STATUS[outcome.kind], "event": outcome.body}
        return Response({"results": results})


# --- Moments ----------------------------------------------------------------------------------


class MomentOutput(serializers.ModelSerializer):
    campaign = serializers.CharField(source="campaign.slug")
    claim_url = serializers.SerializerMethodField()

    class Meta:
        model = Moment
        fields = ["id", "campaign", "user_id", "status", "claim_url", "expires_at", "mode"]

    def get_claim_url(self, moment) -> str | None:
        return claim_url(moment.pk) if moment.status == Moment.Status.EARNED and moment.claim_token_hash else None


class UserMomentsApi(ListAPIView):
    """A user's moments, newest first, in the mode of the key (test and live are listed apart)."""

    serializer_class = MomentOutput
    ordering = ("-earned_at", "-id")

    def get_queryset(self):
        return selectors.moments_of_user(
            brand=self.request.brand, mode=self.request.api_mode, user_id=self.kwargs["user_id"]
        )


class MomentApi(APIView):
    @extend_schema(responses=MomentOutput, operation_id="moments_retrieve")
    def get(self, request, moment_id):
        moment = get_object_or_404(
            Moment.objects.filter(brand=request.brand).filter(mode=request.api_mode).select_related("campaign"),
            pk=moment_id,
        )
        return Response(MomentOutput(moment).data)


# --- Catalog ----------------------------------------------------------------------------------


class CatalogOutput(serializers.Serializer):
    sku = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField()
    value = serializers.DecimalField(max_digits=12, decimal_places=2)
    image_url = serializers.SerializerMethodField()
    countries = serializers.SerializerMethodField()

    def get_image_url(self, item) -> str | None:
        return settings.SITE_URL + item.image.url if item.image else None

    def get_countries(self, item) -> list[str]:
        return [country.code for country in item.countries]


class CatalogApi(ListAPIView):
    """The items a campaign may offer; `countries` empty means it can be delivered everywhere."""

    serializer_class = CatalogOutput
    ordering = ("sku",)

    def get_queryset(self):
        return selectors.catalog_for_campaigns()


# --- Campaigns --------------------------------------------------------------------------------


class CampaignSerializer(StrictSerializer):
    slug = serializers.CharField(max_length=50)
    name = serializers.CharField(max_length=120)
    action = serializers.CharField(max_length=64)
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
    spent_this_month = serializers.SerializerMethodField()

    def get_spent_this_month(self, campaign) -> str:
        spent = self.context["spent"].get(campaign.pk, 0)
        return f"{spent:.2f}"

    def to_representation(self, campaign):
        campaign.reward_skus = [item.sku for item in selectors.campaign_rewards(campaign)]
        return super().to_representation(campaign)

    def service_data(self) -> dict:
        data = dict(self.validated_data)
        if "reward_skus" in data:
            data["rewards"] = data.pop("reward_skus")
        if "excluded_countries" in data:
            data["excluded_countries"] = [code.upper() for code in data["excluded_countries"]]
        return data


def campaigns_of(brand):
    return Campaign.objects.filter(brand=brand).select_related("brand").prefetch_related("reward_links__item")


def campaign_response(campaign, status_code=status.HTTP_200_OK):
    spent = selectors.campaigns_spent_in([campaign.pk], selectors.month_of(timezone.now()))
    return Response(CampaignSerializer(campaign, context={"spent": spent}).data, status=status_code)


class CampaignWriteMixin:
    def check_permissions(self, request):
        super().check_permissions(request)
        if request.method not in ("GET", "HEAD", "OPTIONS") and request.api_mode != "live":
            raise LiveKeyRequired()


class CampaignsApi(CampaignWriteMixin, ListAPIView):
    """Your campaigns, newest first; POST creates a draft."""

    serializer_class = CampaignSerializer
    ordering = ("-created_at", "-id")

    def get_queryset(self):
        return campaigns_of(self.request.brand)

    def get_serializer_context(self):
        # `_spent` is set by list(); OPTIONS describes the serializer without listing anything.
        return {**super().get_serializer_context(), "spent": getattr(self, "_spent", {})}

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        self._spent = selectors.campaigns_spent_in([c.pk for c in page], selectors.month_of(timezone.now()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(request=CampaignSerializer, responses={201: CampaignSerializer}, operation_id="campaigns_create")
    def post(self, request):
        serializer = CampaignSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        campaign = campaigns.campaign_create(brand=request.brand, data=serializer.service_data())
        return campaign_response(campaigns_of(request.brand).get(pk=campaign.pk), status.HTTP_201_CREATED)


class CampaignApi(CampaignWriteMixin, APIView):
    def get_campaign(self, request, slug):
        return get_object_or_404(campaigns_of(request.brand), slug=slug)

    @extend_schema(responses=CampaignSerializer, operation_id="campaigns_retrieve")
    def get(self, request, slug):
        return campaign_response(self.get_campaign(request, slug))

    @extend_schema(request=CampaignSerializer, responses=CampaignSerializer, operation_id="campaigns_update")
    def patch(self, request, slug):
        campaign = self.get_campaign(request, slug)
        serializer = CampaignSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        campaigns.campaign_update(campaign=campaign, data=serializer.service_data())
        return campaign_response(campaigns_of(request.brand).get(pk=campaign.pk))


class CampaignMoveApi(CampaignWriteMixin, APIView):
    """POST …/activate or …/pause."""

    moves = {"activate": campaigns.campaign_activate, "pause": campaigns.campaign_pause}
    move = None

    @extend_schema(
        request=None, responses={200: CampaignSerializer, 409: OpenApiResponse(description="invalid_status")}
    )
    def post(self, request, slug):
        campaign = get_object_or_404(campaigns_of(request.brand), slug=slug)
        self.moves[self.move](campaign=campaign)  # InvalidState: 409 invalid_status (config/errors.py)
        return campaign_response(campaign)
