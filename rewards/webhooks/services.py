"""Webhooks to brands (DESIGN.md §5): signed, retried on a schedule, disabled after 5 failing days.

Deliveries are rows written in the same transaction as the event they announce; a task sends
them, and a beat task picks up those due again. Nothing waits in the broker for hours. A sample
event (`send_sample`) is sent at once by its caller, outside any transaction, then retried likewise.
"""

import base64
import hashlib
import hmac
import json
import logging
import time
import uuid
from datetime import timedelta

import httpx
from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from config import metrics
from rewards import clock
from rewards.errors import WebhookDisabled, WebhookUrlMissing
from rewards.periods import month_of
from rewards.webhooks.models import WebhookDelivery
from tenants import webhook_endpoint
from tenants.models import WEBHOOK_ROTATION_OVERLAP, Brand, Membership, Role
from tenants.scoping import in_row_scope

logger = logging.getLogger(__name__)

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
# An attempt in flight holds its delivery this long (next_attempt_at): longer than any attempt can
# take (connect, send and answer, TIMEOUT_SECONDS each; the task's hard time limit is 90 s).
LEASE = timedelta(minutes=2)
DISABLE_AFTER = timedelta(days=5)
# All that a delivery keeps (and the console shows) of a failure besides the status code: fixed,
# generic phrases, so the console cannot be used to probe a network. Details go to the log.
COULD_NOT_CONNECT = "could not connect"
NO_ANSWER = "no answer within 15 s"
ENDPOINT_DISABLED = "endpoint disabled"
ERRORS = (COULD_NOT_CONNECT, NO_ANSWER, ENDPOINT_DISABLED)
# How much of an answer's body an attempt keeps, as text, for the console and the API.
RESPONSE_BODY_KEPT = 2048
EVENT_TYPES = ("moment.earned", "moment.claimed", "moment.expired", "order.fulfilled", "campaign.capped")


def emit(*, brand: Brand, mode: str, event_type: str, data: dict) -> WebhookDelivery | None:
    """Record an event for the brand's endpoint (if it has one that works) and send it after commit.
    `mode`: that of the moment, order or campaign the event is about."""
    deliveries = emit_many(brand=brand, mode=mode, event_type=event_type, datas=[data])
    return deliveries[0] if deliveries else None


def emit_many(*, brand: Brand, mode: str, event_type: str, datas: list[dict]) -> list[WebhookDelivery]:
    """The same for several events of one type: one INSERT for all of them."""
    if not brand.webhook_url or brand.webhook_disabled_at or not datas:
        return []
    deliveries = _record(brand=brand, mode=mode, event_type=event_type, datas=datas, sample=False)
    for delivery in deliveries:
        deliver_webhook.delay(str(delivery.pk))  # published when the transaction commits
    return deliveries


def _record(*, brand: Brand, mode: str, event_type: str, datas: list[dict], sample: bool) -> list[WebhookDelivery]:
    """Write one delivery per event, in one INSERT, each with its envelope and stable id."""
    now = timezone.now()
    deliveries = []
    for data in datas:
        delivery = WebhookDelivery(brand=brand, mode=mode, event_type=event_type, payload={}, next_attempt_at=now)
        delivery.payload = {
            "id": f"evt_{delivery.pk.hex}",
            "type": event_type,
            "created": clock.utc_iso(now),
            "mode": mode,
            "sample": sample,
            "data": data,
        }
        deliveries.append(delivery)
    WebhookDelivery.objects.bulk_create(deliveries)
    return deliveries


def send_sample(*, brand: Brand, mode: str, event_type: str) -> WebhookDelivery:
    """Try the brand's endpoint: a sample event of `event_type` (`"sample": true`, made-up ids),
    sent now and returned with its attempt recorded. The caller holds no transaction: the row is
    committed first, then `deliver` claims it, posts and records, like a worker. A failed sample is
    retried on the schedule like any delivery (by the beat: no task is queued for it)."""
    _check_endpoint(Brand.objects.get(pk=brand.pk))  # as it is now: an API key's brand is a cached copy
    with transaction.atomic():
        [delivery] = _record(
            brand=brand, mode=mode, event_type=event_type, datas=[_sample_data(event_type, mode)], sample=True
        )
    deliver(delivery.pk)
    delivery.refresh_from_db()
    return delivery


