"""The webhooks API (DESIGN.md §5): try the endpoint with a sample event; list, read and replay
deliveries. One representation for all: the delivery with its last attempt's request, answer and time."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import StrictSerializer
from rewards.fields import Mode
from rewards.webhooks import services as webhooks
from rewards.webhooks.models import WebhookDelivery
from rewards.webhooks.selectors import deliveries_of


class AttemptRequestOutput(serializers.Serializer):
    url = serializers.CharField(source="last_request_url")
    headers = serializers.DictField(child=serializers.CharField(), source="last_request_headers")
    body = serializers.SerializerMethodField()

    def get_body(self, delivery) -> str:
        """The JSON body as it was sent, byte for byte: signatures verify against it."""
        return webhooks.event_body(delivery.payload).decode()


class AttemptResponseOutput(serializers.Serializer):
    status = serializers.IntegerField(source="last_status_code")
    body = serializers.CharField(source="last_response_body", help_text="The start of the body (2 KB), as text.")


class LastAttemptOutput(serializers.Serializer):
    at = serializers.DateTimeField(source="last_attempt_at")
    request = AttemptRequestOutput(source="*")
    response = AttemptResponseOutput(source="*", allow_null=True, help_text="null when no answer came (see error).")
    error = serializers.SerializerMethodField()
    duration_ms = serializers.IntegerField(source="last_duration_ms")

    def get_error(self, delivery) -> str | None:
        """`could not connect`, `no answer within 15 s` or `endpoint disabled`; null when it answered."""
        return webhooks.error_shown(delivery.last_error) or None

    def to_representation(self, delivery):
        shown = super().to_representation(delivery)
        if delivery.last_status_code is None:
            shown["response"] = None
        return shown


class WebhookDeliveryOutput(serializers.Serializer):
    id = serializers.UUIDField()
    event_id = serializers.CharField(source="payload.id", help_text="The event's id, `evt_…` (`webhook-id`).")
    type = serializers.CharField(source="event_type")
    mode = serializers.ChoiceField(choices=Mode.choices)
    status = serializers.ChoiceField(choices=WebhookDelivery.Status.choices)
    attempts = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    delivered_at = serializers.DateTimeField(allow_null=True)
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    last_attempt = LastAttemptOutput(source="*", allow_null=True, help_text="null until an attempt is made.")

    def to_representation(self, delivery):
        shown = super().to_representation(delivery)
        if delivery.last_attempt_at is None:
            shown["last_attempt"] = None
        return shown


class WebhookTestInput(StrictSerializer):
    type = serializers.ChoiceField(choices=webhooks.EVENT_TYPES, required=False, default="moment.earned")


class DeliveriesFilter(serializers.Serializer):
    status = serializers.ChoiceField(choices=WebhookDelivery.Status.choices, required=False)


ENDPOINT_UNUSABLE = OpenApiResponse(description="webhook_url_missing or webhook_disabled")


class WebhookTestApi(APIView):
    """Send a sample event (`"sample": true`, made-up ids) to your endpoint now, in the key's mode,
    and see the attempt: the request as signed, the answer and how long it took."""

    throttle_scope = "webhook_test"  # each request makes an outside call: a bucket of its own

    @extend_schema(
        request=WebhookTestInput,
        responses={201: WebhookDeliveryOutput, 409: ENDPOINT_UNUSABLE},
        operation_id="webhooks_test",
    )
    def post(self, request):
        given = WebhookTestInput(data=request.data)
        given.is_valid(raise_exception=True)
        delivery = webhooks.send_sample(
            brand=request.brand, mode=request.api_mode, event_type=given.validated_data["type"]
        )
        return Response(WebhookDeliveryOutput(delivery).data, status=status.HTTP_201_CREATED)


class WebhookDeliveriesApi(ListAPIView):
    """Your webhook deliveries in the key's mode, newest first."""

    serializer_class = WebhookDeliveryOutput
    ordering = ("-created_at", "-id")

    @extend_schema(
        parameters=[OpenApiParameter("status", enum=WebhookDelivery.Status.values, description="Only these.")],
        operation_id="webhook_deliveries_list",
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        given = DeliveriesFilter(data=self.request.query_params)
        given.is_valid(raise_exception=True)  # an unknown status: 400 invalid_choice
        return deliveries_of(
            brand=self.request.brand, mode=self.request.api_mode, status=given.validated_data.get("status")
        )


class WebhookDeliveryApi(APIView):
    @extend_schema(responses=WebhookDeliveryOutput, operation_id="webhook_deliveries_retrieve")
    def get(self, request, delivery_id):
        delivery = get_object_or_404(deliveries_of(brand=request.brand, mode=request.api_mode), pk=delivery_id)
        return Response(WebhookDeliveryOutput(delivery).data)


class WebhookRedeliverApi(APIView):
    """Send a delivery again, as the same event (same `id`), with a fresh signature."""

    @extend_schema(
        request=None,
        responses={202: WebhookDeliveryOutput, 409: ENDPOINT_UNUSABLE},
        operation_id="webhook_deliveries_redeliver",
    )
    def post(self, request, delivery_id):
        deliveries = deliveries_of(brand=request.brand, mode=request.api_mode)
        webhooks.redeliver(delivery=get_object_or_404(deliveries, pk=delivery_id))
        return Response(WebhookDeliveryOutput(deliveries.get(pk=delivery_id)).data, status=status.HTTP_202_ACCEPTED)
