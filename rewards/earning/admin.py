"""Events in the console, read-only."""

from django.contrib import admin

from rewards.earning.models import Event
from tenants.admin_scoping import ReadOnlyBrandAdmin


@admin.register(Event)
class EventAdmin(ReadOnlyBrandAdmin):
    list_display = ["event_id", "user_id", "action", "quantity", "mode", "country", "occurred_at", "received_at"]
    list_filter = ["mode"]
    search_fields = ["=event_id", "=user_id"]
