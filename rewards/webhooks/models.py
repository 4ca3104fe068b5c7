"""Webhook deliveries: one event for a brand's endpoint, with its attempts."""

from django.db import models
from django.utils.translation import gettext_lazy as _
from uuid6 import uuid7

from tenants.models import BrandOwned


class WebhookDelivery(BrandOwned):
    """One event for the brand's webhook endpoint, kept with its attempts; `id` is the event's
    stable id (receivers drop duplicates by it)."""

    # Rows written before the console showed only a generic phrase hold a raw network error: an
    # admin filter on it would let a brand probe its network through the text.
    secret_fields = frozenset({"last_error"})

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        DELIVERED = "delivered", _("delivered")
        FAILED = "failed", _("failed")  # every retry used up; can be redelivered from the console

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    event_type = models.CharField(max_length=40)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=240, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = _("webhook deliveries")
        indexes = [models.Index(fields=["next_attempt_at"], condition=models.Q(status="pending"), name="webhook_due")]

    def __str__(self):
        return f"{self.event_type} {self.id}"
