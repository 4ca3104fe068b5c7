"""Webhooks to brands (DESIGN.md §5), sent to a small receiver the test starts on 127.0.0.1."""

import hashlib
import hmac
import json
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from rewards.earning.services import EventInput, events_ingest
from rewards.models import WebhookDelivery
from rewards.webhooks import services as webhooks
from tenants import services as tenant_services
from tests.factories import CampaignFactory, MembershipFactory
from tests.httpserver import Recorder

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    answers = []  # statuses to give, in order; then 200
    server = Recorder(lambda request: (answers.pop(0) if answers else 200, {}))
    server.answers = answers
    yield server
    server.close()


def earn(brand, campaign, user_id="u1"):
    return events_ingest(
        brand=brand,
        mode="live",
        events=[EventInput(event_id=f"e-{user_id}", user_id=user_id, action=campaign.action)],
    )[0]


def verify(request, secret, tolerance=300):
    """What a brand's receiver does (README): check t and one v1 against its secret."""
    header = request["headers"]["Moments-Signature"]
    fields = [part.split("=", 1) for part in header.split(",")]
    timestamp = int(dict(fields)["t"])
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + request["body"], hashlib.sha256).hexdigest()
    signatures = [value for name, value in fields if name == "v1"]
    return abs(time.time() - timestamp) <= tolerance and any(hmac.compare_digest(expected, s) for s in signatures)


def test_an_earned_moment_is_announced_signed_with_a_stable_id(brand_a, receiver, django_capture_on_commit_callbacks):
    brand_a.webhook_url = receiver.url
    brand_a.save()
    campaign = CampaignFactory(brand=brand_a, threshold=Decimal("1"), active=True)

    with django_capture_on_commit_callbacks(execute=True):
        outcome = earn(brand_a, campaign)

    [request] = receiver.requests
    event = json.loads(request["body"])
    delivery = WebhookDelivery.objects.get()
    assert event["id"] == f"evt_{delivery.pk.hex}" and event["type"] == "moment.earned"
    assert event["data"]["id"] == outcome.body["moments"][0]["id"]
    assert event["data"]["claim_url"] == outcome.body["moments"][0]["claim_url"]
    assert verify(request, brand_a.webhook_secret)
    assert not verify(request, "whsec_not-the-secret")
    assert delivery.status == "delivered" and delivery.attempts == 1


def test_a_brand_without_an_endpoint_gets_no_deliveries(brand_a):
    campaign = CampaignFactory(brand=brand_a, threshold=Decimal("1"), active=True)

    earn(brand_a, campaign)

    assert not WebhookDelivery.objects.exists()


def test_failures_follow_the_retry_schedule_then_the_delivery_fails(brand_a, receiver):
    receiver.answers.extend([500] * 8)
    brand_a.webhook_url = receiver.url
    brand_a.save()
    delivery = webhooks.emit(brand=brand_a, mode="live", event_type="campaign.capped", data={"campaign": "x"})

    for expected_delay in webhooks.RETRY_DELAYS:
        before = timezone.now()
        webhooks.deliver(delivery.pk)
        delivery.refresh_from_db()
        assert delivery.status == "pending" and delivery.last_status_code == 500
        assert before + expected_delay <= delivery.next_attempt_at <= timezone.now() + expected_delay
        webhooks.deliver(delivery.pk)  # before that time, an attempt does nothing
        assert len(receiver.requests) == delivery.attempts
        WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())  # time passes
    webhooks.deliver(delivery.pk)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 8, None)
    assert sum(webhooks.RETRY_DELAYS, timedelta()) > timedelta(hours=24)  # "about a day"
    ids = {json.loads(r["body"])["id"] for r in receiver.requests}
    assert ids == {delivery.payload["id"]}  # every attempt is the same event


def test_every_attempt_is_signed_afresh(brand_a, receiver):
    receiver.answers.append(500)
    brand_a.webhook_url = receiver.url
    brand_a.save()
    delivery = webhooks.emit(brand=brand_a, mode="live", event_type="campaign.capped", data={})

    webhooks.deliver(delivery.pk)
    time.sleep(1.1)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    webhooks.deliver(delivery.pk)

    first, second = (r["headers"]["Moments-Signature"] for r in receiver.requests)
    assert first != second and all(verify(r, brand_a.webhook_secret) for r in receiver.requests)


