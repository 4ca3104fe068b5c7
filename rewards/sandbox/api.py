"""The test clock in the API (DESIGN.md §5): read it, move it forward. Test keys only."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import StrictSerializer
from rewards import clock
from rewards.fields import Mode
from rewards.sandbox import services as sandbox


class TestKeyRequired(exceptions.PermissionDenied):
    default_detail = "The test clock is test mode's: use a test key (mk_test_…). The live clock is real time."
    default_code = "test_key_required"


class TestClockOutput(serializers.Serializer):
    now = serializers.DateTimeField(help_text="Now in test mode.")
    live_now = serializers.DateTimeField(help_text="Now in live mode: the real time.")
    advanced_by_seconds = serializers.IntegerField(help_text="How far test mode's clock runs ahead.")


class TestClockMoveOutput(TestClockOutput):
    expired_moments = serializers.IntegerField(help_text="Test moments the move expired (each refunded).")
    ended_campaigns = serializers.IntegerField(help_text="Test campaigns the move took past their end.")


class TestClockAdvanceInput(StrictSerializer):
    to = serializers.DateTimeField(help_text="The test clock's new now (ISO-8601): later than its now.")


def clock_figures(brand) -> dict:
    live_now, offset = timezone.now(), clock.test_clock_offset(brand)
    return {"now": live_now + offset, "live_now": live_now, "advanced_by_seconds": int(offset.total_seconds())}


class TestKeyOnly:
    def check_permissions(self, request):
        super().check_permissions(request)
        if request.api_mode != Mode.TEST:
            raise TestKeyRequired()


class TestClockApi(TestKeyOnly, APIView):
    """Test mode's clock: where it stands."""

    @extend_schema(responses=TestClockOutput, operation_id="test_clock_retrieve")
    def get(self, request):
        return Response(TestClockOutput(clock_figures(request.brand)).data)


class TestClockAdvanceApi(TestKeyOnly, APIView):
    """Move test mode's clock forward; what the beat would do by then to test rows happens now."""

    @extend_schema(request=TestClockAdvanceInput, responses=TestClockMoveOutput, operation_id="test_clock_advance")
    def post(self, request):
        given = TestClockAdvanceInput(data=request.data)
        given.is_valid(raise_exception=True)
        move = sandbox.test_clock_advance(brand=request.brand, to=given.validated_data["to"], actor=request.auth)
        figures = {
            **clock_figures(move.brand),
            "expired_moments": move.expired_moments,
            "ended_campaigns": move.ended_campaigns,
        }
        return Response(TestClockMoveOutput(figures).data)
