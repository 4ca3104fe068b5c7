from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView


class MeOutput(serializers.Serializer):
    brand = serializers.CharField(source="brand.slug", help_text="The brand's slug.")
    brand_name = serializers.CharField(source="brand.name")
    mode = serializers.ChoiceField(choices=["test", "live"])
    key_prefix = serializers.CharField(source="prefix", help_text="The visible start of the key in use.")


class MeApi(APIView):
    """Which brand and mode the presented key stands for: a quick check that a key works."""

    @extend_schema(responses=MeOutput, operation_id="me")
    def get(self, request):
        return Response(MeOutput(request.auth).data)
