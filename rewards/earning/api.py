"""The events API (DESIGN.md §5): one event, or a batch of up to 500."""

import json
import threading
from datetime import timedelta
from decimal import Decimal

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import StrictCharField, StrictNumberField, StrictSerializer, country_code, storable_json
from config.errors import error_body, first_error
from rewards import clock
from rewards.campaigns.models import action_validator
from rewards.earning import services as earning

MAX_PROPERTIES_BYTES = 16 * 1024
CLOCK_SKEW = timedelta(minutes=5)
EVENT_STATUS = {"new": status.HTTP_201_CREATED, "replay": status.HTTP_200_OK}


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

    # The latest time an event may say it occurred: the key's mode's now (a test key's: its test
    # clock's) plus CLOCK_SKEW; set for each request by `event_checker`.
    latest_occurred_at = None

    def validate_occurred_at(self, value):
        if value > self.latest_occurred_at:
            raise serializers.ValidationError("occurred_at is in the future.", code="future")
        return value

    def validate_properties(self, value):
        storable_json(value)
        if len(json.dumps(value)) > MAX_PROPERTIES_BYTES:
            raise serializers.ValidationError("properties may take at most 16 KB of JSON.", code="max_length")
        return value

    @staticmethod
    def event_of(data: dict) -> earning.EventInput:
        return earning.EventInput(
            event_id=data["event_id"],
            user_id=data["user_id"],
            action=data["action"],
            quantity=data["quantity"],
            occurred_at=data.get("occurred_at"),
            country=data.get("country", "").upper(),
            properties=data.get("properties", {}),
        )


_checkers = threading.local()


def event_checker(request) -> EventInput:
    """This thread's EventInput, made once: DRF deep-copies a serializer's fields for each new
    instance, which costs an event more than its validation. Validation keeps no state on it but
    the request's clock, set here."""
    checker = getattr(_checkers, "event", None)
    if checker is None:
        checker = _checkers.event = EventInput()
    checker.latest_occurred_at = clock.mode_now(request.brand, request.api_mode) + CLOCK_SKEW
    return checker


EVENT_BODY = inline_serializer(
    "EventResult",
    {
        "event_id": serializers.CharField(),
        "moments": serializers.ListField(child=serializers.DictField()),
        "progress": serializers.ListField(child=serializers.DictField()),
        "warnings": serializers.ListField(
            child=serializers.DictField(), help_text='[] or [{"code": "unknown_action", "message"}]'
        ),
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
        event = EventInput.event_of(event_checker(request).run_validation(request.data))
        outcome = earning.events_ingest(brand=request.brand, mode=request.api_mode, events=[event])[0]
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
        checker = event_checker(request)
        for item in batch.validated_data["events"]:
            try:
                valid.append(EventInput.event_of(checker.run_validation(item)))
                results.append(None)  # filled in below, in order
            except serializers.ValidationError as invalid:
                field, detail = first_error(invalid.detail)
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