def test_during_a_rotation_both_secrets_sign_for_a_day(brand_a, receiver):
    brand_a.webhook_url = receiver.url
    brand_a.save()
    old_secret = brand_a.webhook_secret
    tenant_services.brand_rotate_webhook_secret(brand=brand_a, actor=None)

    webhooks.deliver(webhooks.emit(brand=brand_a, mode="live", event_type="campaign.capped", data={}).pk)
    brand_a.webhook_secret_rotated_at = timezone.now() - timedelta(days=1, seconds=1)
    brand_a.save()
    webhooks.deliver(webhooks.emit(brand=brand_a, mode="live", event_type="campaign.capped", data={}).pk)

    during, after = receiver.requests
    assert verify(during, old_secret) and verify(during, brand_a.webhook_secret)
    assert verify(after, brand_a.webhook_secret) and not verify(after, old_secret)


def test_an_endpoint_failing_for_five_days_is_disabled_and_the_owners_told(
    brand_a, owner_a, receiver, django_capture_on_commit_callbacks
):
    receiver.answers.append(503)
    brand_a.webhook_url = receiver.url
    brand_a.webhook_failing_since = timezone.now() - timedelta(days=5)
    brand_a.save()
    delivery = webhooks.emit(brand=brand_a, mode="live", event_type="campaign.capped", data={})

    with django_capture_on_commit_callbacks(execute=True):
        webhooks.deliver(delivery.pk)

    brand_a.refresh_from_db()
    assert brand_a.webhook_disabled_at is not None
    assert mail.outbox[-1].to == [owner_a.email] and "disabled" in mail.outbox[-1].subject
    assert webhooks.emit(brand=brand_a, mode="live", event_type="campaign.capped", data={}) is None


def test_a_success_clears_the_failing_clock(brand_a, receiver):
    brand_a.webhook_url = receiver.url
    brand_a.webhook_failing_since = timezone.now() - timedelta(days=4)
    brand_a.save()

    webhooks.deliver(webhooks.emit(brand=brand_a, mode="live", event_type="campaign.capped", data={}).pk)

    brand_a.refresh_from_db()
    assert brand_a.webhook_failing_since is None


def test_the_console_redelivers_a_failed_event_as_the_same_event(
    brand_a, owner_a, receiver, client, django_capture_on_commit_callbacks
):
    brand_a.webhook_url = receiver.url
    brand_a.save()
    delivery = webhooks.emit(brand=brand_a, mode="live", event_type="campaign.capped", data={})
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="failed", attempts=8, next_attempt_at=None)
    client.force_login(owner_a)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("admin:rewards_webhookdelivery_changelist"),
            {"action": "redeliver", ACTION_CHECKBOX_NAME: [str(delivery.pk)]},
        )

    delivery.refresh_from_db()
    assert delivery.status == "delivered"
    assert json.loads(receiver.requests[-1]["body"])["id"] == delivery.payload["id"]


def test_analysts_cannot_redeliver(brand_a, client):
    analyst = MembershipFactory(brand=brand_a, role="analyst").user
    delivery = WebhookDelivery.objects.create(
        brand=brand_a, mode="live", event_type="x", payload={"id": "evt_1"}, status="failed"
    )
    client.force_login(analyst)

    client.post(
        reverse("admin:rewards_webhookdelivery_changelist"),
        {"action": "redeliver", ACTION_CHECKBOX_NAME: [str(delivery.pk)]},
    )

    assert WebhookDelivery.objects.get().status == "failed"


def test_a_capped_campaign_is_announced_once_a_month(brand_a, receiver):
    brand_a.webhook_url = receiver.url
    brand_a.save()
    campaign = CampaignFactory(
        brand=brand_a, threshold=Decimal("1"), cpa=Decimal("5.00"), monthly_budget=Decimal("10.00"), active=True
    )

    for user_id in ("u1", "u2", "u3", "u4"):
        earn(brand_a, campaign, user_id)

    capped = WebhookDelivery.objects.filter(event_type="campaign.capped")
    assert capped.count() == 1
    assert capped.get().payload["data"] == {
        "campaign": campaign.slug,
        "month": timezone.now().strftime("%Y-%m"),
        "monthly_budget": "10.00",
        "mode": "live",
    }
