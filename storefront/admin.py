from django.contrib import admin

from storefront.models import BrandLink
from tenants.admin_scoping import ReadOnlyBrandAdmin


@admin.register(BrandLink)
class BrandLinkAdmin(ReadOnlyBrandAdmin):
    """Which of the brand's user ids have claimed with a platform account (not which account)."""

    hidden_fields = {"brand", "user"}
    list_display = ["brand_user_id", "created_at"]
    search_fields = ["=brand_user_id"]
