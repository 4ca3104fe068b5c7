"""Webhook deliveries: one event for a brand's endpoint, with its attempts."""

from django.db import models
from django.utils.translation import gettext_lazy as _
from uuid6 import uuid7

from rewards.fields import Mode
from tenants.models import BrandOwned


class WebhookDelivery(BrandOwned):
    """One event for the brand's webhook endpoint, kept with its attempts; `id` is the event's
    stable id (receivers drop duplicates by it). The last attempt's request and answer are kept for
    the console and the API: what was sent, the status, the start of the body and how long it took."""

    # Rows written before the console showed only a generic phrase hold a raw network error: an
    # admin filter on it would let a brand probe its network through the text.
    secret_fields = frozenset({"last_error"})

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        DELIVERED = "delivered", _("delivered")
        FAILED = "failed", _("failed")  # every retry used up; can be redelivered from the console

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    event_type = models.CharField(max_length=40)
    mode = models.CharField(max_length=4, choices=Mode.choices)  # of the moment, order or campaign it announces
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=240, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_request_url = models.CharField(max_length=200, blank=True)
    last_request_headers = models.JSONField(default=dict, blank=True)
    last_response_body = models.TextField(blank=True)  # its start only (services.RESPONSE_BODY_KEPT)
    last_duration_ms = models.PositiveIntegerField(_("duration (ms)"), null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = _("webhook deliveries")
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=models.Q(status="pending"), name="webhook_due"),
            models.Index(fields=["brand", "mode", "-created_at"], name="webhook_brand_list"),  # the API's list
        ]

    def __str__(self):
        return f"{self.event_type} {self.id}"
