"""Webhook deliveries in the console: read-only, a failed one redeliverable."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from rewards.webhooks import services as webhooks
from rewards.webhooks.models import WebhookDelivery
from tenants.admin_scoping import EDITORS, ReadOnlyBrandAdmin


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyBrandAdmin):
    """Every event sent to the brand's endpoint, with its attempts; owners and managers resend."""

    list_display = ["created_at", "event_type", "status", "attempts", "last_status_code", "next_attempt_at"]
    list_filter = ["status", "event_type"]
    search_fields = ["=id"]
    actions = ["redeliver"]
    hidden_fields = {"brand", "last_error"}  # shown through error_shown: fixed phrases only
    exclude = ["last_error"]

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        at = fields.index("last_status_code") + 1
        return [*fields[:at], "last_error_shown", *fields[at:]]

    @admin.display(description=_("last error"))
    def last_error_shown(self, obj):
        return webhooks.error_shown(obj.last_error)

    def has_redeliver_permission(self, request):
        return self._role_may(request, EDITORS)

    @admin.action(description=_("Send the selected events again"), permissions=["redeliver"])
    def redeliver(self, request, queryset):
        for delivery in queryset:
            webhooks.redeliver(delivery=delivery)
        self.message_user(request, _("%(count)d event(s) queued again.") % {"count": len(queryset)})
