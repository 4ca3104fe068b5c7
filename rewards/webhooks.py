"""Webhooks to brands (DESIGN.md §5): signed, retried on a schedule, disabled after 5 failing days.

Deliveries are rows written in the same transaction as the event they announce; a task sends
them, and a beat task picks up those due again. Nothing waits in the broker for hours.
"""

import hashlib
import hmac
import json
import time
from datetime import timedelta

import httpx
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from rewards.models import WebhookDelivery
from tenants.models import Brand, Membership, Role

# After a non-2xx or no answer within TIMEOUT: again at these delays after the first attempt's failure.
RETRY_DELAYS = [
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
]
TIMEOUT_SECONDS = 15
DISABLE_AFTER = timedelta(days=5)
ROTATION_OVERLAP = timedelta(days=1)


def emit(*, brand: Brand, event_type: str, data: dict) -> WebhookDelivery | None:
    """Record an event for the brand's endpoint (if it has one that works) and send it after commit."""
    if not brand.webhook_url or brand.webhook_disabled_at:
        return None
    delivery = WebhookDelivery(brand=brand, event_type=event_type, payload={})
    delivery.payload = {
        "id": f"evt_{delivery.pk.hex}",
        "type": event_type,
        "created": timezone.now().isoformat().replace("+00:00", "Z"),
        "data": data,
    }
    delivery.next_attempt_at = timezone.now()
    delivery.save(force_insert=True)
    from rewards.tasks import deliver_webhook

    transaction.on_commit(lambda: deliver_webhook.delay(str(delivery.pk)))
    return delivery


def signature_header(brand: Brand, body: bytes, now: int | None = None) -> str:
    """`t=<unix>,v1=<hex>[,v1=<hex>]`: an HMAC-SHA256 of "<t>.<body>" per active secret."""
    timestamp = int(now if now is not None else time.time())
    secrets = [brand.webhook_secret]
    rotated = brand.webhook_secret_rotated_at
    if brand.webhook_previous_secret and rotated and timezone.now() - rotated < ROTATION_OVERLAP:
        secrets.append(brand.webhook_previous_secret)
    signed = f"{timestamp}.".encode() + body
    parts = [f"t={timestamp}"] + [f"v1={hmac.new(s.encode(), signed, hashlib.sha256).hexdigest()}" for s in secrets]
    return ",".join(parts)


def deliver(delivery_id) -> None:
    """One attempt, signed afresh. Success: delivered. Failure: the next attempt is scheduled, or
    the delivery has failed for good; an endpoint failing for 5 days is disabled and its owners told."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("brand")
            .filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING)
            .first()
        )
        if delivery is None:
            return  # delivered already, or another worker holds it right now
        brand = delivery.brand
        if not brand.webhook_url or brand.webhook_disabled_at:
            delivery.next_attempt_at = None
            delivery.last_error = "endpoint disabled"
            delivery.save(update_fields=["next_attempt_at", "last_error"])
            return
        body = json.dumps(delivery.payload, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Moments-Webhooks/1",
            "Moments-Signature": signature_header(brand, body),
        }
        status_code, error = None, ""
        try:
            response = httpx.post(brand.webhook_url, content=body, headers=headers, timeout=TIMEOUT_SECONDS)
            status_code = response.status_code
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:240]
        now = timezone.now()
        delivery.attempts += 1
        delivery.last_status_code = status_code
        delivery.last_error = error
        if status_code is not None and 200 <= status_code < 300:
            delivery.status = WebhookDelivery.Status.DELIVERED
            delivery.delivered_at, delivery.next_attempt_at = now, None
            Brand.objects.filter(pk=brand.pk).update(webhook_failing_since=None)
        else:
            _failed_attempt(delivery, brand, now)
        delivery.save()


def _failed_attempt(delivery: WebhookDelivery, brand: Brand, now) -> None:
    failing_since = brand.webhook_failing_since or now
    if brand.webhook_failing_since is None:
        Brand.objects.filter(pk=brand.pk, webhook_failing_since__isnull=True).update(webhook_failing_since=now)
    if now - failing_since >= DISABLE_AFTER:
        if Brand.objects.filter(pk=brand.pk, webhook_disabled_at__isnull=True).update(webhook_disabled_at=now):
            transaction.on_commit(lambda: _tell_owners_endpoint_disabled(brand.pk))
    if delivery.attempts <= len(RETRY_DELAYS):
        delivery.next_attempt_at = now + RETRY_DELAYS[delivery.attempts - 1]
    else:
        delivery.status, delivery.next_attempt_at = WebhookDelivery.Status.FAILED, None


def redeliver(*, delivery: WebhookDelivery) -> None:
    """From the console: send a delivery (failed or delivered) again, as the same event."""
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=WebhookDelivery.Status.PENDING, next_attempt_at=timezone.now(), attempts=0
    )
    from rewards.tasks import deliver_webhook

    transaction.on_commit(lambda: deliver_webhook.delay(str(delivery.pk)))


def due_deliveries(limit: int = 500) -> list[str]:
    now = timezone.now()
    return [
        str(pk)
        for pk in WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    ]


def _tell_owners_endpoint_disabled(brand_id) -> None:
    brand = Brand.objects.get(pk=brand_id)
    owners = Membership.objects.for_brand(brand).filter(role=Role.OWNER).select_related("user")
    recipients = [m.user.email for m in owners] + ([brand.support_email] if brand.support_email else [])
    send_mail(
        subject=f"Moments: webhooks to {brand.name} are disabled",
        message=(
            f"Your endpoint {brand.webhook_url} has not accepted a webhook for 5 days, so Moments stopped "
            f"sending to it. Fix it, then clear 'webhook disabled' on your brand in the console "
            f"({settings.SITE_URL}/admin/) and redeliver the failed events from Webhook deliveries."
        ),
        from_email=None,
        recipient_list=recipients,
    )