def _sample_data(event_type: str, mode: str) -> dict:
    """Data shaped as the real events of the type carry it, with made-up ids and names."""
    now = timezone.now()
    moment_id, order_id = str(uuid.uuid4()), str(uuid.uuid4())
    campaign, user_id, reward = "sample-campaign", "sample-user", "SAMPLE-REWARD"
    if event_type == "moment.earned":
        return {
            "id": moment_id,
            "campaign": campaign,
            "user_id": user_id,
            "status": "earned",
            "claim_url": None,  # a made-up moment has no claim page
            "expires_at": clock.utc_iso(now + timedelta(days=30)),
            "mode": mode,
        }
    if event_type == "moment.claimed":
        return {"id": moment_id, "campaign": campaign, "user_id": user_id, "reward": reward, "mode": mode}
    if event_type == "moment.expired":
        return {
            "id": moment_id,
            "campaign": campaign,
            "user_id": user_id,
            "expired_at": clock.utc_iso(now),
            "mode": mode,
        }
    if event_type == "order.fulfilled":
        return {
            "order": order_id,
            "moment": moment_id,
            "campaign": campaign,
            "user_id": user_id,
            "reward": reward,
            "status": "fulfilled",
            "mode": mode,
        }
    if event_type == "campaign.capped":
        month = month_of(now).isoformat()[:7]
        return {"campaign": campaign, "month": month, "monthly_budget": "5000.00", "mode": mode}
    raise ValueError(f"not an event type: {event_type!r}")


def _check_endpoint(brand: Brand) -> None:
    """Refuse to send what could not go anywhere: no URL, or an endpoint disabled after failing."""
    if not brand.webhook_url:
        raise WebhookUrlMissing()
    if brand.webhook_disabled_at:
        raise WebhookDisabled()


def event_body(payload: dict) -> bytes:
    """The body every attempt posts (and the console shows): the payload as compact JSON."""
    return json.dumps(payload, separators=(",", ":")).encode()


def _signing_secrets(brand: Brand) -> list[str]:
    """The brand's secret and, for a day after a rotation, the previous one: both sign."""
    secrets = [brand.webhook_secret]
    rotated = brand.webhook_secret_rotated_at
    if brand.webhook_previous_secret and rotated and timezone.now() - rotated < WEBHOOK_ROTATION_OVERLAP:
        secrets.append(brand.webhook_previous_secret)
    return secrets


def signature_header(brand: Brand, body: bytes, now: int | None = None) -> str:
    """`t=<unix>,v1=<hex>[,v1=<hex>]`: an HMAC-SHA256 of "<t>.<body>" per active secret."""
    timestamp = int(now if now is not None else time.time())
    signed = f"{timestamp}.".encode() + body
    parts = [f"t={timestamp}"] + [
        f"v1={hmac.new(s.encode(), signed, hashlib.sha256).hexdigest()}" for s in _signing_secrets(brand)
    ]
    return ",".join(parts)


