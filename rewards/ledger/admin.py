"""The ledger in the console, read-only."""

from django.contrib import admin

from rewards.ledger.models import LedgerEntry
from tenants.admin_scoping import ReadOnlyBrandAdmin


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyBrandAdmin):
    list_display = ["created_at", "kind", "amount", "campaign", "period", "moment", "note"]
    list_filter = ["kind", "period", "campaign"]
    search_fields = ["=moment__id", "note"]
    list_select_related = ["campaign", "brand"]
