"""The ledger in the console, read-only, and its CSV export (streamed)."""

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.http import HttpResponseRedirect
from django.urls import path, reverse

from config.db_router import reads_from_replica
from config.spreadsheets import ROWS_PER_FETCH, csv_response
from rewards.ledger.models import LedgerEntry
from tenants.admin_scoping import ReadOnlyBrandAdmin, is_operator

# (column, field); the operator's export adds the brand.
LEDGER_COLUMNS = [
    ("created_at", "created_at"),
    ("period", "period"),
    ("counter_period", "counter_period"),
    ("kind", "kind"),
    ("amount_usd", "amount"),
    ("campaign", "campaign__slug"),
    ("moment", "moment_id"),
    ("order", "order_id"),
    ("note", "note"),
]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyBrandAdmin):
    list_display = ["created_at", "kind", "amount", "campaign", "period", "moment", "note"]
    list_filter = ["kind", "period", "campaign"]
    search_fields = ["=moment__id", "note"]
    list_select_related = ["campaign", "brand"]
    change_list_template = "admin/rewards/ledgerentry/change_list.html"

    def get_urls(self):
        export = self.admin_site.admin_view(self.export_csv)
        return [path("export.csv", export, name="rewards_ledgerentry_export"), *super().get_urls()]

    @reads_from_replica
    def export_csv(self, request):
        """The lines the list shows, with its filters and search (the brand the user works in; the
        operator's: every brand's, with a brand column), oldest first, every page of them."""
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            return HttpResponseRedirect(reverse("admin:rewards_ledgerentry_changelist") + "?e=1")
        columns = ([("brand", "brand__slug")] if is_operator(request) else []) + LEDGER_COLUMNS
        lines = changelist.get_queryset(request).order_by("created_at", "pk")
        rows = lines.values_list(*[field for _, field in columns]).iterator(chunk_size=ROWS_PER_FETCH)
        return csv_response("ledger.csv", [column for column, _ in columns], rows)