def standard_signature(brand: Brand, *, event_id: str, timestamp: int, body: bytes) -> str:
    """`webhook-signature` of Standard Webhooks: `v1,<base64>` per active secret, space-separated,
    each an HMAC-SHA256 of "<id>.<timestamp>.<body>". The key is the secret read as those libraries
    read a `whsec_` secret (the base64 after the prefix; ours is hex, whose digits are base64), so
    the secret the console shows verifies as it is."""
    signed = f"{event_id}.{timestamp}.".encode() + body
    signatures = []
    for secret in _signing_secrets(brand):
        key = base64.b64decode(secret.removeprefix("whsec_") + "==")  # padded as the reference library does
        signatures.append("v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode())
    return " ".join(signatures)


def deliver(delivery_id) -> None:
    """One attempt, signed afresh. Success: delivered. Failure: the next attempt is scheduled, or
    the delivery has failed for good; an endpoint failing for 5 days is disabled and its owners told.

    No lock is held and no transaction is open during the HTTP call: the attempt claims the row with
    a conditional UPDATE that moves `next_attempt_at` a LEASE ahead (one caller wins; the beat's
    `due_deliveries` leaves it alone meanwhile; a worker that dies mid-call has its delivery due
    again when the lease ends), then posts, then records the outcome only if the row is still as it
    claimed it (a redelivery from the console, or a newer attempt after the lease, takes over)."""
    claimed_at = timezone.now()
    lease_until = claimed_at + LEASE
    pending = WebhookDelivery.objects.filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING)
    if not pending.filter(next_attempt_at__lte=claimed_at).update(next_attempt_at=lease_until):
        return  # delivered or failed already, not due yet, or in flight in another worker
    delivery = WebhookDelivery.objects.select_related("brand").filter(pk=delivery_id).first()
    if delivery is None:
        return
    ours = pending.filter(attempts=delivery.attempts, next_attempt_at=lease_until)
    brand = delivery.brand
    if not brand.webhook_url or brand.webhook_disabled_at:
        if ours.update(next_attempt_at=None, last_error=ENDPOINT_DISABLED):
            _counted(delivery, "endpoint_disabled")
        return
    body = event_body(delivery.payload)
    timestamp, event_id = int(time.time()), delivery.payload["id"]
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Moments-Webhooks/1",
        "Moments-Signature": signature_header(brand, body, now=timestamp),
        # Standard Webhooks (standardwebhooks.com): the same t, keyed by the same secret.
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": standard_signature(brand, event_id=event_id, timestamp=timestamp, body=body),
    }
    answer, error = None, ""
    started = time.monotonic()
    try:
        endpoint = webhook_endpoint.resolve(brand.webhook_url)
        answer = webhook_endpoint.post(
            endpoint, content=body, headers=headers, timeout=TIMEOUT_SECONDS, body_bytes=RESPONSE_BODY_KEPT
        )
    except (webhook_endpoint.Refused, httpx.ConnectError, httpx.ConnectTimeout, OSError) as exc:
        error = COULD_NOT_CONNECT
        logger.warning("webhook %s to brand %s: could not connect: %s", delivery_id, brand.slug, exc)
    except httpx.HTTPError as exc:
        error = NO_ANSWER
        logger.warning("webhook %s to brand %s: no answer: %r", delivery_id, brand.slug, exc)
    duration_ms = round((time.monotonic() - started) * 1000)
    now = timezone.now()
    status_code = answer.status_code if answer else None
    attempts = delivery.attempts + 1
    outcome = {
        "attempts": attempts,
        "last_status_code": status_code,
        "last_error": error,
        # What the console and the API show of this attempt, written with its outcome.
        "last_attempt_at": claimed_at,
        "last_request_url": brand.webhook_url,
        "last_request_headers": headers,
        "last_response_body": answer.body_start if answer else "",
        "last_duration_ms": duration_ms,
    }
    delivered = status_code is not None and 200 <= status_code < 300
    if delivered:
        outcome.update(status=WebhookDelivery.Status.DELIVERED, delivered_at=now, next_attempt_at=None)
        counted = "delivered"
    elif attempts <= len(RETRY_DELAYS):
        outcome.update(next_attempt_at=now + RETRY_DELAYS[attempts - 1])
        counted = "retrying"
    else:
        outcome.update(status=WebhookDelivery.Status.FAILED, next_attempt_at=None)
        counted = "failed"
    with transaction.atomic():
        if not ours.update(**outcome):
            return  # the lease was taken over: the newer attempt records its own outcome
        _counted(delivery, counted)
        if delivered:
            Brand.objects.filter(pk=brand.pk, webhook_failing_since__isnull=False).update(webhook_failing_since=None)
        else:
            _endpoint_failed(brand, now)


def _counted(delivery: WebhookDelivery, outcome: str) -> None:
    """An attempt's recorded outcome, counted by event type when it commits (config/metrics.py)."""
    transaction.on_commit(lambda: metrics.WEBHOOK_DELIVERIES.labels(delivery.event_type, outcome).inc())


def _endpoint_failed(brand: Brand, now) -> None:
    failing_since = brand.webhook_failing_since or now
    if brand.webhook_failing_since is None:
        Brand.objects.filter(pk=brand.pk, webhook_failing_since__isnull=True).update(webhook_failing_since=now)
    if now - failing_since >= DISABLE_AFTER:
        if Brand.objects.filter(pk=brand.pk, webhook_disabled_at__isnull=True).update(webhook_disabled_at=now):
            transaction.on_commit(lambda: _tell_owners_endpoint_disabled(brand.pk))


def error_shown(last_error: str) -> str:
    """What the console shows of a delivery's last error: one of the fixed phrases, never the text
    of an exception (rows written before these phrases held it, e.g. "Connection refused")."""
    if not last_error or last_error in ERRORS:
        return last_error
    return COULD_NOT_CONNECT


def redeliver(*, delivery: WebhookDelivery) -> None:
    """From the console or the API: send a delivery (failed or delivered) again, as the same event."""
    _check_endpoint(delivery.brand)
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=WebhookDelivery.Status.PENDING, next_attempt_at=timezone.now(), attempts=0
        )
        deliver_webhook.delay(str(delivery.pk))  # published when this commits


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
    owners = Membership.objects.filter(brand=brand).filter(role=Role.OWNER).select_related("user")
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


@shared_task(
    name="rewards.tasks.deliver_webhook",  # its name before it moved here: queued messages still find it
    autoretry_for=(OSError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=10,
)
def deliver_webhook(delivery_id: str) -> None:
    """One attempt of one delivery (the beat's `send_due_webhooks` queues those due again)."""
    in_row_scope(WebhookDelivery, delivery_id, deliver, delivery_id=delivery_id)
