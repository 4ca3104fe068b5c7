"""Webhook deliveries in the console: read-only, each with its last attempt's request and answer; a
failed one redeliverable, and a sample event sent to the brand's endpoint on demand."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from rewards.errors import WebhookDisabled, WebhookUrlMissing
from rewards.webhooks import services as webhooks
from rewards.webhooks.models import WebhookDelivery
from tenants.admin_scoping import EDITORS, ReadOnlyBrandAdmin, admin_membership, admin_mode
from tenants.models import Brand


class SampleForm(forms.Form):
    event_type = forms.ChoiceField(
        label=_("Event type"),
        choices=[(t, t) for t in webhooks.EVENT_TYPES],
        help_text=_(
            'Sent in the mode the console shows (the "Test data" switch) as "mode"; the event also says '
            '"sample": true and its ids are made up.'
        ),
    )


class OperatorSampleForm(SampleForm):
    brand = forms.ModelChoiceField(label=_("Brand"), queryset=Brand.objects.exclude(webhook_url=""))
    field_order = ["brand", "event_type"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyBrandAdmin):
    """Every event sent to the brand's endpoint, with its attempts; owners and managers resend and
    send sample events."""

    list_display = ["created_at", "event_type", "mode", "status", "attempts", "last_status_code", "next_attempt_at"]
    list_filter = ["status", "event_type"]  # the mode is the Test data switch's
    search_fields = ["=id"]
    actions = ["redeliver"]
    # Shown through the fields below: the error as a fixed phrase only, the request and answer laid out.
    hidden_fields = {"brand", "last_error", "last_request_url", "last_request_headers", "last_response_body"}
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "id",
                    "event_type",
                    "mode",
                    "status",
                    "attempts",
                    "created_at",
                    "next_attempt_at",
                    "delivered_at",
                    "payload",
                ]
            },
        ),
        (
            _("Last attempt"),
            {
                "fields": [
                    "last_attempt_at",
                    "last_duration_ms",
                    "last_request",
                    "last_status_code",
                    "last_response",
                    "last_error_shown",
                ]
            },
        ),
    ]

    def get_readonly_fields(self, request, obj=None):
        return flatten_fieldsets(self.fieldsets)

    @admin.display(description=_("last error"))
    def last_error_shown(self, obj):
        return webhooks.error_shown(obj.last_error)

    @admin.display(description=_("request"))
    def last_request(self, obj):
        if obj.last_attempt_at is None:
            return "-"
        headers = "\n".join(f"{name}: {value}" for name, value in obj.last_request_headers.items())
        body = webhooks.event_body(obj.payload).decode()
        return format_html('<pre class="webhook-attempt">POST {}\n{}\n\n{}</pre>', obj.last_request_url, headers, body)

    @admin.display(description=_("response body (its start)"))
    def last_response(self, obj):
        if not obj.last_response_body:
            return "-"
        return format_html('<pre class="webhook-attempt">{}</pre>', obj.last_response_body)

    def has_send_permission(self, request):
        """Who may make Moments post to the brand's endpoint (a redelivery, a sample event)."""
        return self._role_may(request, EDITORS)

    @admin.action(description=_("Send the selected events again"), permissions=["send"])
    def redeliver(self, request, queryset):
        try:
            for delivery in queryset:
                webhooks.redeliver(delivery=delivery)
        except (WebhookUrlMissing, WebhookDisabled) as refusal:
            self.message_user(request, str(refusal), messages.ERROR)
            return
        self.message_user(request, _("%(count)d event(s) queued again.") % {"count": len(queryset)})

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "may_send_test": self.has_send_permission(request)}
        return super().changelist_view(request, extra_context)

    def get_urls(self):
        send_test = self.admin_site.admin_view(self.send_test_view)
        return [path("send-test/", send_test, name="rewards_webhookdelivery_send_test"), *super().get_urls()]

    def send_test_view(self, request):
        """A sample event (`"sample": true`) sent now, outside any transaction (admin_view opens
        none), then its delivery's page: the request, the answer and the time it took."""
        if not self.has_send_permission(request):
            raise PermissionDenied
        membership = admin_membership(request)
        form_class = SampleForm if membership else OperatorSampleForm
        form = form_class(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                delivery = webhooks.send_sample(
                    brand=membership.brand if membership else form.cleaned_data["brand"],
                    mode=admin_mode(request),  # its delivery is then on the list the console shows
                    event_type=form.cleaned_data["event_type"],
                )
            except (WebhookUrlMissing, WebhookDisabled) as refusal:
                form.add_error(None, str(refusal))
            else:
                self.message_user(
                    request, _("Test event sent: what was sent and what your endpoint answered are below.")
                )
                return HttpResponseRedirect(reverse("admin:rewards_webhookdelivery_change", args=[delivery.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Send a test event"),
            "form": form,
        }
        return TemplateResponse(request, "admin/rewards/webhookdelivery/send_test.html", context)
