"""Path converters for identifiers in URLs: a value that no stored identifier can be (a NUL, which
PostgreSQL refuses in text, or longer than its column) does not match the route at all, so the
request never reaches a view or a query and answers the ordinary 404 ("not found") of the URL
resolver, the API's envelope under /api/v1/.

Registered on import: a urls module that uses them imports this module first.
"""

from django.urls import register_converter


class _Converter:
    regex = ""

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value) -> str:
        return str(value)


class BrandUserIdConverter(_Converter):
    """A brand's id for its user: 1..128 characters, any but NUL ('/' included, as ids may hold it)."""

    regex = r"[^\x00]{1,128}"


class CampaignSlugConverter(_Converter):
    """A campaign's slug: lowercase letters, digits and hyphens, at most 50 (rewards.models.Campaign)."""

    regex = r"[a-z0-9-]{1,50}"


register_converter(BrandUserIdConverter, "brand_user_id")
register_converter(CampaignSlugConverter, "campaign_slug")
