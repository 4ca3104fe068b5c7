"""The catalog API (DESIGN.md §5): what a campaign may offer."""

from django.conf import settings
from rest_framework import serializers
from rest_framework.generics import ListAPIView

from rewards.catalog.selectors import catalog_for_campaigns


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
        return catalog_for_campaigns()
