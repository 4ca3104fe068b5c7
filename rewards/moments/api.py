"""The moments API (DESIGN.md §5): a user's moments, one moment."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from rewards.moments.claims import claim_url
from rewards.moments.models import Moment
from rewards.moments.selectors import moments_of_brand, moments_of_user


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
        return moments_of_user(brand=self.request.brand, mode=self.request.api_mode, user_id=self.kwargs["user_id"])


class MomentApi(APIView):
    @extend_schema(responses=MomentOutput, operation_id="moments_retrieve")
    def get(self, request, moment_id):
        moment = get_object_or_404(moments_of_brand(brand=request.brand, mode=request.api_mode), pk=moment_id)
        return Response(MomentOutput(moment).data)
